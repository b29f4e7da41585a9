import pThrottle from "p-throttle";
import type { RateLimitInfo } from "../contracts/embedding-provider.js";
import { sleep } from "./abortable.js";
import { MinuteWindow } from "./minute-window.js";

/** Settings of the {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Most requests in flight. The limiter lowers this on 429 and raises it back after successes. */
  readonly concurrency: number;
  /** Requests per minute at most (`Infinity`: no limit). */
  readonly requestsPerMinute: number;
  /** Tokens per minute at most (`Infinity`: no limit). */
  readonly tokensPerMinute: number;
  /** Minimum time between the starts of two requests. */
  readonly minIntervalMs: number;
  /** Shortest and longest pause after a 429 without `Retry-After`. */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** Rejects every wait with `signal.reason`. */
  readonly signal?: AbortSignal;
}

const MINUTE = 60_000;
const CALIBRATION_WINDOW = 16;

/**
 * The one limiter of a backfill run. It combines:
 * - a concurrency gate that halves on every 429 and grows by one after a window of successes (AIMD),
 *   so a long run settles just under the provider's real limit instead of oscillating in 429 storms;
 * - a shared pause after a 429 (the `Retry-After` the API sent, or exponential backoff with jitter),
 *   so the other requests in flight back off too;
 * - sliding windows for requests and tokens per minute ({@link MinuteWindow}), in which a request
 *   counts from its start until a minute after its end, so the API's own window, which admits it in
 *   between, is always free again first. A request in flight weighs its estimate scaled by what the
 *   provider actually billed so far; once it ends, what it was billed. A conservative estimator thus
 *   does not leave a third of the token budget unused;
 * - a p-throttle gate for the minimum interval between starts.
 */
export class RateLimiter {
  private limit: number;
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private pausedUntil = 0;
  private successes = 0;
  private consecutive429 = 0;
  private readonly ratios: number[] = [];
  private calibration = 1;
  private readonly tokenWindow: MinuteWindow | undefined;
  private readonly requestWindow: MinuteWindow | undefined;
  private readonly intervalGate: (() => Promise<void>) | undefined;

  constructor(private readonly options: RateLimiterOptions) {
    this.limit = options.concurrency;
    const { signal } = options;
    if (Number.isFinite(options.tokensPerMinute)) {
      this.tokenWindow = new MinuteWindow(options.tokensPerMinute, MINUTE, signal);
    }
    if (Number.isFinite(options.requestsPerMinute)) {
      this.requestWindow = new MinuteWindow(options.requestsPerMinute, MINUTE, signal);
    }
    if (options.minIntervalMs > 0) {
      const gate = pThrottle({ limit: 1, interval: options.minIntervalMs, strict: true, signal })(() => {});
      this.intervalGate = async () => gate();
    }
  }

  /** Current concurrency (between 1 and `options.concurrency`). */
  get concurrency(): number {
    return this.limit;
  }

  /** Waits for a request slot. Every `acquire()` must be paired with one `release()`. */
  async acquire(): Promise<void> {
    while (this.active >= this.limit) {
      this.options.signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(this.options.signal?.reason);
        this.options.signal?.addEventListener("abort", onAbort, { once: true });
        this.waiters.push(() => {
          this.options.signal?.removeEventListener("abort", onAbort);
          resolve();
        });
      });
    }
    this.active++;
  }

  /** Frees a slot taken by `acquire()`. */
  release(): void {
    this.active--;
    this.wake();
  }

  /**
   * Waits until a request of `estimatedTokens` may start: after any shared pause, within the
   * per-minute budgets and the minimum interval. The request then holds its share of the per-minute
   * budgets until a minute after `release()`, which it must call when it ends, with the tokens the
   * API counted (billed; 0 when it refused the request; omitted: the estimate).
   */
  async throttle(estimatedTokens: number): Promise<{ release(countedTokens?: number): void }> {
    const weight = Math.max(1, Math.ceil(estimatedTokens * this.calibration));
    for (;;) {
      const wait = this.pausedUntil - Date.now();
      if (wait <= 0) break;
      await sleep(wait, this.options.signal);
    }
    const tokens = await this.tokenWindow?.take(weight);
    let request: { release(): void } | undefined;
    try {
      request = await this.requestWindow?.take(1);
      await this.intervalGate?.();
    } catch (error) {
      tokens?.release(0);
      request?.release();
      throw error;
    }
    return {
      release: (countedTokens) => {
        tokens?.release(countedTokens);
        request?.release();
      },
    };
  }

  /** Records a successful request: grows concurrency back, calibrates tokens, honours rate headers. */
  onSuccess(estimatedTokens: number, billedTokens: number | undefined, rateLimit?: RateLimitInfo): void {
    this.consecutive429 = 0;
    if (++this.successes >= this.limit && this.limit < this.options.concurrency) {
      this.limit++;
      this.successes = 0;
      this.wake();
    }
    if (billedTokens !== undefined && billedTokens > 0 && estimatedTokens > 0) {
      this.ratios.push(billedTokens / estimatedTokens);
      if (this.ratios.length > CALIBRATION_WINDOW) this.ratios.shift();
      // The largest recent ratio plus 5%: stays on the safe side of what the provider counts.
      this.calibration = Math.min(4, Math.max(0.05, Math.max(...this.ratios) * 1.05));
    }
    if (rateLimit) {
      if (rateLimit.remainingRequests === 0 && rateLimit.resetRequestsMs)
        this.pause(rateLimit.resetRequestsMs);
      if (rateLimit.remainingTokens !== undefined && rateLimit.resetTokensMs) {
        const next = estimatedTokens * this.calibration;
        if (rateLimit.remainingTokens < next) this.pause(rateLimit.resetTokensMs);
      }
    }
  }

  /**
   * Records a 429: halves concurrency and pauses every request for `retryAfterMs`, or for an
   * exponentially growing, jittered backoff when the API did not say. Returns the pause applied.
   */
  onRateLimited(retryAfterMs?: number): number {
    this.consecutive429++;
    this.successes = 0;
    this.limit = Math.max(1, Math.floor(this.limit / 2));
    const { backoffMinMs, backoffMaxMs } = this.options;
    const backoff =
      Math.min(backoffMaxMs, backoffMinMs * 2 ** (this.consecutive429 - 1)) * (1 + Math.random());
    const delay = Math.min(backoffMaxMs, retryAfterMs ?? backoff);
    this.pause(delay);
    return delay;
  }

  private pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
  }

  private wake(): void {
    // The woken waiter re-checks the slot count itself, so waking one per free slot is enough.
    if (this.active < this.limit) this.waiters.shift()?.();
  }
}
