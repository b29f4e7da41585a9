import { afterEach, describe, expect, test, vi } from "vitest";
import {
  APICallError,
  BackfillError,
  type BackfillProgress,
  backfill,
  consoleReporter,
  DimensionMismatchError,
  hashText,
  InvalidOptionError,
  InvalidResponseError,
} from "../../src/index.js";
import { deterministicEmbedding, memoryStore, scriptedProvider } from "../../src/testing/index.js";
import { apiError, deferred, rows, storeWith } from "./helpers.js";

afterEach(() => {
  vi.useRealTimers();
});

const fast = { retryMinDelayMs: 1, retryMaxDelayMs: 5 };

describe("batching", () => {
  test("embeds every pending row once, in batches within the provider's count and token limits", async () => {
    const store = storeWith(230);
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 50, maxTokensPerRequest: 600 } });
    const estimate = (t: string) => Math.ceil(Buffer.byteLength(t) / 3);
    const report = await backfill({ provider, store });

    expect(store.records.size).toBe(230);
    const sent = provider.calls.flatMap((c) => c.texts);
    expect(sent).toHaveLength(230);
    expect(new Set(sent).size).toBe(230);
    for (const call of provider.calls) {
      expect(call.texts.length).toBeLessThanOrEqual(50);
      expect(call.texts.reduce((s, t) => s + estimate(t), 0)).toBeLessThanOrEqual(600);
    }
    expect(report).toMatchObject({ scanned: 230, embedded: 230, failed: 0, requests: provider.calls.length });
    for (const [id, record] of store.records) {
      const text = store.rows.get(id)!.text;
      expect(record.hash).toBe(hashText(text));
      expect([...record.embedding]).toEqual([...deterministicEmbedding(text, 8)]);
    }
  });

  test("user caps lower the batch size; a cap above the provider's limit is refused", async () => {
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 50 } });
    await backfill({ provider, store: storeWith(25), maxInputsPerRequest: 10 });
    expect(provider.calls.map((c) => c.texts.length)).toEqual([10, 10, 5]);
    await expect(backfill({ provider, store: storeWith(1), maxInputsPerRequest: 51 })).rejects.toThrow(
      /`maxInputsPerRequest`.*limit of 50/,
    );
  });

  test("a custom token estimator drives the plan", async () => {
    const provider = scriptedProvider({ limits: { maxTokensPerRequest: 10 } });
    await backfill({ provider, store: storeWith(9), estimateTokens: () => 5 });
    expect(provider.calls.map((c) => c.texts.length)).toEqual([2, 2, 2, 2, 1]);
  });

  test("identical texts are embedded once and billed once", async () => {
    const store = storeWith(300, (i) => `duplicate text ${i % 7}`);
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 4 } });
    const report = await backfill({ provider, store });
    const sent = provider.calls.flatMap((c) => c.texts);
    expect(sent.sort()).toEqual(Array.from({ length: 7 }, (_, i) => `duplicate text ${i}`).sort());
    expect(store.records.size).toBe(300);
    expect(report.deduplicated).toBe(293);
    expect(report.tokens).toBe(provider.answer(sent).usage!.tokens);
  });

  test("repeats far apart are served from the cache, repeats with the cache off only if in flight together", async () => {
    const text = (i: number) => (i % 100 === 1 ? "the same skill" : `skill ${i}`);
    const cached = scriptedProvider({ limits: { maxInputsPerRequest: 10 } });
    await backfill({ provider: cached, store: storeWith(500, text), concurrency: 1 });
    expect(cached.calls.flatMap((c) => c.texts).filter((t) => t === "the same skill")).toHaveLength(1);

    const uncached = scriptedProvider({ limits: { maxInputsPerRequest: 10 } });
    const store = storeWith(500, text);
    await backfill({ provider: uncached, store, concurrency: 1, dedupeCacheSize: 0 });
    expect(uncached.calls.flatMap((c) => c.texts).filter((t) => t === "the same skill")).toHaveLength(5);
    expect(store.records.size).toBe(500);
  });

  test("empty and white-space inputs are never sent and are reported as skipped", async () => {
    const store = memoryStore({
      rows: [
        { id: 1, text: "real text" },
        { id: 2, text: "" },
        { id: 3, text: " \n\t " },
        { id: 4, text: "more text" },
      ],
    });
    const provider = scriptedProvider();
    const report = await backfill({ provider, store });
    expect(provider.calls.flatMap((c) => c.texts)).toEqual(["real text", "more text"]);
    expect(report.skippedByReason.empty_input).toBe(2);
    expect(report.skippedRows).toEqual([
      { id: 2, reason: "empty_input" },
      { id: 3, reason: "empty_input" },
    ]);
    expect([...store.records.keys()].sort()).toEqual([1, 4]);
  });

  test("lone surrogates are replaced before sending; the stored hash is of the row's own text", async () => {
    const store = memoryStore({ rows: [{ id: 1, text: "broken \ud800 pair" }] });
    const provider = scriptedProvider();
    await backfill({ provider, store });
    expect(provider.calls[0]!.texts).toEqual(["broken \ufffd pair"]);
    expect(store.records.get(1)!.hash).toBe(hashText("broken \ud800 pair"));
  });

  test("a second run on unchanged data makes no request; a changed row, model or version is re-embedded", async () => {
    const store = storeWith(20);
    await backfill({ provider: scriptedProvider(), store });
    const again = scriptedProvider();
    const report = await backfill({ provider: again, store });
    expect(again.calls).toHaveLength(0);
    expect(report).toMatchObject({ pending: 0, scanned: 0, embedded: 0 });

    store.rows.set(5, { id: 5, text: "edited" });
    const edited = scriptedProvider();
    await backfill({ provider: edited, store });
    expect(edited.calls.flatMap((c) => c.texts)).toEqual(["edited"]);

    const newModel = scriptedProvider({ model: "scripted-2" });
    expect((await backfill({ provider: newModel, store, reembed: "missing" })).embedded).toBe(0);
    expect((await backfill({ provider: newModel, store })).embedded).toBe(20);
  });
});

