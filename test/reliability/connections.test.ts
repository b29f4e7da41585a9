/*
 * Database connection faults on the real server, with each driver as an application sets it up
 * (a node-postgres Pool with `pool.on("error")`, a postgres.js pool), never the test kit's own
 * connections (which swallow errors): the run's lock connection terminated mid-run, connections
 * closed by `idle_session_timeout` and `idle_in_transaction_session_timeout`, an application
 * transaction holding a row the run must write while the run is aborted, a lock asked of a driver
 * that cannot hold one, and workers started with different partition counts.
 *
 * Each ends one way: the run completes, or it stops with a typed error (the host process alive, no
 * vector written without the lock), and the invariant of `verifyEmbeddings` holds.
 */
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { drizzle as drizzleProxy } from "drizzle-orm/pg-proxy";
import { drizzle as drizzlePostgresJs } from "drizzle-orm/postgres-js";
import pg from "pg";
import postgres from "postgres";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from "vitest";
import { BackfillError, backfill, type EmbeddingProvider, StoreError } from "../../src/index.js";
import { type AnyDb, describeEachDatabase, type TestDatabase } from "../support/index.js";
import {
  DIMENSIONS,
  itemStore,
  itemTables,
  rejectionOf,
  resetItems,
  seedRow,
  useEmulator,
  VOYAGE_MODEL,
  verifyEmbeddings,
  voyage,
  writeTally,
} from "./harness.js";

writeTally("connections");

const tables = itemTables("conn");
const ROWS = Array.from({ length: 12 }, (_, i) => seedRow(i + 1));

/** A provider that runs `before` once, before its first request is sent. */
function delayedFirst(provider: EmbeddingProvider, before: () => Promise<void>): EmbeddingProvider {
  let first: Promise<void> | undefined;
  return {
    ...provider,
    limits: provider.limits,
    embed: async (texts, options) => {
      first ??= before();
      await first;
      return provider.embed(texts, options);
    },
  };
}

