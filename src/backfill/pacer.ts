import type { RateLimitInfo } from "../contracts/embedding-provider.js";
import { PACING } from "../defaults.js";

const MINUTE = 60_000;

/**
 * One paced rate (requests or tokens): units per millisecond, as a GCRA keeps it. `tat` (the
 * theoretical arrival time) is when the virtual bucket will be full again; `tat - now` is how much
 * of the burst allowance is in use, in milliseconds of the rate.
 */
class Rate {
  tat = Number.NEGATIVE_INFINITY;

  constructor(
    public perMs: number,
    /** The rate never exceeded: the figure given, or for a learned rate the last one refused. */
    public ceilingPerMs: number,
    /** Whether the rate was learned from 429s (no figure given). */
    readonly learned = false,
  ) {}

  level(now: number): number {
    return Math.max(0, this.tat - now);
  }

  /** Changes the rate, keeping the units in use (a level in ms of the old rate becomes one of the new). */
  set(perMs: number, now: number): void {
    if (this.tat > now) this.tat = now + ((this.tat - now) * this.perMs) / perMs;
    this.perMs = perMs;
  }
}

/** What a request was charged when the pacer let it go. */
export interface PaceTicket {
  /** When it went (the pacer's clock: milliseconds since it was created). */
  readonly at: number;
  /** Tokens charged (the calibrated estimate). */
  readonly tokens: number;
  /** How much of the burst allowance was in use once it went, in ms of the limits. */
  readonly levelMs: number;
  /** Its own share of that, in ms of the limits. */
  readonly sizeMs: number;
  /** Tokens and requests charged so far, this one included (to read `x-ratelimit-remaining-*`). */
  readonly sentTokens: number;
  readonly sentRequests: number;
  /**
   * Whether it tests whether the API allows more: it went beyond the level ordinary requests keep to
   * (in the careful start, beyond the level confirmed). One is in flight at a time.
   */
  readonly probe: boolean;
}

/** Settings of the {@link Pacer}. */
export interface PacerOptions {
  /** Requests per minute, `Infinity` when unknown (learned from the first 429). */
  readonly requestsPerMinute: number;
  /** Tokens per minute, `Infinity` when unknown (learned from the first 429). */
  readonly tokensPerMinute: number;
  /** The clock, in ms. */
  readonly now?: () => number;
}

/**
 * Spreads requests and tokens at the per-minute rates (a GCRA per rate: a virtual bucket refilled
 * continuously), letting out at most a *burst allowance* beyond the steady rate. The allowance is
 * learned, because an API may enforce a per-minute figure over the whole minute (a sliding window:
 * a minute's budget may go at once) or over a second or so (a small bucket: a burst meets 429s while
 * the minute's total is still under the limit), and only 429s tell which:
 *
 * - It starts at one second of the limits ({@link PACING}.initialBurstMs), the shortest enforcement
 *   period a provider documents. Requests reach the API unevenly (the event loop, the network), so
 *   they keep a margin ({@link PACING}.edgeMarginMs) below the allowance: an API whose bucket holds
 *   exactly the allowance does not refuse requests that arrive a little bunched. Only a *probe*, one
 *   request at a time, goes to the edge.
 * - Until the first 429 the allowance grows as requests sent at its edge succeed: one request
 *   beyond the level confirmed (one probe at a time, after the requests that fill the margin) until
 *   a level beyond 1.02 s is confirmed (so a one-second bucket costs one 429, or the few that arrive
 *   bunched with it), then doubling the level confirmed, up to a minute (a sliding window is found
 *   in seconds; a bucket between costs the requests sent beyond it in one step).
 * - A 429 on a request sent near the allowance means the API's bucket is smaller: the allowance
 *   shrinks below the level that was refused, the pacer waits for the API's bucket to refill, and
 *   the allowance then grows back slowly (~1% a second while it is what holds requests back).
 * - A 429 far below the allowance, or a second one soon after, means the rate itself is too high
 *   (another process shares the key): the rate drops by a fifth, and grows back to the given figure
 *   (5% a second at first, faster the longer no 429 comes). Without given figures, the first 429 sets the rates to what was admitted so far.
 * - The request never waits longer than it must: refused requests are not charged, estimates are
 *   corrected to the tokens billed, and `x-ratelimit-remaining-*` answers cap what it counts on.
 *
 * It never lowers concurrency and never backs off exponentially: after a 429, the run keeps going
 * at the learned rate.
 */