describe("pipeline", () => {
  test("requests in flight never exceed `concurrency`", async () => {
    const provider = scriptedProvider({ latencyMs: 5, limits: { maxInputsPerRequest: 5 } });
    await backfill({ provider, store: storeWith(200), concurrency: 3 });
    expect(provider.maxInFlight).toBe(3);
  });

  test("providers without parallel calls get one request at a time", async () => {
    const provider = scriptedProvider({
      latencyMs: 2,
      limits: { maxInputsPerRequest: 5 },
      supportsParallelCalls: false,
    });
    await backfill({ provider, store: storeWith(40), concurrency: 8 });
    expect(provider.maxInFlight).toBe(1);
  });

  test("writing batch k overlaps embedding batch k+1", async () => {
    const store = storeWith(20);
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 10 } });
    const secondCallStarted = deferred();
    provider.script(
      (texts) => provider.answer(texts),
      (texts) => {
        secondCallStarted.resolve();
        return provider.answer(texts);
      },
    );
    let overlapped = false;
    store.beforeWrite = async () => {
      if (store.writes.length === 1) {
        // The first write waits until the second request has started: it cannot finish otherwise.
        await secondCallStarted.promise;
        overlapped = true;
      }
    };
    await backfill({ provider, store, concurrency: 1 });
    expect(overlapped).toBe(true);
    expect(store.records.size).toBe(20);
  });

  test("batches that finish while a write runs go together in the next write", async () => {
    const store = storeWith(50);
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 5 } });
    const release = deferred();
    store.beforeWrite = async () => {
      // The first write waits until three more batches have been answered.
      if (store.writes.length === 1) await release.promise;
    };
    const run = backfill({ provider, store, concurrency: 4 });
    await vi.waitFor(() => expect(provider.calls.length).toBeGreaterThanOrEqual(4));
    await new Promise((resolve) => setImmediate(resolve));
    release.resolve();
    const report = await run;
    expect(report.embedded).toBe(50);
    const sizes = store.writes.map((w) => w.length);
    expect(sizes[0]).toBe(5);
    expect(sizes[1]).toBeGreaterThanOrEqual(15);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(50);
  });

  test("memory follows the pipeline: the scan is not read ahead of the requests", async () => {
    const inner = storeWith(5_000);
    let pagesRead = 0;
    const gate = deferred();
    const store = {
      ...inner,
      async *scan(options: Parameters<typeof inner.scan>[0]) {
        for await (const page of inner.scan(options)) {
          pagesRead++;
          yield page;
        }
      },
    };
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 10 } });
    const blocked = async (texts: readonly string[]) => {
      await gate.promise;
      return provider.answer(texts);
    };
    for (let i = 0; i < 11; i++) provider.script(blocked);
    const run = backfill({ provider, store, concurrency: 2, pageSize: 10 });
    await new Promise((r) => setTimeout(r, 50));
    // Two requests in flight and one batch being planned: three pages, not five hundred.
    expect(pagesRead).toBeLessThanOrEqual(4);
    gate.resolve();
    await run;
    expect(pagesRead).toBe(500);
  });
});

