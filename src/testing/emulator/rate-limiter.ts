/*
 * Sliding 60-second windows, one per API and model. An admitted request stays in its window for
 * exactly 60 s; a refused request is told the exact time until the window would admit it.
 */

export const WINDOW_MS = 60_000;

/** The window's state as OpenAI's `x-ratelimit-*` headers report it. */
export interface WindowState {
  readonly limitRequests: number | undefined;
  readonly limitTokens: number | undefined;
  readonly remainingRequests: number | undefined;
  readonly remainingTokens: number | undefined;
  /** Milliseconds until the window is empty again (the budget full). */
  readonly resetMs: number;
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

export class SlidingWindow {
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
    return {
      limitRequests: rpm,
      limitTokens: tpm,
      remainingRequests: rpm === undefined ? undefined : Math.max(0, rpm - this.entries.length),
      remainingTokens: tpm === undefined ? undefined : Math.max(0, tpm - this.tokens),
      resetMs: last ? last.at + WINDOW_MS - now : 0,
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