export class Pacer {
  private requests: Rate | undefined;
  private tokens: Rate | undefined;
  private burstMs: number = PACING.initialBurstMs;
  private confirmedMs = 0;
  private phase: "start" | "steady" = "start";
  /** The probe in flight (its ticket), if any. */
  private probe: PaceTicket | undefined;
  private lastGrowth: number | undefined;
  private lastDecrease = Number.NEGATIVE_INFINITY;
  private lastRateDecrease = Number.NEGATIVE_INFINITY;
  /** When the recent decreases happened. */
  private decreases: number[] = [];
  private pausedUntil = 0;
  private sentTokens = 0;
  private sentRequests = 0;
  /** Admitted requests of the last minute (send time, tokens), to learn unknown rates. */
  private admitted: Array<{ readonly at: number; readonly tokens: number }> = [];
  private readonly now: () => number;

  constructor(options: PacerOptions) {
    // Times relative to the start: milliseconds since 1970 leave a double too few fractional bits.
    const clock = options.now ?? Date.now;
    const origin = clock();
    this.now = () => clock() - origin;
    const { requestsPerMinute: rpm, tokensPerMinute: tpm } = options;
    if (Number.isFinite(rpm)) this.requests = new Rate(rpm / MINUTE, rpm / MINUTE);
    if (Number.isFinite(tpm)) this.tokens = new Rate(tpm / MINUTE, tpm / MINUTE);
  }

  /** The burst allowance, in ms of the limits. */
  get burst(): number {
    return this.burstMs;
  }

  /** Requests per minute paced now (`Infinity`: none). */
  get requestsPerMinute(): number {
    return this.requests ? this.requests.perMs * MINUTE : Number.POSITIVE_INFINITY;
  }

  /** Tokens per minute paced now (`Infinity`: none). */
  get tokensPerMinute(): number {
    return this.tokens ? this.tokens.perMs * MINUTE : Number.POSITIVE_INFINITY;
  }

  /** Most tokens one request may carry: what the burst allowance admits at once. */
  get maxRequestTokens(): number {
    return this.tokens ? Math.max(1, Math.floor(this.tokens.perMs * this.burstMs)) : Number.POSITIVE_INFINITY;
  }

  /** Tokens the allowance could let out right now, beyond the steady rate. */
  get creditTokens(): number {
    if (!this.tokens) return Number.POSITIVE_INFINITY;
    return Math.max(0, (this.burstMs - this.tokens.level(this.now())) * this.tokens.perMs);
  }

  /** Whether the allowance is still tested a request at a time (no level beyond a second confirmed). */
  private get careful(): boolean {
    return this.phase === "start" && this.confirmedMs <= PACING.carefulBurstMs;
  }

  /**
   * The level the allowance is known to hold: in the careful start, the level confirmed (at least
   * the initial allowance); after it, the allowance.
   */
  private get edgeMs(): number {
    return this.careful ? Math.max(PACING.initialBurstMs, this.confirmedMs) : this.burstMs;
  }

  /** Milliseconds until a request of `tokens` may go (0: now). */
  delay(tokens: number): number {
    const now = this.now();
    const ordinary = this.wait(tokens, now, false);
    return this.probe ? ordinary : Math.min(ordinary, this.wait(tokens, now, true));
  }

  /** The margin ordinary requests keep below the edge: at most a quarter of it. */
  private get marginMs(): number {
    return Math.min(PACING.edgeMarginMs, this.edgeMs / 4);
  }

  /**
   * The level a request costing `costMs` may take a rate to: an ordinary request, the edge less the
   * margin for uneven arrival; one that may go further while no probe is in flight, the edge, and in
   * the careful start one request beyond it (those that fill the margin go first; the one that lands
   * beyond the edge is the probe).
   */
  private allowanceMs(costMs: number, probe: boolean): number {
    if (!probe) return this.edgeMs - this.marginMs;
    return this.careful ? this.edgeMs + costMs : this.edgeMs;
  }

  /** The wait of an ordinary request, or of one that may go as far as a probe (see `allowanceMs`). */
  private wait(tokens: number, now: number, probe: boolean): number {
    let wait = Math.max(0, this.pausedUntil - now);
    for (const [rate, units] of this.dimensions(tokens)) {
      const cost = units / rate.perMs;
      // A request larger than the allowance goes alone, once nothing else is in use.
      wait = Math.max(wait, rate.level(now) + cost - Math.max(this.allowanceMs(cost, probe), cost));
    }
    // Sums of fractions of a millisecond: a rounding error is no wait.
    return wait > 1e-3 ? wait : 0;
  }