describeEachDatabase(
  "reliability: connection faults",
  (database) => {
    let t: TestDatabase;
    /** The application's connections: what the library is given. */
    let app: { db: AnyDb; close(): Promise<void> };
    /** An administrator's connection, outside the application's pool. */
    let admin: pg.Client;

    /**
     * `idleSeconds`: how long postgres.js keeps an idle pooled connection (its `idle_timeout`). Below
     * the server's `idle_session_timeout`, as postgres.js asks: it does not notice a connection the
     * server closed while idle, and its next query on it never settles. node-postgres' pool does.
     */
    const open = (idleSeconds?: number) => {
      if (database.driver === "node-postgres") {
        const pool = new pg.Pool({ connectionString: t.url!, max: 4 });
        // What an application does: errors of idle pooled connections are logged, not fatal.
        pool.on("error", () => {});
        return { db: drizzleNodePg({ client: pool }) as unknown as AnyDb, close: () => pool.end() };
      }
      const sql = postgres(t.url!, { max: 4, onnotice: () => {}, idle_timeout: idleSeconds });
      return {
        db: drizzlePostgresJs({ client: sql }) as unknown as AnyDb,
        close: () => sql.end({ timeout: 1 }),
      };
    };

    beforeAll(async () => {
      t = await database.create();
      await t.exec(tables.ddl);
      admin = new pg.Client({ connectionString: t.url! });
      admin.on("error", () => {});
      await admin.connect();
    });
    afterAll(async () => {
      await admin?.end();
      await t?.close();
    });
    beforeEach(async () => {
      await resetItems(t.db, tables, ROWS);
      app = open();
    });
    afterEach(async () => {
      await app.close();
      await t.exec(`alter database ${new URL(t.url!).pathname.slice(1)} reset all`);
    });

    const h = useEmulator("msw");
    const run = (provider: EmbeddingProvider, options: { atomic?: boolean; signal?: AbortSignal } = {}) =>
      backfill({
        provider,
        store: itemStore(app.db, tables),
        maxInputsPerRequest: 4,
        concurrency: 1,
        retryMinDelayMs: 2,
        ...options,
      });
    /** The backends holding an advisory lock in this database: the run's lock connection. */
    const lockHolders = async () =>
      (
        await admin.query<{ pid: number }>(
          "select pid from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())",
        )
      ).rows.map((row) => row.pid);
    const setForDatabase = (setting: string) =>
      t.exec(`alter database ${new URL(t.url!).pathname.slice(1)} set ${setting}`);
    /** Resolves once the server has closed a new connection left as `state` for its timeout. */
    const timedOut = async (state: "idle" | "idle in transaction") => {
      const canary = new pg.Client({ connectionString: t.url! });
      const closed = new Promise<void>((resolve) => {
        canary.on("error", () => resolve());
        canary.on("end", () => resolve());
      });
      await canary.connect();
      if (state === "idle in transaction") await canary.query("begin");
      await closed;
      await canary.end().catch(() => {});
    };

    it("the lock's connection terminated mid-run: stops typed before its next write, host alive; the next run completes", async () => {
      const provider = delayedFirst(voyage(h.voyageBaseURL), async () => {
        const [pid] = await lockHolders();
        expect(pid).toBeDefined();
        // Waits until the backend is gone: its session-level locks with it.
        await admin.query("select pg_terminate_backend($1, 10000)", [pid]);
        expect(await lockHolders()).toEqual([]);
      });
      const error = await rejectionOf(run(provider));
      expect(BackfillError.isInstance(error), String(error)).toBe(true);
      expect(StoreError.isInstance(error.cause), String(error.cause)).toBe(true);
      expect(error.cause.message).toMatch(/lock/);
      // Nothing was written after the lock was lost: the first batch's write was refused.
      expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 0, pending: 12 });
      expect(await lockHolders()).toEqual([]);
      expect(await run(voyage(h.voyageBaseURL))).toMatchObject({ embedded: 12 });
      expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 12 });
    });

    it("idle_session_timeout shorter than the run: the lock's idle connection is kept, the run completes", async () => {
      await setForDatabase("idle_session_timeout = '500ms'");
      await app.close();
      app = open(0.25);
      // The first request waits until the server has closed an idle connection: the run outlives it.
      const report = await run(delayedFirst(voyage(h.voyageBaseURL), () => timedOut("idle")));
      expect(report).toMatchObject({ embedded: 12 });
      expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 12 });
    });

    // postgres.js 3.4 answers the same BackfillError, then its own ROLLBACK on the closed connection
    // throws outside any promise (porsager/postgres#1154, #1208): a driver bug no caller can catch.
    if (database.driver === "node-postgres")
      it("atomic: true and idle_in_transaction_session_timeout: BackfillError (rolled back, with report), host alive", async () => {
        await setForDatabase("idle_in_transaction_session_timeout = '500ms'");
        await app.close();
        app = open();
        const provider = delayedFirst(voyage(h.voyageBaseURL), () => timedOut("idle in transaction"));
        const error = await rejectionOf(run(provider, { atomic: true }));
        expect(BackfillError.isInstance(error), String(error)).toBe(true);
        expect(error.rolledBack).toBe(true);
        expect(error.report).toMatchObject({ embedded: 0 });
        expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 0 });
        expect(await lockHolders()).toEqual([]);
      });

    it("abort while a write waits for a row an application transaction holds FOR UPDATE: rejects at the abort, the wait cancelled", async () => {
      const holder = new pg.Client({ connectionString: t.url! });
      holder.on("error", () => {});
      await holder.connect();
      await holder.query("begin");
      await holder.query("select * from rel_items_conn where id = 2 for update");
      try {
        const controller = new AbortController();
        const reason = new Error("the user stopped the run");
        const outcome = run(voyage(h.voyageBaseURL), { signal: controller.signal }).then(
          () => "resolved",
          (error: unknown) => error,
        );
        // The abort comes once a write of the run waits for the application's row lock, however long
        // the run takes to get there on a loaded machine.
        await vi.waitFor(
          async () => {
            const { rows } = await admin.query(
              "select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
            );
            expect(rows.length, "a write of the run waits for the row lock").toBeGreaterThan(0);
          },
          { timeout: 100_000, interval: 25 },
        );
        controller.abort(reason);
        // The application would hold its lock far longer: the run must settle without it.
        const settled = await Promise.race([
          outcome,
          new Promise((resolve) => setTimeout(() => resolve("still waiting"), 30_000)),
        ]);
        expect(settled).toBe(reason);
        const { rows } = await admin.query(
          "select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        );
        expect(rows, "no statement of the run still waits on the server").toEqual([]);
      } finally {
        await holder.query("commit");
        await holder.end();
      }
      expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 0 });
    });

    it("workers with different partition counts: the second is refused before any request", async () => {
      const target = { provider: "voyage", model: VOYAGE_MODEL, dimensions: DIMENSIONS };
      const first = itemStore(app.db, tables, { partition: { index: 0, count: 2 } });
      await first.prepare(target);
      try {
        const other = itemStore(app.db, tables, { partition: { index: 0, count: 3 } });
        const error = await rejectionOf(backfill({ provider: voyage(h.voyageBaseURL), store: other }));
        expect(StoreError.isInstance(error) && error.reason === "locked", String(error)).toBe(true);
        expect(error.message).toContain("split into 2 partitions, not 3");
        expect(h.emulator.stats.requests).toBe(0);
        // The same count, another index: runs beside it.
        const sibling = itemStore(app.db, tables, { partition: { index: 1, count: 2 } });
        expect(await backfill({ provider: voyage(h.voyageBaseURL), store: sibling })).toMatchObject({
          failed: 0,
        });
      } finally {
        await first.release();
      }
    });

    it("a run split into partitions and one split into key ranges exclude each other, either way round", async () => {
      const target = { provider: "voyage", model: VOYAGE_MODEL, dimensions: DIMENSIONS };
      const partitioned = () => itemStore(app.db, tables, { partition: { index: 0, count: 2 } });
      const ranged = () => itemStore(app.db, tables).withKeyRange({ after: ["10"], through: ["20"] });
      for (const [first, second, says] of [
        [partitioned(), ranged(), "split into partitions, and this run is split into key ranges"],
        [ranged(), partitioned(), "split into key ranges, and this run is split into partitions"],
      ] as const) {
        await first.prepare(target);
        try {
          const error = await rejectionOf(backfill({ provider: voyage(h.voyageBaseURL), store: second }));
          expect(StoreError.isInstance(error) && error.reason === "locked", String(error)).toBe(true);
          expect(error.message).toContain(says);
          expect(h.emulator.stats.requests).toBe(0);
        } finally {
          await first.release();
        }
      }
      // Once the other run ended, the same store runs.
      expect(await backfill({ provider: voyage(h.voyageBaseURL), store: ranged() })).toMatchObject({
        failed: 0,
      });
    });

    it("lock: true on a driver that cannot hold the lock (pg-proxy): StoreError saying why; by default, unlocked", async () => {
      const client = new pg.Client({ connectionString: t.url! });
      await client.connect();
      try {
        const proxy = drizzleProxy(async (text, params, method) => {
          const result = await client.query({
            text,
            values: params,
            ...(method === "all" ? { rowMode: "array" as const } : {}),
          });
          return { rows: result.rows };
        }) as unknown as AnyDb;
        const target = { provider: "voyage", model: VOYAGE_MODEL, dimensions: DIMENSIONS };
        const error = await rejectionOf(itemStore(proxy, tables, { lock: true }).prepare(target));
        expect(StoreError.isInstance(error) && error.reason === "unsupported", String(error)).toBe(true);
        expect(error.message).toContain("lock: false");
        const unlocked = itemStore(proxy, tables);
        await unlocked.prepare(target);
        expect(await lockHolders()).toEqual([]);
        await unlocked.release();
      } finally {
        await client.end();
      }
    });
  },
  { realServerOnly: true },
);
