import { entityKind } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { SQL } from "drizzle-orm/sql";

/** Any Drizzle PostgreSQL database or transaction. */
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any>;

/**
 * The drivers whose fast paths the store knows. Anything else (Neon HTTP, Vercel, AWS Data API…)
 * is `"other"`: it gets the portable paths (text vectors, no session lock).
 */
export type DriverKind = "node-postgres" | "postgres.js" | "pglite" | "other";

const KINDS: Record<string, DriverKind> = {
  NodePgSession: "node-postgres",
  PostgresJsSession: "postgres.js",
  PgliteSession: "pglite",
};

/*
 * Drizzle keeps the session (and through it the driver's client) on a field it marks internal. The
 * fast paths need the client (COPY, a dedicated connection for the advisory lock), so this file is
 * the one place that reaches into it.
 */
function session(db: AnyPgDatabase): { client?: unknown; constructor: unknown } | undefined {
  return (db as unknown as { session?: { client?: unknown; constructor: unknown } }).session;
}

/** Which driver `db` (or a transaction of it) runs on. */
export function driverOf(db: AnyPgDatabase): DriverKind {
  const ctor = session(db)?.constructor as Record<symbol, unknown> | undefined;
  const kind = ctor?.[entityKind];
  return (typeof kind === "string" && KINDS[kind]) || "other";
}

/**
 * The driver client behind `db`: a `pg` Pool or Client, a postgres.js `Sql` (a `TransactionSql`
 * inside a transaction), a PGlite instance (a PGlite `Transaction` inside one).
 */
export function clientOf(db: AnyPgDatabase): unknown {
  return session(db)?.client;
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