  /** Charges a request that goes now. */
  take(tokens: number): PaceTicket {
    const now = this.now();
    // Where a probe lands: beyond the edge in the careful start (the margin is filled on the way),
    // else beyond the margin.
    const probeFrom = this.careful ? this.edgeMs : this.edgeMs - this.marginMs;
    let levelMs = 0;
    let sizeMs = 0;
    for (const [rate, units] of this.dimensions(tokens)) {
      const cost = units / rate.perMs;
      rate.tat = Math.max(rate.tat, now) + cost;
      levelMs = Math.max(levelMs, rate.tat - now);
      sizeMs = Math.max(sizeMs, cost);
    }
    const probe = levelMs > probeFrom + 1e-6;
    this.sentTokens += tokens;
    this.sentRequests += 1;
    const ticket: PaceTicket = {
      at: now,
      tokens,
      levelMs,
      sizeMs,
      sentTokens: this.sentTokens,
      sentRequests: this.sentRequests,
      probe,
    };
    if (probe) this.probe = ticket;
    return ticket;
  }

  /** A request ended otherwise (an error, an abort): a probe it was may be sent again. */
  onFailure(ticket: PaceTicket): void {
    if (this.probe === ticket) this.probe = undefined;
  }

  /**
   * A request was answered: its charge becomes the tokens billed, the level it reached is confirmed
   * (the allowance may grow), and the API's `x-ratelimit-*` answer caps what the pacer counts on.
   */
  onSuccess(ticket: PaceTicket, billedTokens?: number, rateLimit?: RateLimitInfo): void {
    const now = this.now();
    if (this.probe === ticket) this.probe = undefined;
    const billed = billedTokens ?? ticket.tokens;
    if (this.tokens && billed !== ticket.tokens)
      this.tokens.tat -= (ticket.tokens - billed) / this.tokens.perMs;
    this.remember(ticket.at, billed, now);
    this.grow(ticket, now);
    if (rateLimit) this.observe(ticket, rateLimit, now);
  }

  /**
   * A request was refused with 429: it gives back its charge (the API did not count it), the pacer
   * learns from it (a smaller burst, or a lower rate), and waits as the API asked. `retryAfterMs`
   * pauses every request when it is longer than a second (a whole-second `Retry-After` says nothing
   * finer) or when no rate is known; shorter waits concern this request, which its retry honours.
   */
  onRateLimited(ticket: PaceTicket, retryAfterMs?: number): void {
    const now = this.now();
    if (this.probe === ticket) this.probe = undefined;
    const refusedAt = this.levelAt(ticket, now);
    this.refund(ticket);
    if (!this.requests && !this.tokens) {
      if (this.admitted.length > 0) this.learnRates(now);
      this.lastDecrease = now;
    } else if (ticket.at >= this.lastDecrease) {
      // One decrease per burst of refusals: requests sent before the last decrease add nothing.
      const nearBurst = ticket.levelMs >= this.burstMs / 2 && this.burstMs > PACING.minBurstMs;
      this.decreases = this.decreases.filter((at) => now - at < PACING.rateDecreaseWindowMs);
      if (nearBurst) {
        this.burstMs = Math.max(PACING.minBurstMs, Math.min(this.burstMs, refusedAt * PACING.burstShrink));
      }
      // Refusals far below the allowance, or that keep coming as it shrinks: the rate is too high.
      // One rate decrease a second at most: the refusals of one overshoot teach it once.
      const rateTooHigh = !nearBurst || this.decreases.length >= PACING.burstDecreasesBeforeRate;
      if (rateTooHigh && now - this.lastRateDecrease >= PACING.rateDecreaseIntervalMs) {
        this.scaleRates(PACING.rateShrink, now);
        this.lastRateDecrease = now;
      }
      this.decreases.push(now);
      this.lastDecrease = now;
    }
    this.phase = "steady";
    this.confirmedMs = Math.min(this.confirmedMs, this.burstMs);
    this.lastGrowth = now;
    // The API's bucket is empty now: the next request waits for it to refill.
    for (const rate of [this.requests, this.tokens]) {
      if (rate) rate.tat = Math.max(rate.tat, now + this.burstMs);
    }
    if (retryAfterMs !== undefined && (retryAfterMs > PACING.coarseRetryAfterMs || !this.tokens)) {
      this.pausedUntil = Math.max(this.pausedUntil, now + retryAfterMs);
    }
  }

  /**
   * The level a request reached when it went, as known now: requests answered since then count the
   * tokens they were billed rather than their estimate.
   */
  private levelAt(ticket: PaceTicket, now: number): number {
    let level = 0;
    const since = now - ticket.at;
    if (this.requests) {
      const after = (this.sentRequests - ticket.sentRequests) / this.requests.perMs;
      level = Math.max(level, this.requests.level(now) + since - after);
    }
    if (this.tokens) {
      const after = (this.sentTokens - ticket.sentTokens) / this.tokens.perMs;
      level = Math.max(level, this.tokens.level(now) + since - after);
    }
    return Math.min(ticket.levelMs, level);
  }

