/*
 * The crash cases, run by crash-pglite.test.ts and crash-server.test.ts (two files, so the two
 * backends' steps run side by side on vitest's two workers).
 *
 * Crashes: a backfill in a child process is killed with SIGKILL at seeded points (a request in
 * flight, a batch being written; on the real server also a random moment), on file-backed PGlite and
 * on the real server; before that, an atomic run is killed during its writes (it must leave nothing
 * behind) and a run fails cleanly on a refused key. The last run resumes and completes. After every
 * run: no duplicate or missing rows, and every stored vector is the embedding of its row's current
 * text. Every worker's whole output is searched for the API key.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { drizzle } from "drizzle-orm/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmulatorServer } from "../../src/testing/index.js";
import { createEmbeddingsEmulator } from "../../src/testing/index.js";
import type { AnyDb, TestDatabase } from "../support/index.js";
import {
  describeOnServer,
  type ItemRow,
  itemTables,
  resetEmulator,
  resetItems,
  seedRow,
  VOYAGE_KEY,
  verifyEmbeddings,
  writeTally,
} from "./harness.js";
import { type KillPoint, runWorker, SEED, seeded, type WorkerResult, workerOutput } from "./processes.js";

const ROWS = 160;
const tables = itemTables("crash");
const rows: ItemRow[] = Array.from({ length: ROWS }, (_, i) => seedRow(i + 1));
const OPTIONS = { maxInputsPerRequest: 20, concurrency: 2, pageSize: 50, retryMinDelayMs: 5 };
/* Every write statement sleeps a little, so a kill after `@write` lands inside the transaction. */
const SLOW_WRITES = `
  create function rel_slow_write() returns trigger language plpgsql as $$
  begin perform pg_sleep(0.03); return null; end $$;
  create trigger rel_slow_write after insert or update on rel_item_embeddings_crash
    for each statement execute function rel_slow_write();`;

const emulator = createEmbeddingsEmulator({ latency: { baseMs: 25 } });
let server: EmulatorServer;

/** The emulator the workers call, and the check of everything they printed; once per test file. */
function useCrashEmulator(file: string): void {
  writeTally(file);
  beforeAll(async () => {
    server = await emulator.listen();
  });
  afterAll(async () => {
    resetEmulator(emulator);
    await server.close();
    // Whatever the workers printed (reporter lines, errors): never the API key.
    expect(workerOutput.join("\n")).not.toContain(VOYAGE_KEY);
  });
}

/** How one backend is reached: by the workers, and by the test for checking. */
interface Backend {
  /** The worker's W_DB for run `i` (the real server alternates drivers). */
  worker(i: number): string;
  /** Runs `work` with a database on the data (PGlite: opened only while no worker runs). */
  use<T>(work: (db: AnyDb) => Promise<T>): Promise<T>;
}

