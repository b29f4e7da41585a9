import { InvalidOptionError, StoreError } from "../../src/errors/index.js";
import type { StoreConfig } from "./config.js";
import { databaseError } from "./database-error.js";
import { type AnyPgDatabase, clientOf, driverOf } from "./driver.js";

/** A lock held on a dedicated connection until {@link HeldLock.release}. */
export interface HeldLock {
  release(): Promise<void>;
}

/** One connection kept for the run: session-level advisory locks belong to the connection taking them. */
interface Session {
  query(text: string, params: unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

interface PgClient {
  query(text: string, params: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  connect(): Promise<PgClient & { release(): void }>;
}

interface PostgresJsSql {
  reserve(): Promise<{
    unsafe(text: string, params: unknown[]): Promise<Record<string, unknown>[]>;
    release(): void;
  }>;
}

/*
 * Drizzle runs each query on any connection of the pool, so the lock needs a connection of its own:
 * a pooled client (node-postgres Pool), a reserved connection (postgres.js), or the client itself
 * (node-postgres Client, already a single session). The three statements below are fixed SQL with
 * bound parameters.
 */
async function openSession(db: AnyPgDatabase): Promise<Session | undefined> {
  const client = clientOf(db);
  const pooled = client as { totalCount?: unknown; options?: { max?: number } };
  // Holding the only connection of a pool for the lock would leave none for the queries: a hang.
  if ((pooled.totalCount !== undefined || driverOf(db) === "postgres.js") && (pooled.options?.max ?? 2) < 2) {
    throw new InvalidOptionError(
      "lock",
      "false with a single-connection pool (the lock keeps one connection for the run)",
    );
  }
  switch (driverOf(db)) {
    case "node-postgres": {
      const pg = client as PgClient;
      if (!("totalCount" in (pg as object))) {
        return { query: async (text, params) => (await pg.query(text, params)).rows, close: async () => {} };
      }
      const connection = await pg.connect();
      return {
        query: async (text, params) => (await connection.query(text, params)).rows,
        close: async () => connection.release(),
      };
    }
    case "postgres.js": {
      const reserved = await (client as PostgresJsSql).reserve();
      return {
        query: (text, params) => reserved.unsafe(text, params),
        close: async () => reserved.release(),
      };
    }
    default:
      // PGlite is one connection in one process; other drivers have no session to hold a lock on.
      return undefined;
  }
}

async function tryLock(session: Session, fn: string, key: string, id: number): Promise<boolean> {
  const [row] = await session.query(`select ${fn}(hashtext($1), $2::int) as ok`, [key, id]);
  return row?.ok === true;
}

/**
 * Takes the run's advisory locks (two-int keys derived from the target, never clashing with
 * single-bigint application locks): a run over all rows locks the target exclusively; a partitioned
 * run shares the target lock with its sibling partitions and locks its own partition exclusively; a
 * key-range run (`withKeyRange`) likewise shares the target lock and locks its range exclusively.
 * Throws a `StoreError` (`reason: "locked"`) when another process holds a conflicting lock.
 */
export async function acquireLock(config: StoreConfig, db: AnyPgDatabase): Promise<HeldLock | undefined> {
  if (!config.lock) return undefined;
  const session = await openSession(db).catch((error) => {
    throw databaseError("Opening a connection for the advisory lock", error);
  });
  if (!session) return undefined;
  const target = `relay.embeddings:${config.target.name.display}.${config.target.embedding.name}`;
  const { partition, range } = config;
  const shared = partition !== undefined || range !== undefined;
  const held: [fn: string, key: string, id: number][] = [];
  const release = async () => {
    try {
      for (const [fn, key, id] of held.reverse())
        await session.query(`select ${fn}(hashtext($1), $2::int)`, [key, id]);
    } finally {
      held.length = 0;
      await session.close();
    }
  };
  try {
    const whole = shared ? "pg_try_advisory_lock_shared" : "pg_try_advisory_lock";
    if (!(await tryLock(session, whole, target, -1))) {
      throw new StoreError(
        shared
          ? `Another process is embedding all of ${config.target.name.display} (a run without partition or key range holds its lock); wait for it or stop it.`
          : `Another process is embedding ${config.target.name.display} (it holds the advisory lock); wait for it, or split the work with \`partition\`.`,
        { reason: "locked" },
      );
    }
    held.push([shared ? "pg_advisory_unlock_shared" : "pg_advisory_unlock", target, -1]);
    if (partition) {
      const key = `${target}#${partition.count}`;
      if (!(await tryLock(session, "pg_try_advisory_lock", key, partition.index))) {
        throw new StoreError(
          `Another process is embedding partition ${partition.index} of ${partition.count} of ${config.target.name.display}; give each worker its own partition.index.`,
          { reason: "locked" },
        );
      }
      held.push(["pg_advisory_unlock", key, partition.index]);
    }
    if (range) {
      const span = `${JSON.stringify(range.after ?? null)}..${JSON.stringify(range.through ?? null)}`;
      const key = `${target}#range:${span}`;
      if (!(await tryLock(session, "pg_try_advisory_lock", key, -2))) {
        throw new StoreError(
          `Another process is embedding keys ${span} of ${config.target.name.display}; each key range is embedded by one worker at a time.`,
          { reason: "locked" },
        );
      }
      held.push(["pg_advisory_unlock", key, -2]);
    }
  } catch (error) {
    await release().catch(() => {});
    throw databaseError(`Locking ${config.target.name.display}`, error);
  }
  return { release };
}
