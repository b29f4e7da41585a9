import pThrottle from "p-throttle";
import type { RateLimitInfo } from "../contracts/embedding-provider.js";
import { PACING } from "../defaults.js";
import { MinuteWindow, type WindowHold } from "./minute-window.js";
import { Pacer, type PaceTicket } from "./pacer.js";

/** Settings of the {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Most requests in flight, an upper bound: the limiter picks how many below it. */
  readonly concurrency: number;
  /** Requests per minute at most (`Infinity`: not given). */
  readonly requestsPerMinute: number;
  /** Tokens per minute at most (`Infinity`: not given). */
  readonly tokensPerMinute: number;
  /** Minimum time between the starts of two requests. */
  readonly minIntervalMs: number;
  /** Rejects every wait with `signal.reason`. */
  readonly signal?: AbortSignal;
  /** The clock, in ms (tests inject one with fake timers). */
  readonly now?: () => number;
  /** A pacer shared with other limiters (`sharedPacing()`); else one of its own at the rates above. */
  readonly pacer?: Pacer;
}

/**
 * Requests in flight needed to send `perMs` requests per millisecond when each takes `latencyMs`
 * (Little's law), with half again to spare and one more, plus the `burst` requests the allowance
 * may let out at once; within [1, `cap`].
 */
export function littleConcurrency(perMs: number, latencyMs: number, burst: number, cap: number): number {
  return Math.max(1, Math.min(cap, Math.ceil(1.5 * perMs * latencyMs + burst) + 1));
}

/** A request let through by {@link RateLimiter.throttle}; call exactly one of its methods when it ends. */
export interface RequestHold {
  /** Answered. `billedTokens`: what the API counted (the estimate when omitted). */
  succeeded(billedTokens?: number, rateLimit?: RateLimitInfo): void;
  /**
   * Refused with 429: the limiter learns from it. Returns how long this request should wait before
   * it asks the limiter again: its `Retry-After`, or without one 0 (the limiter paces it from now on),
   * or `undefined` when the limiter knows no rate to pace it by (then a short fixed backoff).
   */
  rateLimited(retryAfterMs?: number): number | undefined;
  /** Failed otherwise: counted as estimated, since the API may have counted it. */
  failed(): void;
}

interface PaceWaiter {
  /** Estimated tokens: charged to the pacer at the billed ratio of the moment it goes. */
  readonly tokens: number;
  readonly resolve: (ticket: PaceTicket) => void;
  readonly reject: (reason: unknown) => void;
}

const MINUTE = 60_000;
const CALIBRATION_WINDOW = 16;
/** Weight of the newest observation in the moving averages of latency and request size. */
const EWMA = 0.2;

/**
 * The one limiter of a backfill run. It combines:
 * - the {@link Pacer}: requests and tokens spread at the per-minute rates with a learned burst
 *   allowance (see there), waited for in arrival order;
 * - sliding windows for requests and tokens per minute ({@link MinuteWindow}): whatever the burst,
 *   never more than the per-minute figures in any minute, a request counting from its start until a
 *   minute after its end, at what it was billed;
 * - concurrency, an upper bound given by the user: below it, as many requests as the paced rate
 *   needs in flight given the latency observed so far (Little's law) plus what the burst allowance
 *   can let out at once; with no rates known, it grows while throughput grows and no 429 comes;
 * - request sizing: how many tokens one request should carry (see {@link requestTokens});
 * - calibration: the estimates scaled to what the provider bills (for the per-minute windows, to
 *   the largest recent ratio and 5% more, never under; for the pacer, to the mean ratio, which
 *   answers correct either way);
 * - a p-throttle gate for the minimum interval between starts.
 */
export class RateLimiter {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly pacer: Pacer;
  private readonly paceQueue: PaceWaiter[] = [];
  private paceTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly ratios: number[] = [];
  private calibration = 1;
  /** The mean ratio of billed to estimated tokens (1 until the first answer). */
  private billedRatio = 1;
  private readonly tokenWindow: MinuteWindow | undefined;
  private readonly requestWindow: MinuteWindow | undefined;
  private readonly intervalGate: (() => Promise<void>) | undefined;
  private readonly now: () => number;
  /** Moving averages of what requests carry (estimated tokens) and how long they take. */
  private meanTokens = 0;
  private meanLatencyMs: number | undefined;
  /** With no rates known: concurrency and request size grow while throughput grows. */
  private adaptive = { limit: PACING.initialConcurrency as number, sizeFactor: 1 };
  private epoch = { started: 0, requests: 0, tokens: 0, throughput: 0 };

