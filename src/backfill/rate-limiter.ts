import pThrottle from "p-throttle";
import type { RateLimitInfo } from "../contracts/embedding-provider.js";
import { sleep } from "./abortable.js";

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
 * - sliding-window p-throttle gates for requests per minute, tokens per minute and the minimum
 *   interval. Tokens are weighed by the estimate scaled by what the provider actually billed, so a
 *   conservative estimator does not leave a third of the token budget unused.
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
  private readonly gates: Array<(weight: number) => Promise<void>> = [];

  constructor(private readonly options: RateLimiterOptions) {
    this.limit = options.concurrency;
    const { signal } = options;
    const noop = (_weight?: number) => {};
    if (Number.isFinite(options.tokensPerMinute)) {
      const gate = pThrottle({
        limit: options.tokensPerMinute,
        interval: MINUTE,
        strict: true,
        signal,
        weight: (weight: number) => weight,
      })(noop);
      this.gates.push(async (weight) => gate(Math.min(weight, options.tokensPerMinute)));
    }
    if (Number.isFinite(options.requestsPerMinute)) {
      const gate = pThrottle({ limit: options.requestsPerMinute, interval: MINUTE, strict: true, signal })(
        noop,
      );
      this.gates.push(async () => gate());
    }
    if (options.minIntervalMs > 0) {
      const gate = pThrottle({ limit: 1, interval: options.minIntervalMs, strict: true, signal })(noop);
      this.gates.push(async () => gate());
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
   * per-minute budgets and the minimum interval.
   */
  async throttle(estimatedTokens: number): Promise<void> {
    const weight = Math.max(1, Math.ceil(estimatedTokens * this.calibration));
    for (;;) {
      const wait = this.pausedUntil - Date.now();
      if (wait <= 0) break;
      await sleep(wait, this.options.signal);
    }
    for (const gate of this.gates) await gate(weight);
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
