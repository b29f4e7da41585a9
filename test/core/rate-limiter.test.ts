import { afterEach, describe, expect, test, vi } from "vitest";
import { MinuteWindow } from "../../src/backfill/minute-window.js";
import { littleConcurrency, RateLimiter } from "../../src/backfill/rate-limiter.js";
import { backfill } from "../../src/index.js";
import { scriptedProvider } from "../../src/testing/index.js";
import { apiError, storeWith } from "./helpers.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("MinuteWindow", () => {
  test("a request holds its units from its start until an interval after it ends", async () => {
    vi.useFakeTimers();
    const window = new MinuteWindow(1, 60_000);
    const first = await window.take(1);
    let second = false;
    void window.take(1).then(() => {
      second = true;
    });
    // In flight for 10 s: a window counted from the start alone would admit the next at 60 s.
    await vi.advanceTimersByTimeAsync(10_000);
    first.release();
    await vi.advanceTimersByTimeAsync(59_000);
    expect(second).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(second).toBe(true);
  });

  test("once ended, a request weighs what the API counted", async () => {
    const window = new MinuteWindow(100, 60_000);
    const estimated = await window.take(90);
    expect(window.used()).toBe(90);
    estimated.release(40);
    expect(window.used()).toBe(40);
    await window.take(60); // fits at once: 40 + 60 ≤ 100
    expect(window.used()).toBe(100);
    estimated.release(0); // idempotent: the first release stands
    expect(window.used()).toBe(100);
  });

  test("waiters are served in arrival order: a heavy one is not overtaken by lighter ones", async () => {
    const window = new MinuteWindow(10, 60_000);
    const first = await window.take(8);
    const order: string[] = [];
    const heavy = window.take(5).then((hold) => order.push("heavy") && hold);
    const light = window.take(1).then((hold) => order.push("light") && hold);
    await Promise.resolve();
    expect(order).toEqual([]);
    first.release(0);
    await Promise.all([heavy, light]);
    expect(order).toEqual(["heavy", "light"]);
  });

  test("an abort rejects the waiters with the signal's reason", async () => {
    const controller = new AbortController();
    const window = new MinuteWindow(1, 60_000, controller.signal);
    await window.take(1);
    const waiting = window.take(1);
    controller.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow("stop");
    await expect(window.take(1)).rejects.toThrow("stop");
  });
});

describe("per-minute limits against the API's own window", () => {
  test("`requestsPerMinute` counts a request until a minute after its answer", async () => {
    vi.useFakeTimers();
    const provider = scriptedProvider({ latencyMs: 10_000, limits: { maxInputsPerRequest: 1 } });
    const run = backfill({ provider, store: storeWith(2), requestsPerMinute: 1, concurrency: 1 });
    await vi.advanceTimersByTimeAsync(69_000);
    expect(provider.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(12_000);
    expect(provider.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(11_000);
    expect((await run).embedded).toBe(2);
    expect(provider.calls[1]!.startedAt - provider.calls[0]!.startedAt).toBeGreaterThanOrEqual(70_000);
  });

  test("`tokensPerMinute` counts what was billed once a request ends, not the estimate", async () => {
    vi.useFakeTimers();
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 1 } });
    // 160-byte texts, billed 40 tokens each; estimated at 90. Counting the estimate for a minute
    // (90 + 90 × 40/90 × 1.05 > 100) would hold the second request for a minute; 40 + 43 fits.
    const store = storeWith(2, (i) => `${"x".repeat(159)}${i}`);
    const run = backfill({ provider, store, tokensPerMinute: 100, concurrency: 1, estimateTokens: () => 90 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(provider.calls).toHaveLength(2);
    expect((await run).tokens).toBe(80);
  });

  test("a request refused with 429 uses none of the minute's tokens", async () => {
    vi.useFakeTimers();
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 1 } });
    provider.script(apiError(429, { retryAfterMs: 1_000 }));
    const store = storeWith(1, (i) => `${"x".repeat(159)}${i}`);
    // The refused attempt and the retry each estimate 60 of a 100-token minute: the retry starts after
    // the 1 s pause, not a minute later.
    const run = backfill({ provider, store, tokensPerMinute: 100, estimateTokens: () => 60 });
    await vi.advanceTimersByTimeAsync(5_000);
    const report = await run;
    expect(report).toMatchObject({ embedded: 1, rateLimited: 1 });
    expect(provider.calls).toHaveLength(2);
  });
});

