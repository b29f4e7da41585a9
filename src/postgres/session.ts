/**
 * The PostgreSQL clients the kit has sessions for. `"other"` is a session a store built itself (over a
 * query builder's `execute()`, say): it gets the portable paths.
 */
export type PgDriver = "node-postgres" | "postgres.js" | "pglite" | "other";

/**
 * What a session can do. Stores choose their paths by these, never by the driver's name, so a new
 * session type works with every helper of the kit as soon as it says what it can do.
 */
export interface PgCapabilities {
  /**
   * `copyIn()` works: a binary `COPY … FROM STDIN` (node-postgres through `pg-copy-streams`,
   * postgres.js through its COPY stream) or from PGlite's `/dev/blob`.
   */
  readonly copy: boolean;
  /**
   * A `Uint8Array` parameter is sent in PostgreSQL's binary format (node-postgres does that), so the
   * arrays of {@link vectorArray} and {@link textArray} can be bound as they are: the server copies the
   * floats instead of parsing text.
   */
  readonly binaryParameters: boolean;
  /**
   * The session is one connection (a client, a transaction, PGlite): its queries run one at a time, in
   * order, and share one session state (temporary tables, `SET`, advisory locks). A pool is not.
   */
  readonly singleConnection: boolean;
  /** `reserve()` can hand out one connection for the caller's exclusive use (one-connection sessions hand out themselves). */
  readonly reserve: boolean;
  /**
   * How many connections the session's pool opens at most, when the driver says (1 for one
   * connection). A connection reserved for a whole run (an advisory lock) is one fewer for queries.
   */
  readonly maxConnections: number | undefined;
  /**
   * Other processes can reach this database, so session-level advisory locks keep them out. `false`
   * for an in-process PGlite: one process, one connection, nothing to exclude.
   */
  readonly sharedServer: boolean;
}

/** Options of {@link PgSession.query}. */
export interface PgQueryOptions {
  /**
   * Stops waiting: the promise rejects with `signal.reason` at once. postgres.js also cancels the
   * statement on the server; elsewhere it runs to its end and its result is dropped. Give it to reads;
   * a write's outcome must be decided by its transaction (check the signal before the commit).
   * @default undefined
   */
  readonly signal?: AbortSignal;
}

/** A row as a query returns it: column name to value, in the driver's own JavaScript types. */
export type PgRow = Record<string, unknown>;

/**
 * What a store needs from PostgreSQL, whatever the client: run a statement with bound parameters,
 * `COPY` binary data in, reserve a connection of its own, and say what it can do. The kit has one for
 * node-postgres ({@link nodePostgresSession}), postgres.js ({@link postgresJsSession}) and PGlite
 * ({@link pgliteSession}); every helper of `@relay/embeddings/postgres` takes one.
 *
 * Statements use PostgreSQL's numbered parameters (`$1`, `$2`…). Results come back as the driver maps
 * them (an `int8` is a string on node-postgres and postgres.js, a `bigint` on PGlite…): helpers that
 * read them normalise.
 *
 * @example
 * ```ts
 * import pg from "pg";
 * import { nodePostgresSession } from "@relay/embeddings/postgres";
 *
 * const session = nodePostgresSession(new pg.Pool({ connectionString }));
 * const rows = await session.query<{ n: number }>("select count(*)::int as n from skills where id > $1", [10]);
 * ```
 */
export interface PgSession {
  /** The client behind the session. */
  readonly driver: PgDriver;
  /** What it can do. */
  readonly capabilities: PgCapabilities;
  /** Runs one statement with bound parameters (`$1`…) and returns its rows (none for a command). */
  query<Row extends PgRow = PgRow>(
    text: string,
    params?: readonly unknown[],
    options?: PgQueryOptions,
  ): Promise<Row[]>;
  /**
   * Runs a binary `COPY` of `data` (a complete file in PostgreSQL's binary COPY format, see
   * {@link copyFile}) into `into`, which names the table and its columns:
   * `"skill_embeddings" ("skill_id", "embedding")`. On a pool it reserves a connection for it; to COPY
   * into a temporary table, or inside a transaction, call it on that transaction's session. A COPY the
   * server rejects rejects this promise (and, inside a transaction, leaves it to be rolled back).
   * Throws `StoreError` (`unsupported`) when `capabilities.copy` is false.
   */
  copyIn(into: string, data: Uint8Array): Promise<void>;
  /**
   * A connection for the caller alone until `release()`: what session-level advisory locks, `SET`
   * and temporary tables need, since a pool runs each query on any of its connections. A
   * one-connection session hands out itself (and `release()` leaves it open). Throws `StoreError`
   * (`unsupported`) when `capabilities.reserve` is false.
   */
  reserve(): Promise<PgReservedSession>;
}

/** Options of {@link PgReservedSession.release}. */
export interface PgReleaseOptions {
  /**
   * The caller knows the server has closed this connection (its process is gone): node-postgres then
   * drops it from the pool; postgres.js is left to reopen it itself, since giving a dead reserved
   * connection back would hand it to the next query, which would never settle.
   * @default false
   */
  readonly closed?: boolean;
}

/** A connection reserved by {@link PgSession.reserve}: one connection until released. */
export interface PgReservedSession extends PgSession {
  /** Gives the connection back to its pool. Safe to call more than once. */
  release(options?: PgReleaseOptions): Promise<void>;
}
