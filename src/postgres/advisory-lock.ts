import type { KeyRange } from "../contracts/embedding-store.js";
import { InvalidOptionError, StoreError } from "../errors/index.js";
import { databaseError } from "./database-error.js";
import type { PgReservedSession, PgSession } from "./session.js";

/** What {@link acquireRunLock} locks. */
export interface RunLockOptions {
  /**
   * A stable name of what a run writes, from which the lock keys are derived (`hashtext(resource)`):
   * every process writing the same vectors must use the same string, e.g.
   * `"relay.embeddings:public.skill_embeddings.embedding"`.
   */
  readonly resource: string;
  /** How messages name it: `"skill_embeddings"`. */
  readonly display: string;
  /**
   * This run's share of the rows, when the work is split among processes: the run then shares the
   * resource's lock with the other partitions and takes its partition's lock alone.
   * @default undefined (the whole resource, exclusively)
   */
  readonly partition?: { readonly index: number; readonly count: number };
  /**
   * This run's key range, when the work is split into ranges of keys (`withKeyRange`): like a
   * partition, the run shares the resource's lock with the other ranges and takes its range's lock
   * alone, so two workers never embed one range at once. Not with `partition`.
   * @default undefined (the whole resource, exclusively)
   */
  readonly range?: KeyRange;
}

/** Advisory locks held on a reserved connection until {@link HeldLock.release}. */
export interface HeldLock {
  /** The server process of the lock's connection (`pg_backend_pid()`): the locks live and die with it. */
  readonly pid: number;
  /**
   * Throws `StoreError` (`locked`) unless the locks are still held, asking on `session` (any
   * connection to the same database; a write's own transaction, say). Session-level advisory locks
   * die with their connection: when the server closes it (`pg_terminate_backend`, a timeout, a
   * restart), another process can take them. Call it before each write, and stop when it throws.
   */
  verify(session: PgSession): Promise<void>;
  /**
   * Unlocks, and gives the connection back to its pool. Safe to call more than once, and when the
   * lock's connection is gone (then it only gives the connection back).
   */
  release(): Promise<void>;
}

const truthy = (value: unknown) => value === true || value === "t";

async function tryLock(session: PgSession, fn: string, key: string, id: number): Promise<boolean> {
  const [row] = await session.query<{ ok: unknown }>(`select ${fn}(hashtext($1), $2::int) as ok`, [key, id]);
  return truthy(row?.ok);
}

/**
 * The lock connection's process id. It also turns off `idle_session_timeout` (PostgreSQL 14+) for
 * this connection alone: it is idle for the whole run by design, and the timeout would close it,
 * and the locks with it.
 */
async function lockConnectionPid(connection: PgSession): Promise<number> {
  const [row] = await connection.query<{ pid: unknown }>(
    `select pg_backend_pid() as pid, case when current_setting('server_version_num')::int >= 140000
       then set_config('idle_session_timeout', '0', false) end as idle`,
  );
  return Number(row?.pid);
}

/** How many of the advisory locks of process `pid` are granted, asked on `session`. */
async function heldCount(session: PgSession, pid: number): Promise<number> {
  const [row] = await session.query<{ n: unknown }>(
    "select count(*)::int as n from pg_locks where locktype = 'advisory' and granted and pid = $1",
    [pid],
  );
  return Number(row?.n ?? 0);
}

/**
 * The ids other than `mine` of the granted advisory locks `(hashtext(key), id)`, as "2, 3", or
 * `undefined`. A run takes its own `(key, mine)` before looking, so of two runs starting at once at
 * least one sees the other.
 */
async function othersHolding(connection: PgSession, key: string, mine: number): Promise<string | undefined> {
  const [row] = await connection.query<{ others: unknown }>(
    `select string_agg(distinct objid::text, ', ') as others from pg_locks
      where locktype = 'advisory' and granted and classid = hashtext($1)::oid and objsubid = 2 and objid <> $2::int`,
    [key, mine],
  );
  return row?.others ? String(row.others) : undefined;
}

/** How a run splits the work: the id of its shared `#split` lock. */
const SPLIT = { partitions: 1, ranges: 2 } as const;

/** The lock of one share of the work (a partition or a key range), taken alone; none for a whole run. */
function shareLock(options: RunLockOptions): { key: string; id: number; busy: string } | undefined {
  const { resource, display, partition, range } = options;
  if (partition && range) {
    throw new InvalidOptionError(
      "partition",
      "omitted with `range`: split a run by partitions or by key ranges, not both",
    );
  }
  if (partition) {
    return {
      key: `${resource}#${partition.count}`,
      id: partition.index,
      busy: `Another process is embedding partition ${partition.index} of ${partition.count} of ${display}; give each worker its own partition.index.`,
    };
  }
  if (range) {
    const span = `${JSON.stringify(range.after ?? null)}..${JSON.stringify(range.through ?? null)}`;
    return {
      key: `${resource}#range:${span}`,
      id: -2,
      busy: `Another process is embedding keys ${span} of ${display}; each key range is embedded by one worker at a time.`,
    };
  }
  return undefined;
}