describe("retries", () => {
  test("retries 408/409/429/5xx, dropped connections and timeouts, then succeeds", async () => {
    const provider = scriptedProvider();
    provider.script(
      apiError(500),
      apiError(502),
      apiError(503),
      apiError(504),
      apiError(408),
      apiError(409),
      apiError(undefined, { reason: "connection" }),
      apiError(undefined, { reason: "timeout" }),
    );
    const store = storeWith(3);
    const report = await backfill({ provider, store, ...fast, retries: 8 });
    expect(provider.calls).toHaveLength(9);
    expect(report).toMatchObject({ embedded: 3, retries: 8, requests: 9 });
  });

  test.each([
    ["400", apiError(400)],
    ["401", apiError(401)],
    ["403", apiError(403)],
    ["404", apiError(404)],
    ["quota", apiError(429, { reason: "quota_exceeded" })],
    ["unknown error", new TypeError("bug in a provider")],
  ])("never retries %s: fails fast with a BackfillError naming the rows", async (_name, error) => {
    const provider = scriptedProvider();
    provider.script(error);
    const store = storeWith(3);
    const failure = await backfill({ provider, store, ...fast }).catch((e) => e);
    expect(BackfillError.isInstance(failure)).toBe(true);
    expect(failure).toBeInstanceOf(BackfillError);
    expect(failure.cause).toBe(error);
    expect(failure.rowIds).toEqual([1, 2, 3]);
    expect(failure.message).toMatch(/Failed rows: 1, 2, 3/);
    expect(provider.calls).toHaveLength(1);
    expect(store.records.size).toBe(0);
  });

  test("gives up after `retries` and reports the last error", async () => {
    const provider = scriptedProvider();
    provider.script(apiError(503), apiError(503), apiError(500));
    const failure = await backfill({ provider, store: storeWith(1), ...fast, retries: 2 }).catch((e) => e);
    expect(provider.calls).toHaveLength(3);
    expect(failure.cause.status).toBe(500);
    expect(failure.report.retries).toBe(2);
  });

  test("a request refused as too large is split, never repeated as is", async () => {
    const provider = scriptedProvider();
    provider.script(
      apiError(400, { reason: "request_too_large" }),
      apiError(400, { reason: "request_too_large" }),
    );
    const store = storeWith(8);
    const report = await backfill({ provider, store, ...fast });
    expect(provider.calls.map((c) => c.texts.length)).toEqual([8, 4, 2, 2, 4]);
    expect(store.records.size).toBe(8);
    expect(report.retries).toBe(0);
  });

  test("a single input refused as too long is skipped with its reason, the rest is written", async () => {
    const provider = scriptedProvider({ truncates: false });
    provider.script((texts) => {
      if (texts.some((t) => t.startsWith("huge"))) throw apiError(400, { reason: "request_too_large" });
      return provider.answer(texts);
    });
    for (let i = 0; i < 5; i++) {
      provider.script((texts) => {
        if (texts.some((t) => t.startsWith("huge"))) throw apiError(400, { reason: "request_too_large" });
        return provider.answer(texts);
      });
    }
    const store = memoryStore({
      rows: [
        { id: 1, text: "fine" },
        { id: 2, text: "huge text" },
        { id: 3, text: "also fine" },
      ],
    });
    const report = await backfill({ provider, store });
    expect(report.skippedRows).toEqual([{ id: 2, reason: "input_too_long" }]);
    expect([...store.records.keys()].sort()).toEqual([1, 3]);
  });

  test("a row refused as too long is remembered at its text: later runs skip it (refused_before) without a request, until its text changes or retryRefused", async () => {
    const provider = scriptedProvider({ truncates: false });
    const refuseHuge = () =>
      provider.script((texts) => {
        if (texts.some((t) => t.startsWith("huge"))) throw apiError(400, { reason: "request_too_large" });
        return provider.answer(texts);
      });
    for (let i = 0; i < 20; i++) refuseHuge();
    const store = memoryStore({
      rows: [
        { id: 1, text: "fine" },
        { id: 2, text: "huge text" },
        { id: 3, text: "also fine" },
      ],
    });
    const first = await backfill({ provider, store });
    expect(first.skippedRows).toEqual([{ id: 2, reason: "input_too_long" }]);
    expect(store.refusals.get(2)?.get("scripted-1")).toBe(hashText("huge text"));

    const sentHuge = () => provider.calls.filter((c) => c.texts.some((t) => t.startsWith("huge"))).length;
    const before = provider.calls.length;
    const refusedOnce = sentHuge();
    const chunks: string[] = [];
    const onProgress = consoleReporter({ stream: { isTTY: false, write: (c: string) => chunks.push(c) } });
    const dry = await backfill({ provider, store, dryRun: true });
    const second = await backfill({ provider, store, onProgress });
    expect(provider.calls.length).toBe(before);
    expect(second).toMatchObject({ pending: 1, scanned: 1, skipped: 1, requests: 0, embedded: 0 });
    expect(second.skippedRows).toEqual([{ id: 2, reason: "refused_before" }]);
    expect(second.skippedByReason.refused_before).toBe(1);
    expect(dry).toMatchObject({
      requests: 0,
      estimatedTokens: 0,
      skippedRows: [{ id: 2, reason: "refused_before" }],
    });
    expect(chunks.join("")).toContain(
      "1 skipped (1 refused before as too long: retryRefused sends it again)",
    );
    expect(await store.coverage({ model: "scripted-1" })).toMatchObject({ embedded: 2, missing: 1 });

    // Asked to retry: sent (and refused) again.
    const retried = await backfill({ provider, store, retryRefused: true });
    expect(retried.skippedRows).toEqual([{ id: 2, reason: "input_too_long" }]);
    expect(sentHuge()).toBe(refusedOnce + 1); // alone: the other rows are current

    // Another text is another question: sent, and written once it fits; the refusal is forgotten.
    store.rows.set(2, { id: 2, text: "huge, and edited" });
    expect((await backfill({ provider, store })).skippedRows).toEqual([{ id: 2, reason: "input_too_long" }]);
    expect(store.refusals.get(2)?.get("scripted-1")).toBe(hashText("huge, and edited"));
    store.rows.set(2, { id: 2, text: "short now" });
    expect(await backfill({ provider, store })).toMatchObject({ embedded: 1, skipped: 0 });
    expect(store.refusals.get(2)?.has("scripted-1")).toBe(false);
    expect(sentHuge()).toBe(refusedOnce + 2);
  });
});

