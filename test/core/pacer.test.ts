/*
 * The pacer on a hand-driven clock: what it lets out, and what it learns from answers and 429s.
 * 60,000 tokens per minute is one token per millisecond, so levels read as tokens.
 */
import { describe, expect, test } from "vitest";
import { Pacer, type PaceTicket } from "../../src/backfill/pacer.js";
import { PACING } from "../../src/defaults.js";

function pacer(limits: { requestsPerMinute?: number; tokensPerMinute?: number }) {
  const clock = { now: 1_000_000 };
  const p = new Pacer({
    requestsPerMinute: limits.requestsPerMinute ?? Number.POSITIVE_INFINITY,
    tokensPerMinute: limits.tokensPerMinute ?? Number.POSITIVE_INFINITY,
    now: () => clock.now,
  });
  /** Sends as many `tokens`-token requests as may go now. */
  const burst = (tokens: number): PaceTicket[] => {
    const sent: PaceTicket[] = [];
    while (p.delay(tokens) === 0 && sent.length < 10_000) sent.push(p.take(tokens));
    return sent;
  };
  return { p, clock, burst };
}

describe("Pacer: pacing", () => {
  test("lets one second of the limits out at once, then spreads requests at the rate", () => {
    const { p, clock, burst } = pacer({ tokensPerMinute: 60_000 });
    const first = burst(100);
    // One second's worth (1,000 tokens) and one request more: the probe, testing whether the API
    // allows more than a second. Ordinary requests keep a margin below the edge; this first burst
    // fills it on the way to the probe.
    expect(first).toHaveLength(11);
    expect(first.map((t) => t.probe)).toEqual([...Array(10).fill(false), true]);
    // The probe out, the next request waits for its 100 tokens, the probe's, and the margin.
    const margin = PACING.edgeMarginMs;
    expect(p.delay(100)).toBe(200 + margin);
    clock.now += 100;
    expect(p.delay(100)).toBe(100 + margin);
    clock.now += 100 + margin;
    expect(burst(100)).toHaveLength(1);
    // A whole minute later the burst is back, never more; the probe still out, only up to the margin.
    clock.now += 60_000;
    expect(burst(100)).toHaveLength((1000 - margin) / 100);
  });

  test("one probe at a time: a probe that failed otherwise (an error, an abort) frees the edge for the next", () => {
    const { p, clock, burst } = pacer({ tokensPerMinute: 60_000 });
    const sent = burst(100);
    const probe = sent.at(-1)!;
    expect(probe.probe).toBe(true);
    clock.now += 1_000; // level 100: room for a probe, not for an ordinary request
    const room = 1000 - PACING.edgeMarginMs - 100;
    expect(p.delay(room + 1)).toBe(1);
    p.onFailure(sent[0]!); // not the probe: changes nothing
    expect(p.delay(room + 1)).toBe(1);
    p.onFailure(probe);
    expect(p.delay(room + 1)).toBe(0);
  });

  test("paces requests per minute the same way, and a request needs room in both", () => {
    const { p, clock, burst } = pacer({ requestsPerMinute: 600, tokensPerMinute: 60_000 });
    // 10 requests a second bind first (500 of 1,000 tokens), and the probe beyond them.
    expect(burst(50)).toHaveLength(11);
    expect(p.delay(50)).toBe(200 + PACING.edgeMarginMs);
    clock.now += 200 + PACING.edgeMarginMs;
    expect(p.delay(50)).toBe(0);
    expect(p.delay(700)).toBe(50); // room for a request, not for its tokens (250 in use)
  });

  test("answered requests count the tokens billed; refused ones count nothing", () => {
    const { p, burst } = pacer({ tokensPerMinute: 60_000 });
    const [first, , probe] = burst(400); // levels 400, 800, and the probe at 1,200
    expect(probe!.probe).toBe(true);
    const ordinary = 1000 - PACING.edgeMarginMs;
    expect(p.delay(100)).toBe(1200 + 100 - ordinary);
    p.onSuccess(first!, 200); // estimated 400, billed 200: 200 back
    expect(p.delay(100)).toBe(1000 + 100 - ordinary);
    p.onRateLimited(probe!); // the API did not count it; its bucket is empty though
    expect(p.burst).toBeLessThan(1000);
  });
});