describe("RateLimiter: concurrency and request size", () => {
  const unlimited = Number.POSITIVE_INFINITY;
  const limiter = (options: Partial<ConstructorParameters<typeof RateLimiter>[0]> = {}) =>
    new RateLimiter({
      concurrency: 64,
      requestsPerMinute: unlimited,
      tokensPerMinute: unlimited,
      minIntervalMs: 0,
      ...options,
    });

  test("Little's law: rate × latency, half again to spare, plus what the burst lets out, within the cap", () => {
    // 20 requests a second of 250 ms each: 5 in flight on average.
    expect(littleConcurrency(0.02, 250, 0, 64)).toBe(9);
    expect(littleConcurrency(0.02, 500, 0, 64)).toBe(16);
    expect(littleConcurrency(0.02, 250, 10, 64)).toBe(19);
    expect(littleConcurrency(0.02, 250, 1_000, 64)).toBe(64);
    expect(littleConcurrency(0.00001, 10, 0, 64)).toBe(2);
    expect(littleConcurrency(0.02, 250, 0, 1)).toBe(1);
  });

  test("with rates given, the cap holds until a latency is seen; then in flight follows the rate", async () => {
    vi.useFakeTimers();
    // 6,000 tokens a second; requests of 1,000 tokens: 6 a second.
    const l = limiter({ tokensPerMinute: 360_000 });
    expect(l.concurrency).toBe(64);
    const holds = [];
    for (let i = 0; i < 6; i++) holds.push(await l.throttle(1_000)); // the one-second burst
    await vi.advanceTimersByTimeAsync(1_000);
    for (const hold of holds) hold.succeeded(1_000);
    // 6 a second × 1 s latency = 6 in flight, ×1.5 + 1, plus the burst allowance grown since.
    expect(l.concurrency).toBeGreaterThanOrEqual(10);
    expect(l.concurrency).toBeLessThan(64);
  });

  test("requests carry twice tokens ÷ requests per minute, at least 8,192 tokens, and never more than the burst admits", () => {
    expect(limiter({ requestsPerMinute: 2_000, tokensPerMinute: 8_000_000 }).requestTokens()).toBe(8_192);
    expect(limiter({ requestsPerMinute: 300, tokensPerMinute: 8_000_000 }).requestTokens()).toBe(53_333);
    // One second of 120,000 TPM is 2,000 tokens: no request is planned larger.
    expect(limiter({ requestsPerMinute: 10, tokensPerMinute: 120_000 }).requestTokens()).toBe(2_000);
    expect(limiter({ tokensPerMinute: 120_000 }).maxRequestTokens).toBe(2_000);
    expect(limiter().requestTokens()).toBe(8_192);
  });

  test("with no rates given, concurrency starts at 4 and grows while throughput grows, then the request size", async () => {
    vi.useFakeTimers();
    const l = limiter({ concurrency: 8 });
    const seen: number[] = [];
    for (let round = 0; round < 4; round++) {
      seen.push(l.concurrency);
      const holds = [];
      for (let i = 0; i < l.concurrency; i++) holds.push(await l.throttle(100));
      await vi.advanceTimersByTimeAsync(100); // constant latency: throughput grows with the requests
      for (const hold of holds) hold.succeeded(100);
    }
    expect(seen).toEqual([4, 6, 8, 8]);
    expect(l.requestTokens()).toBeGreaterThan(8_192);
  });
});
