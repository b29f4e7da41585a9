import { entityKind, type SQL, sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { StoreError } from "../../src/errors/index.js";
import {
  type NodePostgresClient,
  nodePostgresSession,
  type PGliteClient,
  type PgSession,
  type PostgresJsSql,
  pgliteSession,
  postgresJsSession,
  type SqlFragment,
} from "../../src/postgres/index.js";

/** Any Drizzle PostgreSQL database or transaction. */
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any>;

/*
 * Drizzle keeps the session (and through it the driver's client) on a field it marks internal, and
 * names the driver only by its session class. This file is the one place that reaches into it: the
 * rest of the adapter sees a PgSession of the PostgreSQL kit.
 */
const SESSIONS: Record<string, (client: unknown) => PgSession> = {
  NodePgSession: (client) => nodePostgresSession(client as NodePostgresClient),
  PostgresJsSession: (client) => postgresJsSession(client as PostgresJsSql),
  PgliteSession: (client) => pgliteSession(client as PGliteClient),
};

function drizzleSession(db: AnyPgDatabase): { client?: unknown; constructor: unknown } | undefined {
  return (db as unknown as { session?: { client?: unknown; constructor: unknown } }).session;
}

/**
 * Runs raw SQL and returns its rows, whatever the driver: node-postgres and PGlite answer
 * `{ rows }`, postgres.js answers an array.
 */
export async function rowsOf<Row extends Record<string, unknown>>(
  db: AnyPgDatabase,
  query: SQL,
): Promise<Row[]> {
  const result: unknown = await db.execute(query);
  if (Array.isArray(result)) return result as Row[];
  return ((result as { rows?: Row[] } | undefined)?.rows ?? []) as Row[];
}

/** A kit fragment as Drizzle SQL: its values stay bound parameters. */
export function toSql(fragment: SqlFragment): SQL {
  const chunks: SQL[] = [];
  fragment.strings.forEach((text, i) => {
    if (text !== "") chunks.push(sql.raw(text));
    if (i < fragment.values.length) chunks.push(sql`${fragment.values[i]}`);
  });
  return sql.join(chunks);
}

/** `$1`-numbered statement text and its values as Drizzle SQL, for drivers the kit has no session for. */
function numbered(text: string, params: readonly unknown[]): SQL {
  const parts = text.split(/\$(\d+)/);
  const chunks: SQL[] = [];
  parts.forEach((part, i) => {
    if (i % 2 === 0) {
      if (part !== "") chunks.push(sql.raw(part));
    } else {
      chunks.push(sql`${params[Number(part) - 1]}`);
    }
  });
  return sql.join(chunks);
}

const unsupported = (what: string) =>
  new StoreError(
    `${what} is not available on this Drizzle driver (only on node-postgres, postgres.js and PGlite).`,
    {
      reason: "unsupported",
    },
  );

/*
 * Drivers the kit does not know (Neon HTTP, Vercel, AWS Data API…) still run the kit's catalog queries
 * through Drizzle; they get no COPY, no binary parameters and no connection of their own.
 */
function executeSession(db: AnyPgDatabase, transaction: boolean): PgSession {
  return {
    driver: "other",
    capabilities: {
      copy: false,
      binaryParameters: false,
      singleConnection: transaction,
      reserve: false,
      maxConnections: undefined,
      sharedServer: true,
    },
    query: async <Row extends Record<string, unknown>>(text: string, params: readonly unknown[] = []) => {
      return rowsOf<Row>(db, numbered(text, params));
    },
    copyIn: () => Promise.reject(unsupported("COPY")),
    reserve: () => Promise.reject(unsupported("A dedicated connection")),
  };
}

/**
 * The kit session for `db` (or a transaction of it): over the driver's own client for node-postgres
 * (a `pg` Pool or Client, the pooled client inside a transaction), postgres.js (a `Sql`, a
 * `TransactionSql` inside one) and PGlite (the instance, a PGlite `Transaction` inside one); over
 * `db.execute()` for other drivers. `transaction` says that `db` is a transaction (one connection).
 */
export function sessionOf(db: AnyPgDatabase, transaction = false): PgSession {
  const session = drizzleSession(db);
  const kind = (session?.constructor as Record<symbol, unknown> | undefined)?.[entityKind];
  const make =
    typeof kind === "string" && Object.hasOwn(SESSIONS, kind) && session?.client ? SESSIONS[kind] : undefined;
  return make ? make(session!.client) : executeSession(db, transaction);
}

interface EmittingClient {
  on(event: "error", listener: (error: Error) => void): unknown;
  off(event: "error", listener: (error: Error) => void): unknown;
}

/**
 * Runs `work` in a transaction of `db` (a savepoint when `db` is a transaction). On node-postgres the
 * transaction's connection, checked out of the pool by Drizzle, gets an `error` listener until the
 * transaction is over: a checked-out client whose connection the server closes (terminated, timed
 * out idle in the transaction) emits `error`, and with no listener that kills the process. The
 * transaction's next statement then fails, and the failure is reported as the store's error.
 */
export async function inTransaction<T>(
  db: AnyPgDatabase,
  work: (tx: AnyPgDatabase) => Promise<T>,
): Promise<T> {
  let unwatch: (() => void) | undefined;
  try {
    return await db.transaction((tx) => {
      const client = drizzleSession(tx as AnyPgDatabase)?.client as Partial<EmittingClient> | undefined;
      if (typeof client?.on === "function" && typeof client.off === "function" && !("totalCount" in client)) {
        const listener = () => {};
        client.on("error", listener);
        unwatch = () => client.off?.("error", listener);
      }
      return work(tx as AnyPgDatabase);
    });
  } finally {
    unwatch?.();
  }
}
