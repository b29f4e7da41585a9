/*
 * How the emulator enforces per-minute limits, one enforcer per API and model, in two shapes:
 * - a sliding 60-second window: an admitted request stays in it for exactly 60 s;
 * - a token bucket per limit holding `burstSeconds` of it, refilled continuously at the per-minute
 *   rate and full at the start: bursts beyond the bucket meet 429s while the minute's total is
 *   still under the limit.
 * A refused request is told the exact time until it would be admitted.
 */

export const WINDOW_MS = 60_000;

/** The enforcer's state as OpenAI's `x-ratelimit-*` headers report it. */
export interface WindowState {
  readonly limitRequests: number | undefined;
  readonly limitTokens: number | undefined;
  readonly remainingRequests: number | undefined;
  readonly remainingTokens: number | undefined;
  /** Milliseconds until the request budget is full again. */
  readonly resetRequestsMs: number;
  /** Milliseconds until the token budget is full again. */
  readonly resetTokensMs: number;
}

/** One way of enforcing per-minute limits. */
export interface RateLimitEnforcer {
  /** Admits (and counts) a request of `tokens` arriving at `now`, or says why not and for how long. */
  admit(now: number, tokens: number): Admission;
  state(now: number): WindowState;
}

export type Admission =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** What ran out; `too_large` means one request holds more tokens than a whole minute allows. */
      readonly reason: "requests" | "tokens" | "too_large";
      readonly limit: number;
      readonly used: number;
      readonly requested: number;
      /** Milliseconds until the request would be admitted; absent for `too_large`. */
      readonly waitMs?: number;
    };

/** Per-minute limits over a sliding 60-second window of admitted requests and their tokens. */
export class SlidingWindow implements RateLimitEnforcer {
  private entries: Array<{ readonly at: number; readonly tokens: number }> = [];
  private tokens = 0;

  constructor(
    private readonly requestsPerMinute: number | undefined,
    private readonly tokensPerMinute: number | undefined,
  ) {}

  private prune(now: number): void {
    let drop = 0;
    while (drop < this.entries.length && this.entries[drop]!.at <= now - WINDOW_MS) {
      this.tokens -= this.entries[drop]!.tokens;
      drop++;
    }
    if (drop > 0) this.entries.splice(0, drop);
  }

  admit(now: number, tokens: number): Admission {
    this.prune(now);
    const { requestsPerMinute: rpm, tokensPerMinute: tpm } = this;
    if (tpm !== undefined && tokens > tpm) {
      return { ok: false, reason: "too_large", limit: tpm, used: this.tokens, requested: tokens };
    }
    let waitRequests = 0;
    if (rpm !== undefined && this.entries.length + 1 > rpm) {
      waitRequests = this.entries[this.entries.length - rpm]!.at + WINDOW_MS - now;
    }
    let waitTokens = 0;
    if (tpm !== undefined && this.tokens + tokens > tpm) {
      let left = this.tokens;
      for (const entry of this.entries) {
        left -= entry.tokens;
        if (left + tokens <= tpm) {
          waitTokens = entry.at + WINDOW_MS - now;
          break;
        }
      }
    }
    if (waitRequests === 0 && waitTokens === 0) {
      this.entries.push({ at: now, tokens });
      this.tokens += tokens;
      return { ok: true };
    }
    return waitRequests >= waitTokens
      ? {
          ok: false,
          reason: "requests",
          limit: rpm!,
          used: this.entries.length,
          requested: 1,
          waitMs: waitRequests,
        }
      : {
          ok: false,
          reason: "tokens",
          limit: tpm!,
          used: this.tokens,
          requested: tokens,
          waitMs: waitTokens,
        };
  }

  state(now: number): WindowState {
    this.prune(now);
    const last = this.entries[this.entries.length - 1];
    const { requestsPerMinute: rpm, tokensPerMinute: tpm } = this;
    const resetMs = last ? last.at + WINDOW_MS - now : 0;
    return {
      limitRequests: rpm,
      limitTokens: tpm,
      remainingRequests: rpm === undefined ? undefined : Math.max(0, rpm - this.entries.length),
      remainingTokens: tpm === undefined ? undefined : Math.max(0, tpm - this.tokens),
      resetRequestsMs: resetMs,
      resetTokensMs: resetMs,
    };
  }
}

