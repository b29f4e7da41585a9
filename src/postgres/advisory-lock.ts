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
  /** Unlocks, and gives the connection back to its pool. Safe to call more than once. */
  release(): Promise<void>;
}

async function tryLock(session: PgSession, fn: string, key: string, id: number): Promise<boolean> {
  const [row] = await session.query<{ ok: unknown }>(`select ${fn}(hashtext($1), $2::int) as ok`, [key, id]);
  return row?.ok === true || row?.ok === "t";
}

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
 * share exclusively (a run over everything and a run over a share exclude each other). Keys are two
 * ints, `(hashtext(name), n)`: they never clash with an application's single-`bigint` advisory locks.
 *
 * Returns `undefined`, taking nothing, when the session cannot hold such a lock for others to see
 * (`capabilities.sharedServer` or `capabilities.reserve` false: an in-process PGlite, a session with no
 * connection of its own). Throws `StoreError` (`locked`) when another process holds a conflicting
 * lock, naming what to do; the reserved connection is then given back.
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
  const release = async () => {
    if (released) return;
    released = true;
    try {
      for (const [fn, key, id] of held.reverse()) {
        await connection.query(`select ${fn}(hashtext($1), $2::int)`, [key, id]);
      }
    } finally {
      held.length = 0;
      await connection.release();
    }
  };
  try {
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
      if (!(await tryLock(connection, "pg_try_advisory_lock", share.key, share.id))) {
        throw new StoreError(share.busy, { reason: "locked" });
      }
      held.push(["pg_advisory_unlock", share.key, share.id]);
    }
  } catch (error) {
    await release().catch(() => {});
    throw databaseError(`Locking ${display}`, error);
  }
  return { release };
}
