/*
 * backfill({ mode: "batch" }) over drizzleStore on every database, against the emulator's Files and
 * Batches endpoints (through MSW): the happy paths, wait:
 * false then a collecting run, failed lines, expiry, cancellation, bad output lines, a row edited
 * while its batch was pending, dry runs with cost, progress. Every run ends with the invariant check
 * of the reliability suite (each stored vector is the embedding of its row's text).
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it, it as vitestIt } from "vitest";
import { drizzleStore } from "../../adapters/drizzle/index.js";
import {
  BackfillError,
  type BackfillProgress,
  BatchLineError,
  backfill,
  consoleReporter,
} from "../../src/index.js";
import { emulatorTokenCount as tokensOf } from "../../src/testing/index.js";
import {
  type ItemRow,
  itemStore,
  itemTables,
  itemText,
  type KeyKind,
  OPENAI_MODEL,
  openai,
  queryRows,
  rejectionOf,
  resetItems,
  seedRow,
  useEmulator,
  verifyEmbeddings,
  voyage,
} from "../reliability/harness.js";
import {
  type AnyDb,
  type DatabaseFactory,
  describeEachDatabase,
  type TestDatabase,
} from "../support/index.js";

const ROWS = 24;
/** The reliability suite's store options on the `batch` tables, lock off (tests share connections). */
const itemStoreOptions = (db: AnyDb, keyed = itemTables("batch")) => {
  const { items, embeddings } = keyed;
  return {
    db,
    version: "1",
    lock: false,
    source: { table: items, key: items.id, text: itemText },
    target: {
      table: embeddings,
      key: embeddings.itemId,
      embedding: embeddings.embedding,
      model: embeddings.model,
      version: embeddings.modelVersion,
      hash: embeddings.inputHash,
    },
  };
};
const itemStoreFor = (db: AnyDb) => drizzleStore(itemStoreOptions(db));
const rows: ItemRow[] = Array.from({ length: ROWS }, (_, i) => seedRow(i + 1));
const tables = itemTables("batch");
/** Small lines and batches, fast polls: several batches of several lines from few rows. */
const BATCH = {
  mode: "batch",
  maxInputsPerRequest: 4,
  maxInputsPerBatch: 12,
  pollIntervalMs: 1,
  maxPollIntervalMs: 4,
  retryMinDelayMs: 1,
  retryMaxDelayMs: 5,
  pageSize: 10,
} as const;

/**
 * How much of the suite a driver gets: `"all"` on PGlite; on node-postgres the cases whose SQL or
 * concurrency differs on a server; on postgres.js (same SQL, other result shapes) the happy path.
 * Every driver takes the keys through the jobs table (each maps bigint, uuid and text its own way).
 * One database per driver for the whole file.
 */
type Coverage = "all" | "server" | "happy";