/** One continuously refilled bucket: `capacity` units, `perMs` units added per millisecond. */
class Bucket {
  private level: number;
  private at: number | undefined;

  constructor(
    readonly capacity: number,
    readonly perMs: number,
  ) {
    this.level = capacity;
  }

  /** Units available at `now` (the bucket starts full at its first use). */
  available(now: number): number {
    if (this.at !== undefined && now > this.at) {
      this.level = Math.min(this.capacity, this.level + (now - this.at) * this.perMs);
    }
    this.at = Math.max(this.at ?? now, now);
    return this.level;
  }

  /** Milliseconds until `units` are available (0: now). */
  waitFor(units: number, now: number): number {
    const missing = units - this.available(now);
    return missing <= 0 ? 0 : missing / this.perMs;
  }

  take(units: number): void {
    this.level -= units;
  }
}

/**
 * Per-minute limits enforced as token buckets (one for requests, one for tokens), each holding
 * `burstSeconds` of its limit and refilled continuously at the per-minute rate: a 2,000-RPM limit
 * with a 1-second burst admits 33 requests at once, then one every 30 ms. A request needs room in
 * both buckets; one with more tokens than the token bucket holds can never pass (`too_large`).
 */
export class TokenBucket implements RateLimitEnforcer {
  private readonly requests: Bucket | undefined;
  private readonly tokens: Bucket | undefined;

  constructor(
    private readonly requestsPerMinute: number | undefined,
    private readonly tokensPerMinute: number | undefined,
    burstSeconds: number,
  ) {
    const share = (burstSeconds * 1000) / WINDOW_MS;
    // A bucket always holds at least one request, or no request could ever pass.
    if (requestsPerMinute !== undefined) {
      this.requests = new Bucket(Math.max(1, requestsPerMinute * share), requestsPerMinute / WINDOW_MS);
    }
    if (tokensPerMinute !== undefined) {
      this.tokens = new Bucket(tokensPerMinute * share, tokensPerMinute / WINDOW_MS);
    }
  }

  admit(now: number, tokens: number): Admission {
    const { requests, tokens: bucket } = this;
    if (bucket && tokens > bucket.capacity) {
      const limit = Math.floor(bucket.capacity);
      return {
        ok: false,
        reason: "too_large",
        limit,
        used: limit - Math.floor(bucket.available(now)),
        requested: tokens,
      };
    }
    const waitRequests = requests?.waitFor(1, now) ?? 0;
    const waitTokens = bucket?.waitFor(tokens, now) ?? 0;
    if (waitRequests === 0 && waitTokens === 0) {
      requests?.take(1);
      bucket?.take(tokens);
      return { ok: true };
    }
    return waitRequests >= waitTokens
      ? {
          ok: false,
          reason: "requests",
          limit: this.requestsPerMinute!,
          used: Math.ceil(requests!.capacity - requests!.available(now)),
          requested: 1,
          waitMs: waitRequests,
        }
      : {
          ok: false,
          reason: "tokens",
          limit: this.tokensPerMinute!,
          used: Math.ceil(bucket!.capacity - bucket!.available(now)),
          requested: tokens,
          waitMs: waitTokens,
        };
  }

  state(now: number): WindowState {
    const { requests, tokens } = this;
    const reset = (b: Bucket | undefined) => (b ? (b.capacity - b.available(now)) / b.perMs : 0);
    return {
      limitRequests: this.requestsPerMinute,
      limitTokens: this.tokensPerMinute,
      remainingRequests: requests && Math.floor(requests.available(now)),
      remainingTokens: tokens && Math.floor(tokens.available(now)),
      resetRequestsMs: reset(requests),
      resetTokensMs: reset(tokens),
    };
  }
}

/**
 * A duration as OpenAI's `x-ratelimit-reset-*` headers write it (Go's style, millisecond precision):
 * `20ms`, `1s`, `1.5s`, `6m0s`, `1h0m0s`.
 */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return "0s";
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = String((total % 60_000) / 1000);
  return `${hours ? `${hours}h` : ""}${hours || minutes ? `${minutes}m` : ""}${seconds}s`;
}