describe("rate limits", () => {
  test("`minIntervalMs` spaces the starts of requests", async () => {
    vi.useFakeTimers();
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 1 } });
    const run = backfill({ provider, store: storeWith(4), minIntervalMs: 150 });
    await vi.advanceTimersByTimeAsync(1_000);
    await run;
    const starts = provider.calls.map((c) => c.startedAt);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(150);
  });

  test("`requestsPerMinute` holds the third request of a 2-per-minute budget for a minute", async () => {
    vi.useFakeTimers();
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 1 } });
    const run = backfill({ provider, store: storeWith(3), requestsPerMinute: 2 });
    await vi.advanceTimersByTimeAsync(59_000);
    expect(provider.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2_000);
    await run;
    expect(provider.calls).toHaveLength(3);
  });

  test("`tokensPerMinute` paces requests by estimated tokens", async () => {
    vi.useFakeTimers();
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 1 } });
    // 160-byte texts: the provider bills 40 tokens each, as estimated (calibration keeps ~42).
    const store = storeWith(3, (i) => `${"x".repeat(159)}${i}`);
    const run = backfill({ provider, store, tokensPerMinute: 100, estimateTokens: () => 40 });
    await vi.advanceTimersByTimeAsync(30_000);
    // Two requests fit in 100 tokens; the third waits for the sliding window to free.
    expect(provider.calls.length).toBeLessThanOrEqual(2);
    await vi.advanceTimersByTimeAsync(120_000);
    await run;
    expect(provider.calls).toHaveLength(3);
  });

  test("a 429 pauses every request for its Retry-After, lowers no concurrency and starts no growing backoff", async () => {
    vi.useFakeTimers();
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 1 } });
    provider.script(apiError(429, { retryAfterMs: 5_000 }));
    const events: BackfillProgress[] = [];
    const run = backfill({
      provider,
      store: storeWith(40),
      concurrency: 4,
      onProgress: (e) => events.push(e),
      retryMinDelayMs: 10,
    });
    await vi.advanceTimersByTimeAsync(4_000);
    const before = provider.calls.length;
    await vi.advanceTimersByTimeAsync(600);
    expect(provider.calls.length).toBe(before);
    await vi.advanceTimersByTimeAsync(60_000);
    const report = await run;
    expect(report.rateLimited).toBe(1);
    expect(report.embedded).toBe(40);
    const retry = events.find((e) => e.type === "retry")!;
    expect(retry.concurrency).toBe(4);
    expect(Math.min(...events.map((e) => e.concurrency))).toBe(4);
    // Once the pause is over, everything goes at once again: no backoff of its own.
    expect(provider.calls.at(-1)!.startedAt - provider.calls[1]!.startedAt).toBeLessThan(5_100);
  });

  test("429s without Retry-After each wait the first backoff delay, not a growing one", async () => {
    vi.useFakeTimers();
    const provider = scriptedProvider();
    provider.script(apiError(429), apiError(429), apiError(429), apiError(429));
    const run = backfill({ provider, store: storeWith(1), retryMinDelayMs: 1_000, retryMaxDelayMs: 60_000 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect((await run).rateLimited).toBe(4);
    const starts = provider.calls.map((c) => c.startedAt);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    expect(gaps).toEqual([1_000, 1_000, 1_000, 1_000]);
  });

  test("429s do not use up `retries`", async () => {
    const provider = scriptedProvider();
    provider.script(apiError(429), apiError(429), apiError(429));
    const report = await backfill({ provider, store: storeWith(2), retries: 1, ...fast });
    expect(report).toMatchObject({ embedded: 2, rateLimited: 3, retries: 3 });
  });
});

