/*
 * Batch mode killed with SIGKILL at its three delicate points, then re-run: right after a request
 * file is uploaded (before its id is recorded), right after a batch id is recorded, and in the middle
 * of an output file's download, on the real server (node-postgres and postgres.js workers taking
 * turns). Batch mode's durability is the jobs table's, written in the same transactions on every
 * database; a file-backed PGlite's own recovery after SIGKILL is the realtime crash tests' subject,
 * so its slow worker start (a WASM start and a data-directory load per process) is not spent here.
 * The emulator (in this process, over loopback) outlives the workers, as a provider outlives its
 * clients. After the last run: every row's vector is the embedding of its text, no request file was
 * uploaded twice for the same rows, no row was written twice (a trigger logs every write), every file
 * was deleted and the jobs table is empty.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { EmulatorServer } from "../../src/testing/index.js";
import { createEmbeddingsEmulator } from "../../src/testing/index.js";
import type { AnyDb, TestDatabase } from "../support/index.js";
import {
  describeOnServer,
  type ItemRow,
  itemTables,
  queryRows,
  resetItems,
  seedRow,
  VOYAGE_KEY,
  verifyEmbeddings,
  writeTally,
} from "./harness.js";
import { type KillPoint, runWorker, type WorkerResult, workerOutput } from "./processes.js";

writeTally("batch-crash");

const ROWS = 60;
const tables = itemTables("bcrash");
const rows: ItemRow[] = Array.from({ length: ROWS }, (_, i) => seedRow(i + 1));
/** 5 rows a line, 4 lines a batch: 3 batches; a write (and a line marked done) per line. */
const OPTIONS = {
  mode: "batch",
  maxInputsPerRequest: 5,
  maxInputsPerBatch: 20,
  pageSize: 5,
  pollIntervalMs: 1,
  maxPollIntervalMs: 5,
  retryMinDelayMs: 5,
};
const LINES = ROWS / 5;
/* Every write of a vector is logged: a row written twice would show two entries. */
const WRITE_LOG = `
  create table rel_write_log_bcrash (item_id integer not null);
  create function rel_log_write() returns trigger language plpgsql as $$
  begin insert into rel_write_log_bcrash values (new.item_id); return null; end $$;
  create trigger rel_log_write after insert or update on rel_item_embeddings_bcrash
    for each row execute function rel_log_write();`;

const emulator = createEmbeddingsEmulator();
let server: EmulatorServer;
beforeAll(async () => {
  server = await emulator.listen();
});
afterAll(async () => {
  await server.close();
  expect(workerOutput.join("\n")).not.toContain(VOYAGE_KEY);
});

interface Backend {
  worker(i: number): string;
  use<T>(work: (db: AnyDb) => Promise<T>): Promise<T>;
}

/** Runs the worker, again while a killed predecessor's advisory lock has not yet been freed. */
async function run(backend: Backend, i: number, kill?: KillPoint): Promise<WorkerResult> {
  for (let attempt = 0; ; attempt++) {
    const result = await runWorker(
      {
        db: backend.worker(i),
        table: "bcrash",
        voyageURL: server.voyageBaseUrl,
        options: OPTIONS,
        lineDelayMs: kill?.on === "line" ? 30 : 0,
      },
      kill,
    );
    if (result.code !== 3 || attempt === 20) return result;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const STEP_DEADLINE_MS = 120_000;

/** The three points, in order on one table: each run resumes what the previous one left. */
const ALL_KILLS: readonly { kill: KillPoint; uploads: number }[] = [
  { kill: { on: "upload", n: 1, delayMs: 0 }, uploads: 1 },
  { kill: { on: "recorded", n: 2, delayMs: 0 }, uploads: 2 },
  { kill: { on: "line", n: 2, delayMs: 5 }, uploads: 2 },
];

function batchCrashTests(backend: () => Backend, kills: readonly { kill: KillPoint; uploads: number }[]) {
  let i = 0;
  for (const { kill, uploads } of kills) {
    it(
      `SIGKILL ${JSON.stringify(kill)}: the next run re-attaches and uploads nothing twice`,
      async () => {
        const result = await run(backend(), i++, kill);
        expect(
          result.killed,
          `${JSON.stringify(kill)} should land before the run ends:\n${result.output}`,
        ).toBe(true);
        expect(emulator.stats.batch.uploads).toBe(uploads);
        const verified = await backend().use((db) => verifyEmbeddings(db, tables));
        expect(verified.rows).toBe(ROWS);
        if (kill.on === "line") {
          // Mid-download: some lines of the batch were written, not all.
          expect(verified.current).toBeGreaterThan(0);
          expect(verified.current).toBeLessThan(ROWS);
        }
      },
      STEP_DEADLINE_MS,
    );
  }

  it(
    "the last run completes: every row exact, written once; each line uploaded once; files deleted; no jobs left",
    async () => {
      const last = await run(backend(), i++);
      expect(last.code, last.output).toBe(0);
      const { verified, twice, written, jobs } = await backend().use(async (db) => ({
        verified: await verifyEmbeddings(db, tables),
        twice: await queryRows(
          db,
          sql`select item_id, count(*)::int as n from rel_write_log_bcrash group by item_id having count(*) > 1`,
        ),
        written: await queryRows<{ n: number }>(db, sql`select count(*)::int as n from rel_write_log_bcrash`),
        jobs: await queryRows<{ n: number }>(db, sql`select count(*)::int as n from relay_embedding_batches`),
      }));
      expect(verified).toMatchObject({ rows: ROWS, current: ROWS });
      expect(twice, "rows written more than once").toEqual([]);
      expect(written[0]!.n).toBe(ROWS);
      expect(emulator.stats.batch).toMatchObject({ uploads: 3, uploadedLines: LINES, batchesCreated: 3 });
      expect(emulator.storedFiles).toBe(0);
      expect(jobs[0]!.n).toBe(0);
    },
    STEP_DEADLINE_MS,
  );
}

describeOnServer("reliability: batch mode killed", (database) => {
  let t: TestDatabase;
  beforeAll(async () => {
    emulator.reset();
    t = await database.create();
    await t.exec(tables.ddl + WRITE_LOG);
    await resetItems(t.db, tables, rows);
  });
  afterAll(() => t?.close());
  batchCrashTests(
    () => ({
      worker: (i) => `${i % 2 === 0 ? "node-postgres" : "postgres.js"}:${t.url}`,
      use: (work) => work(t.db),
    }),
    ALL_KILLS,
  );
});
