import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { drizzle as drizzlePostgresJs } from "drizzle-orm/postgres-js";
import pg from "pg";
import postgres from "postgres";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { type DrizzleStore, drizzleStore } from "../../../adapters/drizzle/index.js";
import { InvalidOptionError, StoreError } from "../../../src/errors/index.js";
import { type AnyDb, describeEachDatabase, type TestDatabase } from "../../support/index.js";
import { MODEL, partitionTables, skillText } from "./fixtures.js";
import { runBackfill } from "./helpers.js";

const { skills, skillEmbeddings, ddl } = partitionTables();
const ROWS = 300;
const WORKER = fileURLToPath(new URL("./partition-worker.ts", import.meta.url));

function store(db: AnyDb, partition?: { index: number; count: number }) {
  return drizzleStore(storeOptions(db, partition));
}

function storeOptions(db: AnyDb, partition?: { index: number; count: number }) {
  return {
    db,
    version: "1",
    partition,
    source: { table: skills, key: skills.id, text: skillText },
    target: {
      table: skillEmbeddings,
      key: skillEmbeddings.skillId,
      embedding: skillEmbeddings.embedding,
      model: skillEmbeddings.modelName,
      version: skillEmbeddings.modelVersion,
      hash: skillEmbeddings.inputHash,
    },
  };
}

async function rowsOf<T>(db: AnyDb, query: ReturnType<typeof sql>): Promise<T[]> {
  const result: unknown = await db.execute(query);
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** Every source row was written exactly once (the trigger logs each insert or update). */
async function expectEachRowWrittenOnce(db: AnyDb): Promise<void> {
  const [stats] = await rowsOf<{ writes: number; rows: number; embedded: number }>(
    db,
    sql`select (select count(*)::int from embedding_writes) as writes,
      (select count(distinct skill_id)::int from embedding_writes) as rows,
      (select count(*)::int from skill_embeddings_part) as embedded`,
  );
  expect(stats).toEqual({ writes: ROWS, rows: ROWS, embedded: ROWS });
}

function expectLocked(error: unknown, text: string): void {
  expect(StoreError.isInstance(error)).toBe(true);
  expect(error).toMatchObject({ reason: "locked" });
  expect((error as Error).message).toContain(text);
}

async function prepareError(s: DrizzleStore<unknown>): Promise<unknown> {
  return s.prepare(MODEL).then(
    () => undefined,
    (error: unknown) => error,
  );
}

describeEachDatabase("drizzleStore partitions", (database) => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await database.create();
    await t.exec(ddl);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await t.exec("truncate skills_part, skill_embeddings_part, embedding_writes cascade");
    await t.db.insert(skills).values(
      Array.from({ length: ROWS }, (_, i) => ({
        id: i + 1,
        name: `skill ${i}`,
        description: `d${i % 13}`,
      })),
    );
  });

  it("partitions run side by side embed every row exactly once", async () => {
    const count = 4;
    // A connection pool per worker, as separate processes would have (PGlite: one shared connection).
    const connections = await Promise.all(Array.from({ length: count }, () => t.connect()));
    try {
      const runs = await Promise.all(
        connections.map(({ db }, index) => runBackfill(store(db, { index, count }))),
      );
      const ids = runs.flatMap((run) => run.scanned);
      expect(new Set(ids).size).toBe(ROWS);
      expect(ids).toHaveLength(ROWS);
      for (const run of runs) expect(run.written).toBe(run.scanned.length);
      await expectEachRowWrittenOnce(t.db);
      expect(await store(t.db).coverage(MODEL)).toEqual({
        total: ROWS,
        embedded: ROWS,
        stale: 0,
        missing: 0,
      });
    } finally {
      await Promise.all(connections.map((connection) => connection.close()));
    }
  });

  if (database.realServer)
    it("advisory locks: one run per partition, and a whole-table run excludes partitions", async () => {
      const [a, b, c] = await Promise.all([t.connect(), t.connect(), t.connect()]);
      try {
        const whole = store(a.db);
        await whole.prepare(MODEL);
        expectLocked(await prepareError(store(b.db)), "Another process is embedding skill_embeddings_part");
        expectLocked(await prepareError(store(b.db, { index: 0, count: 2 })), "a run without partition");
        await whole.release();

        const first = store(a.db, { index: 0, count: 2 });
        const second = store(b.db, { index: 1, count: 2 });
        await first.prepare(MODEL);
        await second.prepare(MODEL);
        expectLocked(await prepareError(store(c.db, { index: 0, count: 2 })), "partition 0 of 2");
        expectLocked(await prepareError(store(c.db)), "Another process is embedding");
        await first.release();
        const again = store(c.db, { index: 0, count: 2 });
        await again.prepare(MODEL);
        await again.release();
        await second.release();

        const after = store(c.db);
        await after.prepare(MODEL);
        await after.release();
      } finally {
        await Promise.all([a.close(), b.close(), c.close()]);
      }
    });

  if (database.realServer)
    it("refuses to hold the only connection of a pool for the lock", async () => {
      const single =
        t.driver === "node-postgres"
          ? (() => {
              const pool = new pg.Pool({ connectionString: t.url, max: 1 });
              return { db: drizzleNodePg({ client: pool }) as unknown as AnyDb, close: () => pool.end() };
            })()
          : (() => {
              const client = postgres(t.url!, { max: 1, onnotice: () => {} });
              return { db: drizzlePostgresJs({ client }) as unknown as AnyDb, close: () => client.end() };
            })();
      try {
        const error = await prepareError(store(single.db));
        expect(InvalidOptionError.isInstance(error)).toBe(true);
        expect(error).toMatchObject({ option: "lock" });
        const unlocked = drizzleStore({ ...storeOptions(single.db), lock: false });
        expect((await runBackfill(unlocked)).written).toBe(ROWS);
      } finally {
        await single.close();
      }
    });

  if (database.realServer)
    it("worker processes, one per partition, embed every row exactly once", async () => {
      const count = 3;
      const outputs = await Promise.all(
        Array.from({ length: count }, (_, index) => runWorker(t, index, count)),
      );
      const ids = outputs.flatMap((output) => output.ids);
      expect(ids).toHaveLength(ROWS);
      expect(new Set(ids).size).toBe(ROWS);
      await expectEachRowWrittenOnce(t.db);
    });
});

function runWorker(
  t: TestDatabase,
  index: number,
  count: number,
): Promise<{ ids: number[]; written: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WORKER], {
      env: {
        ...process.env,
        WORKER_URL: t.url,
        WORKER_DRIVER: t.driver,
        WORKER_INDEX: String(index),
        WORKER_COUNT: String(count),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`worker ${index} exited ${code}: ${stderr}`));
      resolve(JSON.parse(stdout.trim().split("\n").pop()!));
    });
  });
}