/**
 * Takes a run's session-level advisory locks on a connection reserved for them, so that two processes
 * never write the same rows at once: a run over everything locks `resource` exclusively; a run over
 * a share of it (a `partition` or a key `range`) shares `resource` with its siblings and locks its own
 * share exclusively (a run over everything and a run over a share exclude each other, and so do runs
 * split into partitions and runs split into key ranges, whose shares overlap). Keys are two
 * ints, `(hashtext(name), n)`: they never clash with an application's single-`bigint` advisory locks.
 *
 * Returns `undefined`, taking nothing, when the session cannot hold such a lock for others to see
 * (`capabilities.sharedServer` or `capabilities.reserve` false: an in-process PGlite, a session with no
 * connection of its own). Throws `StoreError` (`locked`) when another process holds a conflicting
 * lock, or runs split into another number of partitions, naming what to do; the reserved connection
 * is then given back.
 *
 * The locks die with their connection (the server may close it: terminated, restarted): call
 * `verify()` before each write. The connection is exempt from `idle_session_timeout`.
 *
 * The connection stays reserved until `release()`: a pool needs one more connection than the run's
 * queries use.
 *
 * @example
 * ```ts
 * const lock = await acquireRunLock(session, { resource: "myapp:items.embedding", display: "items" });
 * try {
 *   // … write embeddings …
 * } finally {
 *   await lock?.release();
 * }
 * ```
 */
export async function acquireRunLock(
  session: PgSession,
  options: RunLockOptions,
): Promise<HeldLock | undefined> {
  const { capabilities } = session;
  if (!capabilities.sharedServer || !capabilities.reserve) return undefined;
  const { resource, display } = options;
  const share = shareLock(options);
  let connection: PgReservedSession;
  try {
    connection = await session.reserve();
  } catch (error) {
    throw databaseError("Opening a connection for the advisory lock", error);
  }
  const held: [fn: string, key: string, id: number][] = [];
  let released = false;
  let pid = Number.NaN;
  /** Set once the locks are known to be gone with their connection. */
  let lost = false;
  const lostError = () =>
    new StoreError(
      `The run lost its advisory lock on ${display}: the lock's connection (server process ${pid}) was closed — terminated, timed out or restarted — and the lock with it, so another process may be embedding the same rows. Nothing more is written; run it again.`,
      { reason: "locked" },
    );
  const verify = async (on: PgSession) => {
    if (lost || (await heldCount(on, pid)) < held.length) {
      lost = true;
      throw lostError();
    }
  };
  const release = async () => {
    if (released) return;
    released = true;
    try {
      // A dead connection is never asked again (postgres.js would throw outside any promise, and
      // never settle): ask another connection whether the locks are still there.
      if (!lost && held.length > 0) lost = (await heldCount(session, pid).catch(() => 0)) < held.length;
      if (!lost) {
        for (const [fn, key, id] of held.reverse()) {
          await connection.query(`select ${fn}(hashtext($1), $2::int)`, [key, id]);
        }
      }
    } finally {
      held.length = 0;
      await connection.release({ closed: lost });
    }
  };
  try {
    pid = await lockConnectionPid(connection);
    const whole = share ? "pg_try_advisory_lock_shared" : "pg_try_advisory_lock";
    if (!(await tryLock(connection, whole, resource, -1))) {
      throw new StoreError(
        share
          ? `Another process is embedding all of ${display} (a run without partition or key range holds its lock); wait for it or stop it.`
          : `Another process is embedding ${display} (it holds the advisory lock); wait for it, or split the work with \`partition\`.`,
        { reason: "locked" },
      );
    }
    held.push([share ? "pg_advisory_unlock_shared" : "pg_advisory_unlock", resource, -1]);
    if (share) {
      // Partitions and key ranges cut the rows differently: a partition and a range overlap, so runs
      // split one way refuse to start beside runs split the other way.
      const split = options.partition ? SPLIT.partitions : SPLIT.ranges;
      await tryLock(connection, "pg_try_advisory_lock_shared", `${resource}#split`, split);
      held.push(["pg_advisory_unlock_shared", `${resource}#split`, split]);
      const other = await othersHolding(connection, `${resource}#split`, split);
      if (other) {
        const [mine, theirs] = options.partition
          ? ["partitions", "key ranges"]
          : ["key ranges", "partitions"];
        throw new StoreError(
          `Another process is embedding ${display} split into ${theirs}, and this run is split into ${mine}: a partition and a key range hold the same rows, which both would embed. Split every worker of one table the same way (or wait for the other run to end).`,
          { reason: "locked" },
        );
      }
    }
    if (options.partition) {
      // Every partitioned run shares the lock of its partition count, and sees any other count's.
      const { count } = options.partition;
      await tryLock(connection, "pg_try_advisory_lock_shared", `${resource}#partitions`, count);
      held.push(["pg_advisory_unlock_shared", `${resource}#partitions`, count]);
      const counts = await othersHolding(connection, `${resource}#partitions`, count);
      if (counts) {
        throw new StoreError(
          `Another process is embedding ${display} split into ${counts} partitions, not ${count}: workers with different partition counts would embed the same rows. Give every worker the same partition.count.`,
          { reason: "locked" },
        );
      }
    }
    if (share) {
      if (!(await tryLock(connection, "pg_try_advisory_lock", share.key, share.id))) {
        throw new StoreError(share.busy, { reason: "locked" });
      }
      held.push(["pg_advisory_unlock", share.key, share.id]);
    }
  } catch (error) {
    await release().catch(() => {});
    throw databaseError(`Locking ${display}`, error);
  }
  return { pid, verify, release };
}