  constructor(private readonly options: RateLimiterOptions) {
    const { signal } = options;
    this.now = options.now ?? Date.now;
    this.pacer =
      options.pacer ??
      new Pacer({
        requestsPerMinute: options.requestsPerMinute,
        tokensPerMinute: options.tokensPerMinute,
        now: this.now,
      });
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
    signal?.addEventListener("abort", () => this.abort(), { once: true });
    this.epoch.started = this.now();
  }

  /** Whether requests are paced (rates given, or learned from a 429). */
  private get paced(): boolean {
    return Number.isFinite(this.pacer.tokensPerMinute) || Number.isFinite(this.pacer.requestsPerMinute);
  }

  /**
   * Requests in flight allowed now (between 1 and `options.concurrency`): with paced rates, what
   * Little's law asks for (rate × latency, with room to spare) plus what the burst allowance can let
   * out at once; without, the adaptive limit.
   */
  get concurrency(): number {
    const cap = this.options.concurrency;
    if (!this.paced) return Math.min(cap, this.adaptive.limit);
    const latency = this.meanLatencyMs;
    const size = Math.max(1, this.meanTokens || this.requestTokens());
    if (latency === undefined) return cap;
    const perMs = Math.min(this.pacer.requestsPerMinute / MINUTE, this.pacer.tokensPerMinute / MINUTE / size);
    return littleConcurrency(perMs, latency, this.pacer.creditTokens / size, cap);
  }

  /**
   * How many estimated tokens one request should carry: large enough that the requests per minute
   * are not what limits the tokens per minute (twice tokens ÷ requests per minute), else
   * {@link PACING}.requestTokens, grown while throughput grows when no rate is known; never more
   * than the learned burst admits at once.
   */
  requestTokens(): number {
    const rpm = this.pacer.requestsPerMinute;
    const tpm = this.pacer.tokensPerMinute;
    let tokens: number = PACING.requestTokens;
    if (Number.isFinite(rpm) && Number.isFinite(tpm)) tokens = Math.max(tokens, (2 * tpm) / rpm);
    if (!this.paced) tokens *= this.adaptive.sizeFactor;
    return Math.max(1, Math.floor(Math.min(tokens, this.pacer.maxRequestTokens) / this.billedRatio));
  }

  /**
   * How many requests the run's last work should be shared among: as many as go out within one
   * latency at the paced rate (Little's law, without the room to spare), or the requests in flight
   * allowed when no rate is known; 4 until a latency is seen.
   */
  get tailSlots(): number {
    const latency = this.meanLatencyMs;
    if (latency === undefined) return Math.min(this.options.concurrency, PACING.initialConcurrency);
    if (!this.paced) return this.concurrency;
    const size = Math.max(1, this.meanTokens || this.requestTokens());
    const perMs = Math.min(this.pacer.requestsPerMinute / MINUTE, this.pacer.tokensPerMinute / MINUTE / size);
    return Math.max(1, Math.min(this.options.concurrency, Math.ceil(perMs * latency)));
  }

  /**
   * Fewest estimated tokens worth a request of its own: {@link PACING}.minRequestTokens, and with
   * both rates known, at least half of tokens ÷ requests per minute (the run's last requests may use
   * the requests per minute twice as fast as the rest, not more).
   */
  minRequestTokens(): number {
    const rpm = this.pacer.requestsPerMinute;
    const tpm = this.pacer.tokensPerMinute;
    const balanced = Number.isFinite(rpm) && Number.isFinite(tpm) ? (0.5 * tpm) / rpm : 0;
    return Math.max(1, Math.floor(Math.max(PACING.minRequestTokens, balanced) / this.billedRatio));
  }

  /** Most estimated tokens a request may carry: what the learned burst admits at once. */
  get maxRequestTokens(): number {
    return this.pacer.maxRequestTokens / this.billedRatio;
  }

