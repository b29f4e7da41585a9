/*
 * backfill() with the real Voyage provider against the testing kit's emulator, in virtual time (fake
 * timers drive the emulator's latency and its rate limits alike): what pacing does under both ways
 * an API may enforce a per-minute figure. The bound a schedule cannot beat is computed beside each.
 */
import { afterEach, describe, expect, test, vi } from "vitest";
import { voyageProvider } from "../../providers/voyage/index.js";
import {
  type BackfillOptions,
  type BackfillProgress,
  type BackfillReport,
  backfill,
  InvalidOptionError,
  sharedPacing,
} from "../../src/index.js";
import {
  createEmbeddingsEmulator,
  type EmulatorRateLimits,
  emulatorTokenCount,
  memoryStore,
} from "../../src/testing/index.js";
import { emulatorFetch } from "../support/emulator-fetch.js";
import { longText } from "./helpers.js";

afterEach(() => {
  vi.useRealTimers();
});

const LATENCY = { baseMs: 100, perTokenMs: 0.02 } as const;
/** `n` distinct texts of ~1,600 characters (~400 tokens each). */
function texts(n: number): string[] {
  return Array.from({ length: n }, (_, i) => longText(i));
}

interface Outcome {
  readonly report: BackfillReport;
  readonly elapsedMs: number;
  readonly requests: number;
  readonly rateLimited: number;
  /** When each 429 was answered, ms after the start. */
  readonly refusedAt: number[];
  readonly events: BackfillProgress[];
  readonly tokens: number;
}

/** Fake timers, an emulator with `rateLimits` and the Voyage provider pointed at it. */
function emulated(rateLimits: EmulatorRateLimits) {
  vi.useFakeTimers();
  const emulator = createEmbeddingsEmulator({ latency: LATENCY, rateLimits, maxRecordedCalls: 100_000 });
  const provider = voyageProvider({
    model: "voyage-3.5",
    apiKey: "pa-pacing-test",
    outputDimension: 256,
    fetch: emulatorFetch(emulator, "voyage"),
  });
  return { emulator, provider };
}

/** Advances virtual time until `running` settles. */
async function settle<T>(running: Promise<T>): Promise<T> {
  let settled = false;
  void running.finally(() => {
    settled = true;
  });
  while (!settled) await vi.advanceTimersByTimeAsync(100);
  return running;
}

async function run(
  rateLimits: EmulatorRateLimits,
  rows: readonly string[],
  options: Partial<BackfillOptions> = {},
): Promise<Outcome> {
  const { emulator, provider } = emulated(rateLimits);
  const store = memoryStore({ rows: rows.map((text, i) => ({ id: i + 1, text })) });
  const events: BackfillProgress[] = [];
  const started = Date.now();
  const running = backfill({ provider, store, onProgress: (e) => events.push(e), ...options });
  const report = await settle(running);
  const refusedAt = emulator.calls.filter((c) => c.status === 429).map((c) => c.timestamp - started);
  return {
    report,
    elapsedMs: report.durationMs,
    requests: emulator.stats.requests,
    rateLimited: emulator.stats.rateLimited,
    refusedAt,
    events,
    tokens: emulator.stats.tokensBilled,
  };
}

/** The fastest any client can finish against a token bucket full at the start: the bucket, then the rate. */
function bucketBound(tokens: number, tokensPerMinute: number, burstSeconds: number, lastInputTokens: number) {
  const perMs = tokensPerMinute / 60_000;
  return (
    Math.max(0, tokens - perMs * burstSeconds * 1000) / perMs +
    LATENCY.baseMs +
    LATENCY.perTokenMs * lastInputTokens
  );
}

const ROWS = texts(1_500);
const TOKENS = ROWS.reduce((sum, t) => sum + emulatorTokenCount(t), 0);
const INPUT = emulatorTokenCount(ROWS[0]!);
const LIMITS = { requestsPerMinute: 2_000, tokensPerMinute: 3_000_000 } as const;

