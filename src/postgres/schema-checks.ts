import type { EmbeddingTarget } from "../contracts/embedding-store.js";
import { DimensionMismatchError, StoreError } from "../errors/index.js";
import {
  type ColumnInfo,
  compositeUniqueKeys,
  hasUniqueIndex,
  type TableName,
  tableColumns,
  vectorExtension,
} from "./catalog.js";
import type { PgSession } from "./session.js";
import { type VectorColumnType, vectorColumnType, vectorTypeName } from "./vector-types.js";

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
  /** The model that makes the vectors (its `vectorType` decides which column types fit). */
  readonly target: EmbeddingTarget;
  /**
   * What the store's own schema declares, and where (`"the Drizzle schema"`): its type must be the
   * database's, and its dimensions are used when the database column has none (`vector` without `(n)`).
   * @default undefined
   */
  readonly declared?: {
    readonly dimensions: number;
    readonly where: string;
    /** @default undefined (any type that fits the target) */
    readonly type?: VectorColumnType;
  };
}

/**
 * The column type and size the target's vectors need, in words: `bit(1024)` for packed bits,
 * `vector(1024) or halfvec(1024)` for numbers (or the one type the store declares).
 */
function expectedType(target: EmbeddingTarget, declared: VectorColumnType | undefined): string {
  if (target.vectorType === "bit") return vectorTypeName("bit", target.dimensions * 8);
  if (declared === "vector" || declared === "halfvec") return vectorTypeName(declared, target.dimensions);
  return `${vectorTypeName("vector", target.dimensions)} or ${vectorTypeName("halfvec", target.dimensions)}`;
}

/**
 * Throws unless the column can hold the target's vectors and returns its type: a pgvector `vector` or
 * `halfvec` for numbers, a `bit` column for packed bits (`target.vectorType: "bit"`), of the type the
 * store declares (`StoreError`, `schema`, naming the column, the type found and the type expected), and
 * of the target's size (`DimensionMismatchError`, `source: "store"`, naming the column, both sizes and
 * the two ways out; a `bit` column holds 8 bits per value of the target's packed vectors).
 */
export function checkVectorColumn(check: VectorColumnCheck): VectorColumnType {
  const { table, column, target, declared } = check;
  const name = `${table.display}.${column.name}`;
  const type = vectorColumnType(column.type);
  const size = column.typmod > 0 ? column.typmod : undefined;
  const found = type ? vectorTypeName(type, size) : column.type;
  const expected = expectedType(target, declared?.type);
  if (!type) {
    throw new StoreError(
      `${name} is of type ${found}; the store writes pgvector columns: expected ${expected}.`,
      { reason: "schema" },
    );
  }
  if (declared?.type !== undefined && declared.type !== type) {
    throw new StoreError(
      `${name} is ${found} in the database but ${vectorTypeName(declared.type, declared.dimensions)} in ${declared.where}: make them agree (run your migrations, or change the schema).`,
      { reason: "schema" },
    );
  }
  const bits = target.vectorType === "bit";
  if (bits !== (type === "bit")) {
    const made = bits
      ? `packed-bit vectors (${target.dimensions} bytes, ${target.dimensions * 8} bits)`
      : `${target.dimensions}-dimension float vectors`;
    const fix = bits
      ? `migrate the column to ${expected}, or ask the provider for float vectors`
      : 'ask the provider for packed bits (Voyage: `outputDtype: "ubinary"`), or migrate the column to vector(n) or halfvec(n)';
    throw new StoreError(
      `${name} is ${found}, but ${target.provider} model ${target.model} makes ${made}: expected ${expected}. ${fix[0]!.toUpperCase()}${fix.slice(1)}.`,
      { reason: "schema" },
    );
  }
  const [dimensions, where] =
    size !== undefined
      ? [size, "holds"]
      : declared !== undefined
        ? [declared.dimensions, `is declared in ${declared.where} as`]
        : [];
  const made = bits ? target.dimensions * 8 : target.dimensions;
  if (dimensions === undefined || dimensions === made) return type;
  throw new DimensionMismatchError(
    bits
      ? `${name} ${where} bit(${dimensions}), but ${target.provider} model ${target.model} makes ${made}-bit vectors (${target.dimensions} packed bytes): ` +
          `use an output dimension of ${dimensions}, or migrate the column to bit(${made}) and re-embed.`
      : `${name} ${where} ${type}(${dimensions}), but ${target.provider} model ${target.model} makes ${made}-dimension vectors: ` +
          `use a model or output dimension of ${dimensions}, or migrate the column to ${type}(${made}) and re-embed.`,
    { expected: dimensions, actual: made, source: "store" },
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
  const composite = columns.length === 1 ? await compositeUniqueKeys(session, table, columns[0]!) : [];
  if (composite.length > 0) {
    // A composite key, e.g. (tenant_id, id): say why one of its columns cannot be the key, and what can.
    const shown = composite.map((keys) => `(${keys.join(", ")})`).join(" and ");
    throw new StoreError(
      `${names} is unique only together with other columns ${shown}, not alone, and this store needs one unique key column ${why}. ` +
        "Composite keys are not supported: the store's row id is one value, which keyset paging, row locks, compare-and-set writes, partitions, key ranges and similarity results all carry. " +
        "Use a column that is unique on its own (often the `id` of (tenant_id, id) already is: declare it `.unique()`), or add one (`bigint generated always as identity unique`), and scope a tenant with `filter`.",
      { reason: "schema" },
    );
  }
  throw new StoreError(`${names} needs a unique index (primary key or .unique()) ${why}.`, {
    reason: "schema",
  });
}
