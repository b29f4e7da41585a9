import type { EmbeddingTarget } from "../contracts/embedding-store.js";
import { DimensionMismatchError, StoreError } from "../errors/index.js";
import { type ColumnInfo, hasUniqueIndex, type TableName, tableColumns, vectorExtension } from "./catalog.js";
import type { PgSession } from "./session.js";

/*
 * What a store checks in prepare(), before any provider call: each failure is a typed error that says
 * what to do. Stores compose these with their own configuration.
 */

/**
 * Throws `StoreError` (`extension_missing`) unless the `vector` extension is installed in this
 * database, saying how to install it (and whether the server has pgvector at all).
 */
export async function checkVectorExtension(session: PgSession): Promise<void> {
  const { installed, available } = await vectorExtension(session);
  if (installed) return;
  const hint = available
    ? "run `CREATE EXTENSION IF NOT EXISTS vector;` (once, as a user allowed to create extensions)"
    : "install pgvector on the server (https://github.com/pgvector/pgvector), then run `CREATE EXTENSION IF NOT EXISTS vector;`";
  throw new StoreError(`The \`vector\` extension is not installed in this database: ${hint}.`, {
    reason: "extension_missing",
  });
}

/**
 * The table's columns from the catalog, after checking that the table and every column of `columns`
 * exist: `StoreError` (`schema`) naming what is missing otherwise.
 */
export async function checkTableColumns(
  session: PgSession,
  table: TableName,
  columns: readonly string[],
): Promise<ColumnInfo[]> {
  const found = await tableColumns(session, table);
  if (!found) {
    throw new StoreError(`Table ${table.display} does not exist: create it (run your migrations) first.`, {
      reason: "schema",
    });
  }
  const missing = columns.filter((column) => !found.some((info) => info.name === column));
  if (missing.length > 0) {
    const names = missing.map((column) => `${table.display}.${column}`).join(", ");
    throw new StoreError(`Column(s) ${names} do not exist: run your migrations first.`, { reason: "schema" });
  }
  return found;
}

/** What {@link checkVectorColumn} checks. */
export interface VectorColumnCheck {
  /** The table holding the column, for messages. */
  readonly table: TableName;
  /** The column as the catalog describes it ({@link checkTableColumns}). */
  readonly column: ColumnInfo;
  /** The model that makes the vectors. */
  readonly target: EmbeddingTarget;
  /**
   * The dimensions the store's own schema declares, and where (`"the Drizzle schema"`), used when the
   * database column has none (`vector` without `(n)`).
   * @default undefined
   */
  readonly declared?: { readonly dimensions: number; readonly where: string };
}

/**
 * Throws unless the column is a pgvector `vector` (`StoreError`, `schema`) of the target's dimensions
 * (`DimensionMismatchError`, `source: "store"`, naming the column, both sizes and the two ways out).
 */
export function checkVectorColumn(check: VectorColumnCheck): void {
  const { table, column, target, declared } = check;
  const name = `${table.display}.${column.name}`;
  if (column.type !== "vector") {
    throw new StoreError(`${name} is of type ${column.type}; the store writes pgvector \`vector\` columns.`, {
      reason: "schema",
    });
  }
  const [dimensions, where] =
    column.typmod > 0
      ? [column.typmod, "holds"]
      : declared !== undefined
        ? [declared.dimensions, `is declared in ${declared.where} as`]
        : [];
  if (dimensions === undefined || dimensions === target.dimensions) return;
  throw new DimensionMismatchError(
    `${name} ${where} vector(${dimensions}), but ${target.provider} model ${target.model} makes ${target.dimensions}-dimension vectors: ` +
      `use a model or output dimension of ${dimensions}, or migrate the column to vector(${target.dimensions}) and re-embed.`,
    { expected: dimensions, actual: target.dimensions, source: "store" },
  );
}

/**
 * Throws `StoreError` (`schema`) unless a unique, non-partial index covers exactly `columns`; `why`
 * ends the message (`"so rows can be paged by key"`).
 */
export async function checkUniqueIndex(
  session: PgSession,
  table: TableName,
  columns: readonly string[],
  why: string,
): Promise<void> {
  if (await hasUniqueIndex(session, table, columns)) return;
  const names = columns.map((column) => `${table.display}.${column}`).join(", ");
  throw new StoreError(`${names} needs a unique index (primary key or .unique()) ${why}.`, {
    reason: "schema",
  });
}