describe("pacing against the emulator, in virtual time", () => {
  test("told only the per-minute figures, against a one-second bucket: near the bound, one 429 at most", async () => {
    const o = await run({ ...LIMITS, enforcement: "token-bucket", burstSeconds: 1 }, ROWS, LIMITS);
    const bound = bucketBound(TOKENS, LIMITS.tokensPerMinute, 1, INPUT);
    expect(o.report.embedded).toBe(ROWS.length);
    expect(o.tokens).toBe(TOKENS);
    expect(o.rateLimited).toBeLessThanOrEqual(1);
    expect(o.elapsedMs / bound).toBeLessThan(1.1);
    // Spread over many requests, never a few huge ones: ~8,192 estimated tokens each at most.
    expect(o.requests).toBeGreaterThan(TOKENS / 8_192);
  });

  test("no collapse after a 429 storm: a bucket of a quarter second refuses most of the first burst, then the run keeps the rate", async () => {
    const o = await run({ ...LIMITS, enforcement: "token-bucket", burstSeconds: 0.25 }, ROWS, LIMITS);
    const bound = bucketBound(TOKENS, LIMITS.tokensPerMinute, 0.25, INPUT);
    expect(o.report.embedded).toBe(ROWS.length);
    const storm = o.refusedAt.filter((t) => t < 1_000).length;
    expect(storm).toBeGreaterThanOrEqual(3);
    // What it learned holds: hardly a refusal afterwards, concurrency never down to one, and the
    // run as a whole close to the rate (a collapse would take several times the bound).
    expect(o.refusedAt.filter((t) => t >= 1_000).length).toBeLessThanOrEqual(2);
    const after = o.events.filter((e) => e.elapsedMs >= 1_000 && e.type === "batch");
    expect(Math.min(...after.map((e) => e.concurrency))).toBeGreaterThan(1);
    expect(o.elapsedMs / bound).toBeLessThan(1.15);
  });

  test("against a sliding window the allowance grows to the minute: far under the figures, the run does not wait for the rate", async () => {
    const o = await run({ ...LIMITS, enforcement: "sliding-window" }, ROWS, LIMITS);
    const pacedMs = TOKENS / (LIMITS.tokensPerMinute / 60_000);
    expect(o.report.embedded).toBe(ROWS.length);
    expect(o.rateLimited).toBe(0);
    expect(o.elapsedMs).toBeLessThan(pacedMs / 3);
  });

  test("with no figures given, concurrency grows until a 429, then the run paces at what the API admitted", async () => {
    const rows = texts(3_000);
    const tokens = rows.reduce((sum, t) => sum + emulatorTokenCount(t), 0);
    const o = await run({ ...LIMITS, enforcement: "token-bucket", burstSeconds: 1 }, rows);
    const bound = bucketBound(tokens, LIMITS.tokensPerMinute, 1, INPUT);
    expect(o.report.embedded).toBe(rows.length);
    const grown = Math.max(...o.events.map((e) => e.concurrency));
    expect(grown).toBeGreaterThan(4);
    expect(o.rateLimited).toBeGreaterThan(0);
    expect(o.rateLimited / o.requests).toBeLessThan(0.1);
    expect(o.elapsedMs / bound).toBeLessThan(1.25);
  });
});

/**
 * `ranges` backfills one after another against one emulator (as a queue worker embeds one key range
 * after another), each given `options()`; virtual time.
 */
async function runRanges(
  rateLimits: EmulatorRateLimits,
  rows: readonly string[],
  ranges: number,
  options: () => Partial<BackfillOptions>,
) {
  const { emulator, provider } = emulated(rateLimits);
  const per = Math.ceil(rows.length / ranges);
  const started = Date.now();
  const running = (async () => {
    let embedded = 0;
    for (let r = 0; r < ranges; r++) {
      const part = rows.slice(r * per, (r + 1) * per);
      const store = memoryStore({ rows: part.map((text, i) => ({ id: r * per + i + 1, text })) });
      embedded += (await backfill({ provider, store, ...options() })).embedded;
    }
    return embedded;
  })();
  return {
    embedded: await settle(running),
    elapsedMs: Date.now() - started,
    requests: emulator.stats.requests,
    rateLimited: emulator.stats.rateLimited,
  };
}

describe("runs sharing a pacing (sharedPacing)", () => {
  const bucket = { ...LIMITS, enforcement: "token-bucket", burstSeconds: 1 } as const;

  test("ten short runs one after another pace together: near the bound, no fresh burst per run", async () => {
    const rows = ROWS.slice(0, 750);
    const tokens = rows.reduce((sum, t) => sum + emulatorTokenCount(t), 0);
    let pacing: ReturnType<typeof sharedPacing> | undefined;
    const shared = await runRanges(bucket, rows, 10, () => {
      // Made in the first run, once the fake clock is installed.
      pacing ??= sharedPacing(LIMITS);
      return { pacing };
    });
    const bound = bucketBound(tokens, LIMITS.tokensPerMinute, 1, INPUT);
    expect(shared.embedded).toBe(rows.length);
    // A 429 or two while the burst is learned, as for one run.
    expect(shared.rateLimited).toBeLessThanOrEqual(2);
    expect(shared.elapsedMs / bound).toBeLessThan(1.15);
    // Each run pacing on its own starts with a full burst allowance while the API's bucket is empty.
    const alone = await runRanges(bucket, rows, 10, () => LIMITS);
    expect(alone.embedded).toBe(rows.length);
    console.log(
      `ten runs: shared pacing ${shared.rateLimited}/${shared.requests} refused in ${shared.elapsedMs} ms; own pacing ${alone.rateLimited}/${alone.requests} in ${alone.elapsedMs} ms (bound ${Math.round(bound)} ms)`,
    );
    expect(alone.rateLimited).toBeGreaterThan(shared.rateLimited + 5);
  });

  test("a pacing's figures are the run's: giving them again, or a pacing made elsewhere, is refused", async () => {
    const provider = voyageProvider({ model: "voyage-3.5", apiKey: "pa-pacing-test" });
    const store = memoryStore({ rows: [] });
    const pacing = sharedPacing({ tokensPerMinute: 1_000_000 });
    expect(pacing).toEqual({ requestsPerMinute: Number.POSITIVE_INFINITY, tokensPerMinute: 1_000_000 });
    const refused = (options: Partial<BackfillOptions>) =>
      backfill({ provider, store, ...options }).then(
        () => undefined,
        (error: unknown) => (InvalidOptionError.isInstance(error) ? error.option : error),
      );
    expect(await refused({ pacing, requestsPerMinute: 2_000 })).toBe("requestsPerMinute");
    expect(await refused({ pacing, tokensPerMinute: 1_000_000 })).toBe("tokensPerMinute");
    expect(await refused({ pacing: { ...pacing } })).toBe("pacing");
    expect(() => sharedPacing({ requestsPerMinute: 0 })).toThrow(InvalidOptionError);
    expect(() => sharedPacing({ tokensPerMinute: Number.NaN })).toThrow(/tokensPerMinute/);
    expect((await backfill({ provider, store, pacing })).embedded).toBe(0);
  });
});
