import { DimensionMismatchError, EmbeddingsError, StoreError } from "../errors/index.js";

/*
 * Query builders wrap driver errors (Drizzle's DrizzleQueryError), and their message holds every bound
 * parameter: for a write, megabytes of vectors. Drivers' own errors carry the SQLSTATE as `code` (some
 * carry the query too). The driver's error is the first in the `cause` chain with a SQLSTATE, else the
 * last: its message goes into the library's error, and it becomes the cause.
 */
const SQLSTATE = /^[0-9A-Z]{5}$/;

function driverError(error: unknown): (Error & { code?: string }) | undefined {
  let current: unknown = error;
  let last: Error | undefined;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && SQLSTATE.test(code)) return current as Error & { code: string };
    last = current;
    current = current.cause;
  }
  return last;
}

/** The SQLSTATE of a database error (`"23505"`…), looking through query builders' wrappers. */
export function sqlState(error: unknown): string | undefined {
  return driverError(error)?.code;
}

const DIMENSIONS = /expected (\d+) dimensions, not (\d+)/;

/**
 * Turns what the database threw during `operation` (a phrase naming it: `"Writing 128 embeddings to
 * skill_embeddings"`) into a library error: a {@link DimensionMismatchError} (`source: "store"`) when
 * pgvector refused a vector's length, else a {@link StoreError} — `extension_missing` when the `vector`
 * type or its operators are unknown, `schema` for missing tables or columns, a wrong type, a missing
 * unique index for `ON CONFLICT` or a `NOT NULL` column the store does not fill, `database`
 * otherwise. Its message is `${operation} failed: ${the server's message}`; the cause is the driver's
 * error. Library errors, and `signal.reason` when `signal` aborted, pass through as they are.
 *
 * @example
 * ```ts
 * try {
 *   await session.query(statement, params);
 * } catch (error) {
 *   throw databaseError("Writing 128 embeddings to skill_embeddings", error, signal);
 * }
 * ```
 */
export function databaseError(operation: string, error: unknown, signal?: AbortSignal): unknown {
  if (EmbeddingsError.isInstance(error)) return error;
  if (signal?.aborted && error === signal.reason) return error;
  const driver = driverError(error);
  const cause = driver ?? error;
  const detail = driver?.message ?? String(error);
  const message = `${operation} failed: ${detail}`;
  const dimensions = DIMENSIONS.exec(detail);
  if (dimensions) {
    return new DimensionMismatchError(message, {
      expected: Number(dimensions[1]),
      actual: Number(dimensions[2]),
      source: "store",
      cause,
    });
  }
  switch (driver?.code) {
    case "42704":
    case "42883":
      if (/\bvector\b|<=>/.test(detail)) {
        return new StoreError(
          `${message}. Is pgvector installed? Run \`CREATE EXTENSION IF NOT EXISTS vector\`.`,
          {
            reason: "extension_missing",
            cause,
          },
        );
      }
      return new StoreError(message, { reason: "schema", cause });
    case "42P01":
    case "42703":
    case "42804":
    case "42P10":
    case "23502":
      return new StoreError(message, { reason: "schema", cause });
    default:
      return new StoreError(message, { reason: "database", cause });
  }
}

/**
 * Runs `work`, rethrowing its failure as {@link databaseError} says.
 * @example
 * ```ts
 * const rows = await guard("Reading skills", () => session.query("select …"), signal);
 * ```
 */
export async function guard<T>(operation: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw databaseError(operation, error, signal);
  }
}