describe("validation of answers", () => {
  test.each([
    [
      "too few vectors",
      (p: ReturnType<typeof scriptedProvider>) => (t: readonly string[]) => ({
        embeddings: p.answer(t).embeddings.slice(1),
      }),
      InvalidResponseError,
    ],
    [
      "wrong dimension",
      () => (t: readonly string[]) => ({ embeddings: t.map(() => new Float32Array(7)) }),
      DimensionMismatchError,
    ],
    [
      "NaN",
      () => (t: readonly string[]) => ({ embeddings: t.map(() => [Number.NaN, 0, 0, 0, 0, 0, 0, 0]) }),
      InvalidResponseError,
    ],
    [
      "Infinity after float4",
      () => (t: readonly string[]) => ({ embeddings: t.map(() => [1e300, 0, 0, 0, 0, 0, 0, 0]) }),
      InvalidResponseError,
    ],
    [
      "a string",
      () => (t: readonly string[]) => ({
        embeddings: t.map(() => ["1", 0, 0, 0, 0, 0, 0, 0] as unknown as number[]),
      }),
      InvalidResponseError,
    ],
  ])("%s: typed error, nothing of that batch written", async (_name, make, type) => {
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 3 } });
    provider.script((t) => provider.answer(t), make(provider));
    const store = storeWith(6);
    const failure = await backfill({ provider, store, concurrency: 1 }).catch((e) => e);
    expect(failure.cause).toBeInstanceOf(type);
    expect(failure.rowIds).toEqual([4, 5, 6]);
    expect([...store.records.keys()].sort()).toEqual([1, 2, 3]);
  });
});

