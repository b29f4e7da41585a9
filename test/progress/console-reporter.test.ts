import { describe, expect, test } from "vitest";
import { backfill, consoleReporter, type EmbeddingStore } from "../../src/index.js";
import { memoryStore, scriptedProvider } from "../../src/testing/index.js";

function capture(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns: 120, write: (c: string) => chunks.push(c) } };
}

const secretText = (i: number) => `confidential skill body ${i}`;
const store = () =>
  memoryStore({ rows: Array.from({ length: 30 }, (_, i) => ({ id: i + 1, text: secretText(i + 1) })) });

describe("consoleReporter", () => {
  test("lines mode prints the count found, a line per batch and a summary, never row texts", async () => {
    const { chunks, stream } = capture(false);
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 10 } });
    await backfill({ provider, store: store(), concurrency: 1, onProgress: consoleReporter({ stream }) });
    const out = chunks.join("");
    expect(out).toMatch(/^Found 30 rows to embed\n/);
    expect(out).toMatch(/\[10\/30\] [\d,]+ rows\/s · ETA .* · \d+ tokens · 0 retries\n/);
    expect(out).toMatch(/\[30\/30\]/);
    expect(out).toMatch(/Backfill complete: 30 embedded, 0 skipped, \d+ tokens, 3 requests in \d+s\n$/);
    expect(out).not.toContain("confidential");
  });

  test("a run with nothing to do says so, and counts are singular where they are one", async () => {
    const rows = memoryStore({ rows: [{ id: 1, text: "one skill" }] });
    await backfill({ provider: scriptedProvider(), store: rows });
    const { chunks, stream } = capture(false);
    await backfill({ provider: scriptedProvider(), store: rows, onProgress: consoleReporter({ stream }) });
    expect(chunks[0]).toBe("Nothing to embed: every row's embedding is current\n");
    const single = capture(false);
    await backfill({
      provider: scriptedProvider(),
      store: memoryStore({ rows: [{ id: 1, text: "x" }] }),
      onProgress: consoleReporter({ stream: single.stream }),
    });
    expect(single.chunks.join("")).toMatch(
      /Found 1 row to embed\n[\s\S]*1 embedded, 0 skipped, 1 token, 1 request in/,
    );
  });

  test("a store that counts while scanning is not asked for coverage; a lower bound or none is said so", async () => {
    /** The memory store, counting in its scan: `count` is what it tells (nothing when undefined). */
    const counting = (count: { rows: number; exact: boolean } | undefined) => {
      const inner = store();
      const wrapped: EmbeddingStore<number> = {
        ...inner,
        countsWhileScanning: true,
        coverage: () => Promise.reject(new Error("coverage() read the table a second time")),
        async *scan(options) {
          if (count) options.onCount?.(count);
          yield* inner.scan(options);
        },
      };
      return wrapped;
    };
    const run = async (count: { rows: number; exact: boolean } | undefined) => {
      const { chunks, stream } = capture(false);
      const report = await backfill({
        provider: scriptedProvider({ limits: { maxInputsPerRequest: 10 } }),
        store: counting(count),
        onProgress: consoleReporter({ stream }),
      });
      return { out: chunks.join(""), report };
    };
    const lower = await run({ rows: 12, exact: false });
    expect(lower.out).toMatch(
      /^Found at least 12 rows to embed \(missing, or of another model or version\); rows whose text changed are found while scanning\n/,
    );
    // The bound grows as the scan finds more: the last line counts all 30.
    expect(lower.out).toMatch(/\[30\/30\]/);
    expect(lower.report).toMatchObject({ embedded: 30, pending: 30, pendingCount: "at-least" });
    const exact = await run({ rows: 30, exact: true });
    expect(exact.out).toMatch(/^Found 30 rows to embed\n/);
    expect(exact.report).toMatchObject({ pending: 30, pendingCount: "exact" });
    const none = await run(undefined);
    expect(none.out).toMatch(/^Scanning for rows to embed \(not counted\)…\n/);
    expect(none.out).toMatch(/\[30\/\?\]/);
    expect(none.report).toMatchObject({ embedded: 30, pending: undefined, pendingCount: undefined });
  });

  test("rowLines prints the original script's [i/N] label lines", async () => {
    const { chunks, stream } = capture(false);
    await backfill({
      provider: scriptedProvider({ limits: { maxInputsPerRequest: 10 } }),
      store: store(),
      onProgress: consoleReporter({ stream, rowLines: true, label: (id) => `skill-${id}` }),
    });
    const rows = chunks.filter((c) => /^ {2}\[\d+\/30\] skill-\d+\n$/.test(c));
    expect(rows).toHaveLength(30);
    expect(rows[0]).toBe("  [1/30] skill-1\n");
  });

  test("bar mode redraws one line in place with percent, rate, ETA, tokens and retries", async () => {
    const { chunks, stream } = capture(true);
    await backfill({
      provider: scriptedProvider({ limits: { maxInputsPerRequest: 10 } }),
      store: store(),
      onProgress: consoleReporter({ stream, mode: "bar", redrawMs: 0 }),
    });
    const bars = chunks.filter((c) => c.startsWith("\r\x1b[2K█") || c.startsWith("\r\x1b[2K░"));
    expect(bars.length).toBeGreaterThanOrEqual(3);
    expect(bars.at(-1)).toMatch(/100\.0% 30\/30 · [\d,]+ rows\/s · ETA 0s · \d+ tokens · 0 retries/);
    expect(chunks.join("")).not.toContain("confidential");
  });

  test("auto mode prints plain lines when CI is set, even on a terminal", () => {
    const { chunks, stream } = capture(true);
    const saved = process.env.CI;
    process.env.CI = "true";
    try {
      const report = consoleReporter({ stream });
      report({
        type: "batch",
        pending: 4,
        scanned: 2,
        embedded: 2,
        deduplicated: 0,
        skipped: 0,
        failed: 0,
        tokens: 10,
        requests: 1,
        retries: 0,
        rateLimited: 0,
        elapsedMs: 1000,
        rowsPerSecond: 2,
        etaMs: 1000,
        concurrency: 4,
        ids: [1, 2],
      });
    } finally {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    }
    expect(chunks).toEqual(["[2/4] 2 rows/s · ETA 1s · 10 tokens · 0 retries\n"]);
  });

  test("a run split across workers: each line and the bar carry the ranges; dead ranges are named at the end", () => {
    const base = {
      pending: 100,
      scanned: 40,
      embedded: 40,
      deduplicated: 0,
      skipped: 0,
      failed: 10,
      tokens: 1234,
      requests: 8,
      retries: 1,
      rateLimited: 0,
      elapsedMs: 4000,
      rowsPerSecond: 10,
      etaMs: 6000,
      concurrency: 2,
    };
    const ranges = { total: 10, done: 4, running: 2, queued: 2, failed: 1, dead: 1 };
    const lines = capture(false);
    const report = consoleReporter({ stream: lines.stream });
    report({ ...base, type: "batch", ranges });
    report({ ...base, type: "done", ranges: { ...ranges, done: 9, running: 0, queued: 0, failed: 0 } });
    expect(lines.chunks).toEqual([
      "[40/100] 10 rows/s · ETA 6s · 1,234 tokens · 1 retries · ranges 4/10 done, 2 running, 1 to retry, 1 dead\n",
      "Backfill finished, some ranges failed: 40 embedded, 0 skipped, 1,234 tokens, 8 requests, 1 retry, 10 failed in 4s · ranges 9/10 done, 1 dead\n",
    ]);
    const bar = capture(true);
    consoleReporter({ stream: bar.stream, mode: "bar", redrawMs: 0 })({ ...base, type: "batch", ranges });
    expect(bar.chunks.join("")).toMatch(/ · 1 retries · ranges 4\/10 done, 2 running, 1 to retry, 1 dead$/);
  });
});
