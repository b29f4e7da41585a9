/** Units of a {@link MinuteWindow} taken by one request. */
export interface WindowHold {
  /**
   * Ends the request: its units stay in the window for one more interval from now, as `weight` (what
   * the API counted: billed tokens, 0 for a request it refused) or as taken when omitted. Idempotent.
   */
  release(weight?: number): void;
}

interface Entry {
  weight: number;
  /** When the units leave the window; `Infinity` while the request is in flight. */
  until: number;
}

interface Waiter {
  readonly weight: number;
  readonly resolve: (hold: WindowHold) => void;
  readonly reject: (reason: unknown) => void;
}

/**
 * A sliding window of at most `limit` units per `intervalMs` (requests or tokens per minute), in which
 * a request holds its units from when it starts until an interval after it ends.
 *
 * The API admits a request somewhere between those two moments (after the upload, behind other
 * requests at its gateway), so when this window frees the units the API's window has freed them too.
 * A window counted from the start alone (as p-throttle counts) releases a whole burst exactly a minute
 * after it left, while the API still counts the part of it that it admitted later: the next burst
 * then meets 429s. Holding until the end costs one request's latency per minute. Once a request ends,
 * its weight becomes what the API counted, so a conservative estimate does not waste the budget.
 * Waiters are served in arrival order: a heavy request is never starved by lighter ones.
 */
export class MinuteWindow {
  private entries: Entry[] = [];
  private readonly waiting: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly limit: number,
    private readonly intervalMs: number,
    private readonly signal?: AbortSignal,
  ) {
    signal?.addEventListener("abort", () => this.abort(), { once: true });
  }

  /** Waits until `weight` units (capped at `limit`) fit in the window; rejects with `signal.reason`. */
  take(weight: number): Promise<WindowHold> {
    if (this.signal?.aborted) return Promise.reject(this.signal.reason);
    return new Promise((resolve, reject) => {
      this.waiting.push({ weight: Math.min(weight, this.limit), resolve, reject });
      this.drain();
    });
  }

  /** Units counted right now (in flight, or ended less than an interval ago). */
  used(now = Date.now()): number {
    this.entries = this.entries.filter((entry) => entry.until > now);
    return this.entries.reduce((sum, entry) => sum + entry.weight, 0);
  }

  private drain(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = Date.now();
    let used = this.used(now);
    while (this.waiting.length > 0 && used + this.waiting[0]!.weight <= this.limit) {
      const { weight, resolve } = this.waiting.shift()!;
      const entry: Entry = { weight, until: Number.POSITIVE_INFINITY };
      this.entries.push(entry);
      used += weight;
      resolve({
        release: (counted = entry.weight) => {
          if (entry.until !== Number.POSITIVE_INFINITY) return;
          entry.weight = Math.max(0, Math.min(counted, this.limit));
          entry.until = Date.now() + this.intervalMs;
          this.drain();
        },
      });
    }
    if (this.waiting.length === 0) return;
    // Wake when the next ended request leaves the window; requests still in flight wake it on release.
    const next = Math.min(...this.entries.map((entry) => entry.until));
    if (Number.isFinite(next)) this.timer = setTimeout(() => this.drain(), Math.max(0, next - now));
  }

  private abort(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const waiter of this.waiting.splice(0)) waiter.reject(this.signal?.reason);
  }
}