/** Keys that do not round-trip through JavaScript numbers or plain text: bigints past 2^53, uuids, texts full of quotes. */
const KEYS: Record<Exclude<KeyKind, "integer">, (i: number) => unknown> = {
  bigint: (i) => 9_007_199_254_740_993n + BigInt(i) * 1_000_000_007n,
  uuid: (i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
  text: (i) => [`k'${i}";--`, `{a,"b"} ${i}`, `$${i} %s \\x`, `😀 ${i}`][i % 4]!,
};

const suite = (coverage: Coverage) => (database: DatabaseFactory) => {
  /** A case for the drivers whose coverage is in `on` (always on PGlite). */
  const it = (name: string, fn: () => Promise<void>, on: readonly Coverage[] = ["all"]) =>
    on.includes(coverage) || coverage === "all" ? vitestIt(name, fn) : undefined;
  let t: TestDatabase;
  // One transport per file (MSW intercepts every fetch); the crash tests and the emulator's own
  // tests cover the loopback server.
  const msw = useEmulator("msw");
  const store = () => itemStore(t.db, tables);
  const jobsLeft = async () =>
    (await queryRows<{ n: number }>(t.db, sql`select count(*)::int as n from relay_embedding_batches`))[0]!.n;

  beforeAll(async () => {
    t = await database.create();
    await t.exec(tables.ddl);
    for (const kind of Object.keys(KEYS) as (keyof typeof KEYS)[]) {
      await t.exec(itemTables(`bkey_${kind}`, kind).ddl);
    }
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await resetItems(t.db, tables, rows);
    await t.exec(
      "do $$ begin if to_regclass('relay_embedding_batches') is not null then delete from relay_embedding_batches; end if; end $$",
    );
  });

  it("Voyage: uploads, waits, collects every batch; bills at 0.67 of realtime; deletes its files; a re-run has nothing to do", async () => {
    const e = msw.emulator;
    const events: BackfillProgress[] = [];
    const report = await backfill({
      ...BATCH,
      provider: voyage(msw.voyageBaseURL),
      store: store(),
      onProgress: (event) => events.push(event),
    });
    expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ rows: ROWS, current: ROWS });
    expect(report).toMatchObject({ pending: ROWS, embedded: ROWS, skipped: 0, failed: 0 });
    expect(report.batch).toMatchObject({
      submitted: { batches: 2, rows: ROWS, lines: 6 },
      collected: { batches: 2, rows: ROWS },
      inFlight: { batches: 0, rows: 0 },
      failedLines: 0,
    });
    const billed = rows.reduce((sum, row) => sum + tokensOf(itemText(row)), 0);
    expect(report.tokens).toBe(billed);
    expect(e.stats.batch).toMatchObject({
      uploads: 2,
      uploadedLines: 6,
      batchesCreated: 2,
      tokensBilled: billed,
    });
    expect(e.stats.batch.cost).toBeCloseTo(billed * 0.67);
    expect(e.stats.tokensBilled, "no realtime request").toBe(0);
    expect(e.storedFiles, "inputs and outputs deleted").toBe(0);
    expect(await jobsLeft()).toBe(0);
    expect(events.map((event) => event.type)).toEqual(
      expect.arrayContaining(["start", "submit", "poll", "collect", "batch", "done"]),
    );
    const polled = events.find((event) => event.type === "poll")!;
    expect(polled.batch).toMatchObject({ status: "completed", lines: 3 });

    const again = await backfill({ ...BATCH, provider: voyage(msw.voyageBaseURL), store: store() });
    expect(again).toMatchObject({ pending: 0, embedded: 0 });
    expect(again.batch?.submitted.batches).toBe(0);
  }, ["all", "server", "happy"]);

  it("OpenAI: wait: false submits and returns; the next run collects; bills at 0.5 of realtime", async () => {
    const e = msw.emulator;
    const submit = await backfill({
      ...BATCH,
      wait: false,
      provider: openai(msw.openaiBaseURL),
      store: store(),
    });
    expect(submit).toMatchObject({ embedded: 0 });
    expect(submit.batch).toMatchObject({
      submitted: { batches: 2, rows: ROWS },
      collected: { batches: 0 },
      inFlight: { batches: 2, rows: ROWS },
    });
    expect(await jobsLeft()).toBeGreaterThan(0);
    // A second submitting run uploads nothing: every pending row is in a batch in flight.
    const uploads = e.stats.batch.uploads;

    const collect = await backfill({ ...BATCH, provider: openai(msw.openaiBaseURL), store: store() });
    expect(e.stats.batch.uploads, "nothing uploaded twice").toBe(uploads);
    expect(collect.batch).toMatchObject({ submitted: { batches: 0 }, collected: { batches: 2, rows: ROWS } });
    expect(collect).toMatchObject({ embedded: ROWS });
    expect(await verifyEmbeddings(t.db, tables, { model: OPENAI_MODEL })).toMatchObject({ current: ROWS });
    const billed = rows.reduce((sum, row) => sum + tokensOf(itemText(row)), 0);
    expect(e.stats.batch.cost).toBeCloseTo(billed * 0.5);
    expect(e.storedFiles).toBe(0);
    expect(await jobsLeft()).toBe(0);
  }, ["all", "server"]);

  it("a second run while batches are in flight re-attaches to them and uploads nothing", async () => {
    const e = msw.emulator;
    // Both batches take a minute: still in flight at the next run.
    e.injectBatch({ type: "slow", turnaroundMs: 60_000 });
    e.injectBatch({ type: "slow", turnaroundMs: 60_000 });
    const first = await backfill({
      ...BATCH,
      wait: false,
      provider: voyage(msw.voyageBaseURL),
      store: store(),
    });
    expect(first.batch?.inFlight).toEqual({ batches: 2, rows: ROWS });
    const second = await backfill({
      ...BATCH,
      wait: false,
      provider: voyage(msw.voyageBaseURL),
      store: store(),
    });
    expect(e.stats.batch.uploads, "nothing uploaded twice").toBe(2);
    expect(e.stats.batch.batchesCreated).toBe(2);
    expect(second.batch).toMatchObject({
      submitted: { batches: 0, rows: 0 },
      collected: { batches: 0 },
      inFlight: { batches: 2, rows: ROWS },
    });
    expect(second.embedded).toBe(0);
  });

  it("failed lines, an expired and a cancelled batch: their rows go into new batches of the same run", async () => {
    const e = msw.emulator;
    e.injectBatch({ type: "fail_lines", lines: [2] });
    e.injectBatch({ type: "expire", completedLines: 1 });
    e.injectBatch({ type: "cancel", completedLines: 0 });
    const report = await backfill({ ...BATCH, provider: voyage(msw.voyageBaseURL), store: store() });
    expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: ROWS });
    expect(report).toMatchObject({ embedded: ROWS, failed: 0 });
    // Line 2 of the first batch (4 rows), lines 2-3 of the expired one (8 rows): resubmitted in round 2,
    // whose first batch is cancelled before any line: its rows go once more in round 3.
    expect(report.batch!.failedLines).toBeGreaterThanOrEqual(3);
    expect(report.batch!.unfinished).toBe(2);
    expect(e.stats.batch.linesFailed).toBeGreaterThanOrEqual(3);
    expect(e.storedFiles).toBe(0);
    expect(await jobsLeft()).toBe(0);
  }, ["all", "server"]);

  it("an upload or a batch refused for good stops the run and leaves no job and no file behind", async () => {
    const e = msw.emulator;
    // Request 1 is the upload, 2 the create.
    e.inject("forbidden", { afterRequests: 1 });
    const refused = await rejectionOf(
      backfill({ ...BATCH, maxInputsPerBatch: 100, provider: voyage(msw.voyageBaseURL), store: store() }),
    );
    expect(BackfillError.isInstance(refused)).toBe(true);
    expect((refused as BackfillError).cause).toMatchObject({ name: "APICallError", reason: "permission" });
    e.inject("forbidden");
    await rejectionOf(
      backfill({ ...BATCH, maxInputsPerBatch: 100, provider: voyage(msw.voyageBaseURL), store: store() }),
    );
    expect(e.stats.batch).toMatchObject({ uploads: 1, batchesCreated: 0 });
    expect(e.storedFiles, "the refused batch's file was deleted").toBe(0);
    expect(await jobsLeft()).toBe(0);
    const next = await backfill({ ...BATCH, provider: voyage(msw.voyageBaseURL), store: store() });
    expect(next).toMatchObject({ embedded: ROWS });
  });

  it("a run that died between creating a batch and recording it: the next run finds that batch and creates none", async () => {
    const e = msw.emulator;
    const dying = store();
    const update = dying.batchJobs.update.bind(dying.batchJobs);
    dying.batchJobs.update = async (jobId, changes) => {
      if (changes.state === "submitted") throw new Error("the process died here");
      return update(jobId, changes);
    };
    const options = { ...BATCH, maxInputsPerBatch: 100, provider: voyage(msw.voyageBaseURL) };
    await rejectionOf(backfill({ ...options, store: dying }));
    expect(e.stats.batch).toMatchObject({ uploads: 1, batchesCreated: 1 });
    const next = await backfill({ ...options, store: store() });
    expect(e.stats.batch).toMatchObject({ uploads: 1, batchesCreated: 1 });
    expect(next).toMatchObject({ embedded: ROWS });
  });

  it("rows of lines that keep failing stay pending after batchRounds", async () => {
    const e = msw.emulator;
    e.injectBatch({ type: "fail" });
    e.injectBatch({ type: "fail" });
    const messages: string[] = [];
    const report = await backfill({
      ...BATCH,
      maxInputsPerBatch: 100,
      batchRounds: 2,
      provider: voyage(msw.voyageBaseURL),
      store: store(),
      onProgress: (event) => {
        if (event.type === "collect" && event.message) messages.push(event.message);
      },
    });
    expect(report).toMatchObject({ embedded: 0, failed: 0 });
    expect(report.batch).toMatchObject({ submitted: { batches: 2 }, unfinished: 2 });
    expect(messages).toEqual([
      "invalid_file: The batch input file could not be processed.",
      "invalid_file: The batch input file could not be processed.",
    ]);
    expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 0, pending: ROWS });
    const next = await backfill({ ...BATCH, provider: voyage(msw.voyageBaseURL), store: store() });
    expect(next).toMatchObject({ embedded: ROWS });
  });

  for (const kind of ["wrong_dimension", "missing_custom_id", "unknown_custom_id"] as const) {
    it(
      `a bad output line (${kind}) is refused with a BatchLineError naming the batch and line; the rest is written`,
      async () => {
        const e = msw.emulator;
        e.injectBatch({ type: "bad_line", line: 2, kind });
        const error = await rejectionOf(
          backfill({ ...BATCH, maxInputsPerBatch: 100, provider: openai(msw.openaiBaseURL), store: store() }),
        );
        expect(BackfillError.isInstance(error)).toBe(true);
        const cause = (error as BackfillError).cause;
        expect(BatchLineError.isInstance(cause)).toBe(true);
        const lineError = cause as BatchLineError;
        expect(lineError.reason).toBe(kind === "wrong_dimension" ? "dimension_mismatch" : kind);
        expect(lineError.line).toBe(2);
        expect(lineError.batchId).toMatch(/^batch_/);
        expect(lineError.message).toContain(`line 2 of batch ${lineError.batchId}`);
        const verified = await verifyEmbeddings(t.db, tables, { model: OPENAI_MODEL });
        // One line of 4 rows is not written (for an unattributable line: the line it answered).
        expect(verified.current).toBe(ROWS - 4);
        expect(e.storedFiles, "the batch was still collected and its files deleted").toBe(0);
        const next = await backfill({ ...BATCH, provider: openai(msw.openaiBaseURL), store: store() });
        expect(next).toMatchObject({ embedded: 4 });
        expect(await verifyEmbeddings(t.db, tables, { model: OPENAI_MODEL })).toMatchObject({
          current: ROWS,
        });
      },
      kind === "unknown_custom_id" ? ["all", "server"] : ["all"],
    );
  }

  it("a store split into key ranges keeps each range's jobs apart: a range's run neither re-attaches to nor collects another's", async () => {
    const half = String(ROWS / 2);
    const ranges = [{ through: [half] }, { after: [half] }].map((range) => store().withKeyRange(range));
    const run = (range: number, wait: boolean) =>
      backfill({ ...BATCH, wait, provider: voyage(msw.voyageBaseURL), store: ranges[range]! });
    expect((await run(0, false)).batch?.inFlight.rows).toBe(ROWS / 2);
    // Range 1 submits its own rows: range 0's batches in flight are not its own.
    const second = await run(1, false);
    expect(second.batch).toMatchObject({ submitted: { rows: ROWS / 2 }, inFlight: { rows: ROWS / 2 } });
    expect(await run(1, true)).toMatchObject({
      embedded: ROWS / 2,
      batch: { collected: { rows: ROWS / 2 } },
    });
    expect(await jobsLeft(), "range 0's jobs are still waiting for range 0").toBeGreaterThan(0);
    expect(await run(0, true)).toMatchObject({ embedded: ROWS / 2 });
    expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ rows: ROWS, current: ROWS });
    expect(await jobsLeft()).toBe(0);
  });

  it("a row edited while its batch was pending is not overwritten with the old text's vector", async () => {
    await backfill({ ...BATCH, wait: false, provider: voyage(msw.voyageBaseURL), store: store() });
    const edited = { title: "item 3", body: "rewritten while its batch was pending" };
    await t.db.execute(sql.raw(`update rel_items_batch set body = '${edited.body}' where id = 3`));
    const report = await backfill({ ...BATCH, provider: voyage(msw.voyageBaseURL), store: store() });
    // Collected: row 3 refused by compare-and-set; then submitted again with its new text.
    expect(report.skippedByReason.changed_during_run).toBe(1);
    expect(report.batch?.submitted.rows).toBe(1);
    expect(await verifyEmbeddings(t.db, tables, { history: [itemText(rows[2]!)] })).toMatchObject({
      current: ROWS,
    });
  }, ["all", "server"]);

  it("dryRun states rows, tokens, request lines, batches and the cost in realtime and batch mode", async () => {
    const e = msw.emulator;
    const report = await backfill({
      ...BATCH,
      dryRun: true,
      pricePerMillionTokens: 0.02,
      provider: openai(msw.openaiBaseURL),
      store: store(),
    });
    expect(report).toMatchObject({ dryRun: true, pending: ROWS, scanned: ROWS, requests: 6, embedded: 0 });
    expect(report.batch?.submitted).toEqual({ batches: 2, rows: ROWS, lines: 6 });
    expect(report.cost!.realtime).toBeCloseTo((report.estimatedTokens / 1e6) * 0.02);
    expect(report.cost!.batch).toBeCloseTo(report.cost!.realtime * 0.5);
    expect(e.calls).toHaveLength(0);
  });

  it("consoleReporter shows batch status, lines and waiting time", async () => {
    let out = "";
    await backfill({
      ...BATCH,
      provider: voyage(msw.voyageBaseURL),
      store: store(),
      onProgress: consoleReporter({ mode: "lines", stream: { write: (chunk: string) => (out += chunk) } }),
    });
    expect(out).toMatch(/Submitted batch batch_\w+ \(3 lines/);
    expect(out).toMatch(/Batch batch_\w+ completed: 3\/3 lines/);
    expect(out).toMatch(/Collected batch batch_\w+/);
    expect(out).toMatch(/Backfill complete: 24 embedded/);
  });

  for (const [kind, key] of Object.entries(KEYS)) {
    it(`${kind} keys go through the jobs table and back exactly`, async () => {
      const keyed = itemTables(`bkey_${kind}`, kind as KeyKind);
      const seeded = Array.from({ length: 8 }, (_, i) => seedRow(i + 1, key(i + 1)));
      await resetItems(t.db, keyed, seeded);
      const run = (wait: boolean) =>
        backfill({ ...BATCH, wait, provider: voyage(msw.voyageBaseURL), store: itemStore(t.db, keyed) });
      expect((await run(false)).batch?.inFlight.rows).toBe(8);
      expect(await run(true)).toMatchObject({ embedded: 8 });
      expect(await verifyEmbeddings(t.db, keyed)).toMatchObject({ current: 8 });
    }, ["all", "server", "happy"]);
  }

  it("a text() that differs from itself for the same row: skipped as nondeterministic_text, as in realtime runs", async () => {
    let calls = 0;
    // Reads state outside the row (a counter here; a clock, Math.random, a Set's order in real code).
    const text = (row: ItemRow) => (row.id === 3 ? `${itemText(row)} #${calls++}` : itemText(row));
    const nondeterministic = itemStore(t.db, tables, { text });
    const report = await backfill({ ...BATCH, provider: voyage(msw.voyageBaseURL), store: nondeterministic });
    expect(report.skippedByReason).toMatchObject({ nondeterministic_text: 1, changed_during_run: 0 });
    expect(report.skippedRows).toEqual([{ id: 3, reason: "nondeterministic_text" }]);
    expect(report.embedded).toBe(ROWS - 1);
    expect(await jobsLeft()).toBe(0);
  });

  it("whatever the store throws once the run started is a BackfillError with the report, as in realtime runs", async () => {
    for (const method of ["prepare", "coverage", "release"] as const) {
      await resetItems(t.db, tables, rows);
      const failing = store();
      const error = new Error(`raw ${method} error`);
      Object.assign(failing, {
        [method]: async () => {
          throw error;
        },
      });
      const failure = await rejectionOf(
        backfill({ ...BATCH, provider: voyage(msw.voyageBaseURL), store: failing }),
      );
      expect(BackfillError.isInstance(failure), `${method}: ${failure}`).toBe(true);
      const { cause, report, message, rolledBack } = failure as BackfillError;
      expect(cause).toBe(error);
      expect(rolledBack).toBe(false);
      expect(report.embedded).toBe(method === "release" ? ROWS : 0);
      expect(report.batch).toBeDefined();
      expect(message).toMatch(
        method === "release"
          ? new RegExp(`^Backfill completed \\(${ROWS} rows written\\), then releasing the store failed: raw`)
          : /^Backfill stopped: raw \w+ error\. 0 rows were written/,
      );
    }
  });

  it("batchJobs.create: false refuses a missing table with a StoreError naming it", async () => {
    const store = drizzleStore({
      ...itemStoreOptions(t.db, itemTables("bkey_text", "text")),
      batchJobs: { table: "no_such_jobs", create: false },
    });
    const error = await rejectionOf(backfill({ ...BATCH, provider: voyage(msw.voyageBaseURL), store }));
    expect(error).toMatchObject({ name: "StoreError", reason: "schema" });
    expect((error as Error).message).toContain("no_such_jobs");
  });

  if (database.realServer) {
    vitestIt(
      "two transactions finishing the same line: only the first gets it, the second waits and gets none",
      async () => {
        const store = itemStoreFor(t.db);
        const target = { provider: "voyage", model: "voyage-3.5", dimensions: 256 };
        await store.batchJobs.prepare(target);
        await store.batchJobs.create(
          {
            id: "job-x",
            lines: [{ customId: "r1", done: false, items: [{ id: 1, hash: "h", position: 0 }] }],
          },
          target,
        );
        const other = await t.connect();
        try {
          const second = itemStoreFor(other.db);
          let release!: () => void;
          const held = new Promise<void>((resolve) => {
            release = resolve;
          });
          let firstGot: string[] = [];
          const first = store.transaction(async (tx) => {
            firstGot = await tx.batchJobs.finish("job-x", ["r1"]);
            await held;
          });
          while (firstGot.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
          const racing = second.transaction((tx) => tx.batchJobs.finish("job-x", ["r1"]));
          // Let the first commit only once the second is blocked on the line's row lock.
          const deadline = Date.now() + 10_000;
          for (;;) {
            const [row] = await queryRows<{ n: number }>(
              t.db,
              sql`select count(*)::int as n from pg_locks where not granted`,
            );
            if (row!.n > 0 || Date.now() > deadline) break;
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          release();
          await first;
          expect(firstGot).toEqual(["r1"]);
          expect(await racing).toEqual([]);
        } finally {
          await other.close();
          await store.batchJobs.remove("job-x");
        }
      },
    );
  }
};

describeEachDatabase("backfill({ mode: 'batch' })", suite("all"), { drivers: ["pglite"] });
describeEachDatabase("backfill({ mode: 'batch' })", suite("server"), { drivers: ["node-postgres"] });
describeEachDatabase("backfill({ mode: 'batch' })", suite("happy"), { drivers: ["postgres.js"] });

describe("backfill({ mode: 'batch' }) options", () => {
  it("refuses a provider without a batch API and a store without batch jobs, naming the option", async () => {
    const { scriptedProvider, memoryStore } = await import("../../src/testing/index.js");
    const error = await rejectionOf(
      backfill({ mode: "batch", provider: scriptedProvider(), store: memoryStore() }),
    );
    expect(error).toMatchObject({ name: "InvalidOptionError", option: "provider.batch" });
  });
});