describe("failure and commit modes", () => {
  test("per batch (default): what was written stays, and a re-run resumes where it stopped", async () => {
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 5 } });
    provider.script(
      (t) => provider.answer(t),
      (t) => provider.answer(t),
      apiError(400),
    );
    const store = storeWith(30);
    const failure = await backfill({ provider, store, concurrency: 1 }).catch((e) => e);
    expect(failure).toBeInstanceOf(BackfillError);
    expect(failure.rolledBack).toBe(false);
    expect(failure.report.embedded).toBe(10);
    // Fail fast: nothing was scheduled after the failure.
    expect(provider.calls).toHaveLength(3);
    expect(store.records.size).toBe(10);

    const resume = scriptedProvider({ limits: { maxInputsPerRequest: 5 } });
    const report = await backfill({ provider: resume, store });
    expect(report.embedded).toBe(20);
    expect(resume.calls.flatMap((c) => c.texts)).not.toContain(store.rows.get(1)!.text);
    expect(store.records.size).toBe(30);
  });

  test("in-flight work settles before the rejection", async () => {
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 5 } });
    const slow = deferred();
    provider.script(async (t) => {
      await slow.promise;
      return provider.answer(t);
    }, apiError(401));
    const store = storeWith(10);
    const run = backfill({ provider, store, concurrency: 2 }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 20));
    slow.resolve();
    const failure = await run;
    expect(failure.rowIds).toEqual([6, 7, 8, 9, 10]);
    expect([...store.records.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
  });

  test("atomic: one transaction, rolled back on any failure", async () => {
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 5 } });
    provider.script(
      (t) => provider.answer(t),
      (t) => provider.answer(t),
      apiError(400),
    );
    const store = storeWith(30);
    const failure = await backfill({ provider, store, concurrency: 1, atomic: true }).catch((e) => e);
    expect(failure.rolledBack).toBe(true);
    expect(failure.message).toMatch(/rolled back/);
    expect(store.records.size).toBe(0);
    expect(store.writes.length).toBeGreaterThan(0);
  });

  test("a store write failure stops the run with the batch's rows", async () => {
    const store = storeWith(10);
    store.beforeWrite = () => {
      throw new Error("disk full");
    };
    const failure = await backfill({ provider: scriptedProvider(), store }).catch((e) => e);
    expect(failure).toBeInstanceOf(BackfillError);
    expect(failure.rowIds).toHaveLength(10);
    expect(failure.message).toMatch(/disk full/);
  });

  test("whatever the store throws once the run started is a BackfillError with the report", async () => {
    const failing = (method: "coverage" | "release" | "prepare" | "transaction") => {
      const store = storeWith(4);
      const error = new Error(`raw ${method} error`);
      const fail = async () => {
        throw error;
      };
      Object.assign(store, { [method]: fail });
      return { store, error };
    };
    for (const method of ["coverage", "release", "prepare", "transaction"] as const) {
      const { store, error } = failing(method);
      const failure = await backfill({
        provider: scriptedProvider(),
        store,
        atomic: method === "transaction",
      }).catch((e) => e);
      expect(BackfillError.isInstance(failure), `${method}: ${failure}`).toBe(true);
      expect(failure.cause).toBe(error);
      expect(failure.report.embedded).toBe(method === "release" ? 4 : 0);
      expect(failure.rolledBack).toBe(method === "transaction");
      expect(failure.message).toMatch(
        method === "release"
          ? /^Backfill completed \(4 rows written\), then releasing/
          : /^Backfill stopped: raw/,
      );
    }
  });

  test("a rollback that fails after the run failed does not hide the run's error", async () => {
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 2 } });
    provider.script((t) => provider.answer(t), apiError(401));
    const store = storeWith(4);
    const transaction = store.transaction.bind(store);
    store.transaction = (work) =>
      transaction(work).catch(() => {
        throw new Error("write CONNECTION_CLOSED");
      });
    const failure = await backfill({ provider, store, atomic: true, concurrency: 1 }).catch((e) => e);
    expect(BackfillError.isInstance(failure)).toBe(true);
    expect(APICallError.isInstance(failure.cause)).toBe(true);
    expect(failure).toMatchObject({ rolledBack: true, rowIds: [3, 4] });
  });

  test("a text() that throws: the run stops naming the row; one that differs from itself is reported as such", async () => {
    const store = memoryStore({
      rows: rows(4),
      text: (row) => {
        if (row.id === 3) throw new Error("no text (row 3)");
        return row.text;
      },
    });
    const failure = await backfill({ provider: scriptedProvider(), store }).catch((e) => e);
    expect(failure).toMatchObject({ rowIds: [3], report: { failed: 1 } });
    expect(failure.message).toMatch(/\(row 3\)\. Failed rows: 3\. 0 rows were written/);

    let n = 0;
    const random = memoryStore({
      rows: rows(4),
      text: (row) => (row.id === 2 ? `${row.text} ${n++}` : row.text),
    });
    const report = await backfill({ provider: scriptedProvider(), store: random });
    expect(report.skippedRows).toEqual([{ id: 2, reason: "nondeterministic_text" }]);
    expect(report.skippedByReason.changed_during_run).toBe(0);
  });

  test("a row edited while its vector was in flight is not overwritten with its old text's vector", async () => {
    const store = storeWith(3);
    const provider = scriptedProvider();
    provider.script((texts) => {
      store.rows.set(2, { id: 2, text: "edited meanwhile" });
      return provider.answer(texts);
    });
    const report = await backfill({ provider, store });
    expect(report.skippedRows).toEqual([{ id: 2, reason: "changed_during_run" }]);
    expect(store.records.has(2)).toBe(false);
    const next = await backfill({ provider: scriptedProvider(), store });
    expect(next.embedded).toBe(1);
    expect([...store.records.get(2)!.embedding]).toEqual([...deterministicEmbedding("edited meanwhile", 8)]);
  });
});