describe("Pacer: what it learns", () => {
  test("until the first 429, successes at the edge grow the allowance: a probe at a time beyond one second, then doubling to a minute", () => {
    const { p, burst } = pacer({ tokensPerMinute: 60_000 });
    const first = burst(100); // a second's worth, then the probe at 1,100
    for (const ticket of first.slice(0, -1)) p.onSuccess(ticket, 100);
    expect(p.burst).toBe(PACING.initialBurstMs); // levels up to a second: nothing learned
    expect(burst(100)).toHaveLength(0); // one probe at a time
    p.onSuccess(first.at(-1)!, 100);
    expect(p.burst).toBe(2200); // beyond a second: no one-second bucket, double
    const steps: number[] = [];
    for (let edge = burst(100); edge.length > 0; edge = burst(100)) {
      p.onSuccess(edge.at(-1)!, 100);
      steps.push(p.burst);
    }
    expect([...new Set(steps)]).toEqual([4400, 8800, 17_600, 35_200, PACING.maxBurstMs]);
    expect(p.maxRequestTokens).toBe(60_000);
  });

  test("a 429 near the allowance shrinks it below the refused level, waits for the API's bucket to refill, then regrows slowly", () => {
    const { p, clock, burst } = pacer({ tokensPerMinute: 60_000 });
    const sent = burst(100);
    for (const ticket of sent.slice(0, -1)) p.onSuccess(ticket, 100);
    const refused = sent.at(-1)!; // the probe, at 1,100: over a one-second bucket
    clock.now += 20;
    p.onRateLimited(refused);
    expect(p.burst).toBeCloseTo(1100 * PACING.burstShrink, 0);
    // The API's bucket is empty: the next request waits until it has refilled that request.
    const wait = p.delay(100);
    expect(wait).toBeGreaterThanOrEqual(100);
    expect(p.maxRequestTokens).toBe(Math.floor(p.burst));

    // Saturated for two minutes: no growth during the rest period, then about a quarter percent a second.
    const shrunk = p.burst;
    for (let t = 0; t < 120_000; t += 100) {
      clock.now += 100;
      for (const ticket of burst(100)) p.onSuccess(ticket, 100);
      if (t === PACING.burstRegrowthDelayMs - 1_000) expect(p.burst).toBe(shrunk);
    }
    expect(p.burst).toBeGreaterThan(shrunk * 1.15);
    expect(p.burst).toBeLessThan(shrunk * 1.35);
    expect(p.tokensPerMinute).toBe(60_000);
  });

  test("requests refused together teach once: only those sent after the last decrease shrink again", () => {
    const { p, clock, burst } = pacer({ tokensPerMinute: 60_000 });
    const sent = burst(100);
    clock.now += 10;
    p.onRateLimited(sent[9]!);
    const after = p.burst;
    p.onRateLimited(sent[8]!);
    p.onRateLimited(sent[7]!);
    expect(p.burst).toBe(after);
    expect(p.tokensPerMinute).toBe(60_000);
  });

  test("a 429 far below the allowance means the rate is too high (another process shares the key); it grows back to the figure", () => {
    const { p, clock } = pacer({ tokensPerMinute: 60_000 });
    const low = p.take(100); // level 100 of 1,000
    clock.now += 10;
    p.onRateLimited(low);
    expect(p.tokensPerMinute).toBe(60_000 * PACING.rateShrink);
    expect(p.burst).toBe(PACING.initialBurstMs);
    // Growing back, about 2% a second while requests are answered.
    for (let t = 0; t < 20_000; t += 250) {
      clock.now += 250;
      if (p.delay(100) === 0) p.onSuccess(p.take(100), 100);
    }
    expect(p.tokensPerMinute).toBe(60_000);
  });

  test("429s that keep coming while the allowance shrinks lower the rate too", () => {
    const { p, clock, burst } = pacer({ tokensPerMinute: 60_000 });
    const refuse = () => {
      clock.now += 1_000;
      const edge = burst(50);
      clock.now += 10;
      p.onRateLimited(edge.at(-1)!);
    };
    refuse();
    expect(p.tokensPerMinute).toBe(60_000);
    refuse();
    expect(p.tokensPerMinute).toBe(60_000 * PACING.rateShrink);
  });

  test("with no figures given, the first 429 paces at a little under what the API admitted so far", () => {
    const { p, clock } = pacer({});
    expect(p.delay(1_000_000)).toBe(0);
    for (let i = 0; i < 20; i++) {
      p.onSuccess(p.take(1_000), 1_000); // 20,000 tokens and 20 requests over 2 s
      clock.now += 100;
    }
    const refused = p.take(1_000);
    p.onRateLimited(refused);
    expect(p.tokensPerMinute).toBeCloseTo(20_000 * 30 * PACING.learnedRateShare, 0);
    expect(p.requestsPerMinute).toBeCloseTo(20 * 30 * PACING.learnedRateShare, 0);
    expect(p.delay(1_000)).toBeGreaterThan(0);
  });
});

describe("Pacer: what the API says", () => {
  test("a Retry-After over a second pauses every request; a shorter one is this request's alone", () => {
    const long = pacer({ tokensPerMinute: 60_000 });
    const [a] = long.burst(100);
    long.p.onRateLimited(a!, 5_000);
    expect(long.p.delay(100)).toBe(5_000);

    const short = pacer({ tokensPerMinute: 60_000 });
    const [b] = short.burst(100);
    short.p.onRateLimited(b!, 1_000);
    expect(short.p.delay(100)).toBeLessThan(1_000);
  });

  test("x-ratelimit-remaining caps what it counts on; with no rate known, it waits for the reset", () => {
    const known = pacer({ tokensPerMinute: 60_000 });
    const ticket = known.p.take(100);
    expect(known.p.delay(100)).toBe(0);
    // The API had room for nothing more when it admitted that request (another client used it).
    known.clock.now += 40;
    known.p.onSuccess(ticket, 100, { remainingTokens: 0, resetTokensMs: 1_000 });
    expect(known.p.delay(100)).toBe(60); // refilled 40 of the 100 since

    const unknown = pacer({});
    const first = unknown.p.take(100);
    unknown.clock.now += 300;
    unknown.p.onSuccess(first, 100, { remainingRequests: 0, resetRequestsMs: 2_000 });
    expect(unknown.p.delay(100)).toBe(1_700);
    unknown.clock.now += 1_700;
    expect(unknown.p.delay(100)).toBe(0);
    // Room left: no wait.
    const second = unknown.p.take(100);
    unknown.p.onSuccess(second, 100, { remainingRequests: 5, resetRequestsMs: 2_000 });
    expect(unknown.p.delay(100)).toBe(0);
  });
});