  /** Waits for a request slot. Every `acquire()` must be paired with one `release()`. */
  async acquire(): Promise<void> {
    while (this.active >= this.concurrency) {
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
   * Waits until a request of `estimatedTokens` may start: within the per-minute windows and the
   * minimum interval, then its turn at the pacer. Call one method of the returned hold when it ends.
   */
  async throttle(estimatedTokens: number): Promise<RequestHold> {
    const weight = Math.max(1, Math.ceil(estimatedTokens * this.calibration));
    let tokenHold: WindowHold | undefined;
    let requestHold: WindowHold | undefined;
    let ticket: PaceTicket;
    try {
      tokenHold = await this.tokenWindow?.take(weight);
      requestHold = await this.requestWindow?.take(1);
      await this.intervalGate?.();
      ticket = await this.pace(estimatedTokens);
    } catch (error) {
      tokenHold?.release(0);
      requestHold?.release(0);
      throw error;
    }
    const sentAt = this.now();
    const end = (countedTokens: number | undefined, countedRequests?: number) => {
      tokenHold?.release(countedTokens);
      requestHold?.release(countedRequests);
    };
    let ended = false;
    const once = (work: () => void): void => {
      if (ended) return;
      ended = true;
      work();
      this.pump();
      this.wake();
    };
    return {
      succeeded: (billedTokens, rateLimit) =>
        once(() => {
          end(billedTokens);
          this.recordSuccess(estimatedTokens, weight, billedTokens, sentAt);
          this.pacer.onSuccess(ticket, billedTokens, rateLimit);
        }),
      rateLimited: (retryAfterMs) => {
        once(() => {
          // A request refused for the rate limit was not admitted: it used none of the minute's budget.
          end(0, 0);
          this.pacer.onRateLimited(ticket, retryAfterMs);
        });
        // The request itself waits what the API asked; the pacer paces its retry with the rest.
        return retryAfterMs ?? (this.paced ? 0 : undefined);
      },
      failed: () =>
        once(() => {
          end(undefined);
          this.pacer.onFailure(ticket);
        }),
    };
  }

  private recordSuccess(
    estimatedTokens: number,
    weight: number,
    billedTokens: number | undefined,
    sentAt: number,
  ): void {
    const now = this.now();
    const latency = now - sentAt;
    this.meanLatencyMs =
      this.meanLatencyMs === undefined ? latency : this.meanLatencyMs * (1 - EWMA) + latency * EWMA;
    this.meanTokens = this.meanTokens === 0 ? weight : this.meanTokens * (1 - EWMA) + weight * EWMA;
    if (billedTokens !== undefined && billedTokens > 0 && estimatedTokens > 0) {
      this.ratios.push(billedTokens / estimatedTokens);
      if (this.ratios.length > CALIBRATION_WINDOW) this.ratios.shift();
      // The largest recent ratio plus 5%: stays on the safe side of what the provider counts.
      this.calibration = Math.min(4, Math.max(0.05, Math.max(...this.ratios) * 1.05));
      this.billedRatio = Math.min(
        4,
        Math.max(0.05, this.ratios.reduce((a, b) => a + b, 0) / this.ratios.length),
      );
    }
    if (!this.paced) this.adapt(billedTokens ?? weight, now);
  }

  /**
   * No rates known: every time as many requests as the limit allows have completed, compare the
   * throughput with the previous round's; while it grows by a tenth or more, raise the concurrency
   * by half (then, at the cap, the request size).
   */
  private adapt(tokens: number, now: number): void {
    const epoch = this.epoch;
    epoch.requests++;
    epoch.tokens += tokens;
    if (epoch.requests < this.adaptive.limit) return;
    const throughput = epoch.tokens / Math.max(1, now - epoch.started);
    if (throughput >= epoch.throughput * 1.1) {
      const cap = this.options.concurrency;
      if (this.adaptive.limit < cap) {
        this.adaptive.limit = Math.min(cap, Math.ceil(this.adaptive.limit * 1.5));
      } else {
        this.adaptive.sizeFactor *= 1.5;
      }
    }
    this.epoch = { started: now, requests: 0, tokens: 0, throughput: Math.max(throughput, epoch.throughput) };
  }

  /** Waits for the pacer, in arrival order. */
  private pace(estimatedTokens: number): Promise<PaceTicket> {
    const { signal } = this.options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      this.paceQueue.push({ tokens: estimatedTokens, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    while (this.paceQueue.length > 0) {
      const head = this.paceQueue[0]!;
      const tokens = Math.max(1, Math.ceil(head.tokens * this.billedRatio));
      const wait = this.pacer.delay(tokens);
      if (wait > 0) {
        this.paceTimer = setTimeout(() => this.pump(), Math.ceil(wait));
        return;
      }
      this.paceQueue.shift();
      head.resolve(this.pacer.take(tokens));
    }
  }

  private abort(): void {
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    for (const waiter of this.paceQueue.splice(0)) waiter.reject(this.options.signal?.reason);
  }

  private wake(): void {
    // Woken waiters re-check the slot count themselves: wake one per free slot.
    let free = this.concurrency - this.active;
    while (free-- > 0 && this.waiters.length > 0) this.waiters.shift()!();
  }
}