describe("abort", () => {
  test("stops promptly, cancels the request in flight, writes no half batch", async () => {
    const controller = new AbortController();
    // A request that would take a minute: a run that settles sooner stopped on the abort.
    const provider = scriptedProvider({ latencyMs: 60_000, limits: { maxInputsPerRequest: 5 } });
    const store = storeWith(20);
    const started = Date.now();
    const run = backfill({ provider, store, signal: controller.signal }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 30));
    controller.abort(new Error("user stop"));
    const reason = await run;
    expect(reason.message).toBe("user stop");
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(store.records.size).toBe(0);
  });

  test("an already aborted signal rejects before anything happens", async () => {
    const provider = scriptedProvider();
    await expect(backfill({ provider, store: storeWith(1), signal: AbortSignal.abort("no") })).rejects.toBe(
      "no",
    );
    expect(provider.calls).toHaveLength(0);
  });

  test("an abort during backoff is not retried", async () => {
    const controller = new AbortController();
    const provider = scriptedProvider();
    provider.script(apiError(503));
    const run = backfill({
      provider,
      store: storeWith(1),
      signal: controller.signal,
      retryMinDelayMs: 5_000,
    }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 30));
    controller.abort("stop");
    expect(await run).toBe("stop");
    expect(provider.calls).toHaveLength(1);
  });
  test("the run's signal reaches coverage(): an abort while counting stops the run before any request", async () => {
    const controller = new AbortController();
    const provider = scriptedProvider();
    const store = storeWith(5);
    const counted = deferred<void>();
    const seen: unknown[] = [];
    store.coverage = (options) => {
      seen.push(options);
      counted.resolve();
      // A count that only an abort ends, as a long table scan would be.
      return new Promise((_, reject) =>
        options?.signal?.addEventListener("abort", () => reject(options.signal?.reason)),
      );
    };
    const run = backfill({ provider, store, signal: controller.signal }).catch((e) => e);
    await counted.promise;
    controller.abort("stop");
    expect(await run).toBe("stop");
    expect(seen).toEqual([
      { provider: provider.provider, model: provider.model, dimensions: 8, signal: controller.signal },
    ]);
    expect(provider.calls).toHaveLength(0);
  });
});