  private *dimensions(tokens: number): Generator<[Rate, number]> {
    if (this.requests) yield [this.requests, 1];
    if (this.tokens) yield [this.tokens, tokens];
  }

  private refund(ticket: PaceTicket): void {
    if (this.requests) this.requests.tat -= 1 / this.requests.perMs;
    if (this.tokens) this.tokens.tat -= ticket.tokens / this.tokens.perMs;
  }

  private remember(at: number, tokens: number, now: number): void {
    this.admitted.push({ at, tokens });
    const since = now - MINUTE;
    let drop = 0;
    while (drop < this.admitted.length && this.admitted[drop]!.at < since) drop++;
    if (drop > 0) this.admitted.splice(0, drop);
  }

  /** The allowance grows while requests sent at its edge succeed, and the rates grow back. */
  private grow(ticket: PaceTicket, now: number): void {
    if (this.phase === "start") {
      // The level it reached as known now (estimates since replaced by bills), not as charged.
      this.confirmedMs = Math.max(this.confirmedMs, this.levelAt(ticket, now));
      const next = this.careful ? this.confirmedMs : this.confirmedMs * 2;
      this.burstMs = Math.min(PACING.maxBurstMs, Math.max(this.burstMs, next));
      return;
    }
    const elapsed = Math.min(1000, now - (this.lastGrowth ?? now));
    this.lastGrowth = now;
    if (elapsed <= 0) return;
    const rested = now - this.lastDecrease >= PACING.burstRegrowthDelayMs;
    if (rested && ticket.levelMs >= this.allowanceMs(0, false) - 2 * ticket.sizeMs) {
      this.burstMs = Math.min(
        PACING.maxBurstMs,
        this.burstMs * (1 + (PACING.burstRegrowth * elapsed) / 1000),
      );
    }
    // Faster the longer no 429 came: a process left alone on a shared key soon has it all again.
    const calm = 1 + (now - this.lastDecrease) / PACING.rateRegrowthDoublingMs;
    this.scaleRates(1 + (PACING.rateRegrowth * calm * elapsed) / 1000, now);
  }

  /**
   * Multiplies the paced rates, within [a floor, the ceiling]. A learned rate's ceiling comes down
   * to the rate refused, so it settles under what the API allows.
   */
  private scaleRates(factor: number, now: number): void {
    for (const rate of [this.requests, this.tokens]) {
      if (!rate) continue;
      if (factor < 1 && rate.learned) rate.ceilingPerMs = Math.min(rate.ceilingPerMs, rate.perMs);
      const floor = rate.learned ? 0 : rate.ceilingPerMs * PACING.minRateShare;
      const next = Math.min(rate.ceilingPerMs, Math.max(floor, rate.perMs * factor));
      if (next !== rate.perMs) rate.set(next, now);
    }
  }

  /** No figures given: pace from now on at a little under what the API admitted so far. */
  private learnRates(now: number): void {
    // The last few seconds: what the API admits when asked for more, not the ramp-up before.
    const recent = this.admitted.filter((a) => a.at >= now - PACING.learnRateWindowMs);
    const span = Math.max(100, now - (recent[0]?.at ?? now));
    const tokens = recent.reduce((sum, a) => sum + a.tokens, 0);
    const count = Math.max(1, recent.length);
    const share = PACING.learnedRateShare;
    this.requests = new Rate((count / span) * share, count / span, true);
    this.tokens = new Rate((tokens / span) * share, tokens / span, true);
    this.burstMs = PACING.initialBurstMs;
  }

  /** Never counts on more room than the API said it had (`x-ratelimit-remaining-*`). */
  private observe(ticket: PaceTicket, info: RateLimitInfo, now: number): void {
    const dims: Array<[Rate | undefined, number | undefined, number | undefined, number, number]> = [
      [
        this.requests,
        info.remainingRequests,
        info.resetRequestsMs,
        this.sentRequests - ticket.sentRequests,
        1,
      ],
      [
        this.tokens,
        info.remainingTokens,
        info.resetTokensMs,
        this.sentTokens - ticket.sentTokens,
        ticket.tokens,
      ],
    ];
    for (const [rate, remaining, resetMs, sentSince, next] of dims) {
      if (remaining === undefined) continue;
      if (rate) {
        // What the API can take now: what it had left, refilled since, less what went since.
        const room = remaining + (now - ticket.at) * rate.perMs - sentSince;
        // The most any request may count on: a probe's allowance.
        const top = this.allowanceMs(next / rate.perMs, true);
        rate.tat = Math.max(rate.tat, now + top - room / rate.perMs);
      } else if (resetMs !== undefined && remaining - sentSince < next) {
        this.pausedUntil = Math.max(this.pausedUntil, ticket.at + resetMs);
      }
    }
  }
}