/** Runs the worker, again while a killed predecessor's advisory lock has not yet been freed. */
async function run(
  backend: Backend,
  i: number,
  options: Record<string, unknown>,
  kill?: KillPoint,
): Promise<WorkerResult> {
  for (let attempt = 0; ; attempt++) {
    const result = await runWorker(
      { db: backend.worker(i), table: "crash", voyageURL: server.voyageBaseUrl, options },
      kill,
    );
    if (result.code !== 3 || attempt === 20) return result;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The kill points of one backend: a request in flight, a batch being written, a random moment. */
function killPoints(random: (min: number, max: number) => number, randomMoment: boolean): KillPoint[] {
  // The random moment goes first, while most rows are pending, so it lands before the run ends.
  const moment: KillPoint = { on: "embed", n: 1, delayMs: random(20, 100) };
  return [
    ...(randomMoment ? [moment] : []),
    { on: "embed", n: random(2, 3), delayMs: random(0, 15) },
    { on: "write", n: random(1, 2), delayMs: random(0, 20) },
  ];
}

/*
 * Each step waits for one worker process (two when a killed predecessor still held the lock): its
 * startup (tsx, the driver, PGlite's WASM) and its run. On a loaded 2-core machine that is seconds,
 * not the 30 s default budget of a whole test, so each step gets its own deadline for one process
 * and its retries. A deadline only catches a hang; nothing waits for it.
 */
const STEP_DEADLINE_MS = 120_000;

function crashTests(backend: () => Backend, options: { randomMoment: boolean }) {
  const random = seeded(SEED);
  const atomicKill: KillPoint = { on: "write", n: random(2, 4), delayMs: random(0, 10) };
  const kills = killPoints(random, options.randomMoment);
  // The steps run in order on one table; each starts from what the previous one left.
  let i = 0;
  let before = 0;

  it(
    `atomic SIGKILL ${JSON.stringify(atomicKill)} leaves nothing behind`,
    async () => {
      // All or nothing: killed during its writes, an atomic run leaves nothing behind.
      const atomic = await run(backend(), i++, { ...OPTIONS, atomic: true }, atomicKill);
      expect(atomic.killed, atomic.output).toBe(true);
      expect(await backend().use((db) => verifyEmbeddings(db, tables))).toMatchObject({
        rows: ROWS,
        current: 0,
      });
    },
    STEP_DEADLINE_MS,
  );

  it(
    "a refused key fails cleanly, keeping what was written",
    async () => {
      // A clean failure: the worker prints the error as an application would (console.error).
      emulator.inject("invalid_key", { afterRequests: 1 });
      const refused = await run(backend(), i++, OPTIONS);
      expect(refused.code, refused.output).toBe(1);
      expect(refused.output).toMatch(/BackfillError[\s\S]*APICallError[\s\S]*authentication/);
      expect(refused.output).not.toContain(VOYAGE_KEY);
      before = (await backend().use((db) => verifyEmbeddings(db, tables))).current;
      expect(before).toBeGreaterThan(0);
    },
    STEP_DEADLINE_MS,
  );

  for (const kill of kills) {
    it(
      `SIGKILL ${JSON.stringify(kill)} loses no written row`,
      async () => {
        expect(before, "the steps before this one ran").toBeGreaterThan(0);
        const result = await run(backend(), i++, OPTIONS, kill);
        expect(
          result.killed,
          `${JSON.stringify(kill)} should land before the run ends:\n${result.output}`,
        ).toBe(true);
        const after = await backend().use((db) => verifyEmbeddings(db, tables));
        expect(after.rows).toBe(ROWS);
        expect(after.current).toBeGreaterThanOrEqual(before);
        before = after.current;
      },
      STEP_DEADLINE_MS,
    );
  }

  it(
    "the next run resumes and completes",
    async () => {
      expect(before, "the steps before this one ran").toBeGreaterThan(0);
      expect(before).toBeLessThan(ROWS);
      const last = await run(backend(), i++, OPTIONS);
      expect(last.code, last.output).toBe(0);
      // It resumed: only the rows still pending were embedded.
      expect(last.report).toMatchObject({ pending: ROWS - before, embedded: ROWS - before, failed: 0 });
      expect(await backend().use((db) => verifyEmbeddings(db, tables))).toMatchObject({
        rows: ROWS,
        current: ROWS,
      });
    },
    STEP_DEADLINE_MS,
  );
}

/** The steps on file-backed PGlite. */
export function pgliteCrashes(): void {
  useCrashEmulator("crash-pglite");
  describe("reliability: crashes [pglite, file-backed]", () => {
    const dir = mkdtempSync(join(tmpdir(), "relay-crash-"));
    const open = async <T>(work: (client: PGlite) => Promise<T>): Promise<T> => {
      const client = await PGlite.create(dir, { extensions: { vector } });
      try {
        return await work(client);
      } finally {
        await client.close();
      }
    };
    const backend: Backend = {
      worker: () => `pglite:${dir}`,
      use: (work) => open((client) => work(drizzle({ client }) as unknown as AnyDb)),
    };
    beforeAll(async () => {
      await open(async (client) => {
        await client.exec(`create extension if not exists vector; ${tables.ddl} ${SLOW_WRITES}`);
        await resetItems(drizzle({ client }) as unknown as AnyDb, tables, rows);
      });
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    crashTests(() => backend, { randomMoment: false });
  });
}

/** The steps on the real server, alternating node-postgres and postgres.js. */
export function serverCrashes(): void {
  useCrashEmulator("crash-server");
  describeOnServer("reliability: crashes", (database) => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await database.create();
      await t.exec(tables.ddl + SLOW_WRITES);
      await resetItems(t.db, tables, rows);
    });
    afterAll(() => t?.close());
    crashTests(
      () => ({
        worker: (i) => `${i % 2 === 0 ? "node-postgres" : "postgres.js"}:${t.url}`,
        use: (work) => work(t.db),
      }),
      { randomMoment: true },
    );
  });
}