describe("dry run, progress and report", () => {
  test("dryRun reports rows, tokens and requests without calling the provider or writing", async () => {
    const store = storeWith(25, (i) => (i === 3 ? "" : `text ${i % 20}`));
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 10 } });
    const report = await backfill({ provider, store, dryRun: true, estimateTokens: () => 2 });
    expect(provider.calls).toHaveLength(0);
    expect(store.writes).toHaveLength(0);
    // 24 non-empty rows, 20 distinct texts (text 0 … text 19) of 2 tokens each, 10 per request.
    expect(report).toMatchObject({ dryRun: true, scanned: 25, skipped: 1, requests: 2, estimatedTokens: 40 });
    expect(report.deduplicated).toBe(4);
  });

  test("onProgress gets frozen events with growing counters, a rate and an ETA", async () => {
    const events: BackfillProgress[] = [];
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 10 }, latencyMs: 2 });
    await backfill({ provider, store: storeWith(50), concurrency: 1, onProgress: (e) => events.push(e) });
    expect(events[0]).toMatchObject({ type: "start", pending: 50, embedded: 0 });
    const batches = events.filter((e) => e.type === "batch");
    expect(batches).toHaveLength(5);
    expect(batches.map((e) => e.embedded)).toEqual([10, 20, 30, 40, 50]);
    expect(batches[0]!.ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(batches[0]!.etaMs).toBeGreaterThan(0);
    expect(batches.at(-1)!.etaMs).toBe(0);
    expect(Object.isFrozen(events[1])).toBe(true);
    expect(events.at(-1)!.type).toBe("done");
  });

  test("the report counts tokens, requests and duration", async () => {
    const provider = scriptedProvider({ limits: { maxInputsPerRequest: 4 } });
    const store = storeWith(10);
    const report = await backfill({ provider, store });
    const billed = provider.answer(provider.calls.flatMap((c) => c.texts)).usage!.tokens;
    expect(report).toMatchObject({ requests: 3, tokens: billed, embedded: 10, dryRun: false });
    expect(report.durationMs).toBeGreaterThanOrEqual(0);
  });
});

describe("options", () => {
  test.each([
    [{ concurrency: 0 }, "concurrency"],
    [{ concurrency: 1.5 }, "concurrency"],
    [{ reembed: "some" }, "reembed"],
    [{ inputType: "passage" }, "inputType"],
    [{ minIntervalMs: -1 }, "minIntervalMs"],
    [{ retries: -1 }, "retries"],
    [{ requestsPerMinute: 0 }, "requestsPerMinute"],
    [{ tokensPerMinute: Number.NaN }, "tokensPerMinute"],
    [{ pageSize: 0 }, "pageSize"],
    [{ dedupeCacheSize: -1 }, "dedupeCacheSize"],
    [{ retryMinDelayMs: 10, retryMaxDelayMs: 5 }, "retryMaxDelayMs"],
    [{ estimateTokens: 3 }, "estimateTokens"],
    [{ atomic: "yes" }, "atomic"],
    [{ maxTokensPerRequest: 1e9 }, "maxTokensPerRequest"],
  ])("%o is refused with an error naming `%s`, before any work", async (bad, option) => {
    const provider = scriptedProvider();
    const error = await backfill({ provider, store: storeWith(1), ...(bad as object) }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.option).toBe(option);
    expect(error.message).toContain(`\`${option}\``);
    expect(provider.calls).toHaveLength(0);
  });

  test("a missing provider or store is named", async () => {
    await expect(backfill({ store: storeWith(1) } as never)).rejects.toThrow(/`provider`/);
    await expect(backfill({ provider: scriptedProvider() } as never)).rejects.toThrow(/`store`/);
  });
});

describe("secrets", () => {
  test("a key-shaped string in a provider's error never reaches a message, a progress event or the report", async () => {
    // A provider not built on the provider kit, whose errors hold its key: the engine's last net,
    // which redacts anything shaped like a bearer token or a known API key.
    const key = "pa-test-very-secret-key-0123456789";
    const provider = scriptedProvider();
    provider.script(
      new APICallError(`upstream said: invalid key ${key}`, {
        provider: "scripted",
        model: "m",
        status: 503,
      }),
      new APICallError(`key ${key} rejected`, { provider: "scripted", model: "m", status: 401 }),
    );
    const events: BackfillProgress[] = [];
    const failure = await backfill({
      provider,
      store: storeWith(2),
      onProgress: (e) => events.push(e),
      ...fast,
    }).catch((e) => e);
    const seen = [
      failure.message,
      failure.cause.message,
      JSON.stringify(events),
      JSON.stringify(failure.report),
    ];
    for (const text of seen) expect(text).not.toContain(key);
    expect(failure.message).toContain("[redacted]");
  });
});
