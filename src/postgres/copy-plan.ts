import { binaryKeyEncoder, type CopyField, TEXT_TYPES } from "./binary.js";
import { qualifiedName, quoteIdentifier, type TableName, tableColumns } from "./catalog.js";
import type { PgSession } from "./session.js";

/** How to binary-COPY rows of (key, vector, texts…) into a table, worked out from the catalog. */
export interface VectorCopyPlan {
  /** What {@link PgSession.copyIn} takes: `"table" ("key", "embedding", "model", "hash")`. */
  readonly into: string;
  /** The key, from its text form to the binary form of the key column's type. */
  readonly encodeKey: (key: string) => CopyField;
}

/** The columns of a {@link planVectorCopy}, in the order of each row's fields. */
export interface VectorCopyColumns {
  /** The key column: `int2`, `int4`, `int8`, `uuid`, `text` or `varchar`. */
  readonly key: string;
  /** The `vector` column. */
  readonly embedding: string;
  /** Text columns after the vector (`text` or `varchar`): model, hash, version… */
  readonly texts: readonly string[];
}

/**
 * A plan to COPY rows `[encodeKey(key), vector, ...texts]` into `table`, or `null` when a column's type
 * has no binary form here (another key type, a `halfvec` or `char(n)` column…): the store then writes
 * those rows another way. Columns that do not exist also give `null`; checking the schema is
 * {@link checkTableColumns}'s job.
 *
 * @example
 * ```ts
 * const plan = await planVectorCopy(session, tableName("skill_embeddings"), {
 *   key: "skill_id", embedding: "embedding", texts: ["model_name", "input_hash"],
 * });
 * if (plan) await tx.copyIn(plan.into, copyFile(rows.map((r) => [plan.encodeKey(r.key), r.embedding, model, r.hash])));
 * ```
 */
export async function planVectorCopy(
  session: PgSession,
  table: TableName,
  columns: VectorCopyColumns,
): Promise<VectorCopyPlan | null> {
  const found = await tableColumns(session, table);
  const typeOf = (column: string) => found?.find((info) => info.name === column)?.type ?? "";
  const encodeKey = binaryKeyEncoder(typeOf(columns.key));
  if (
    !encodeKey ||
    typeOf(columns.embedding) !== "vector" ||
    !columns.texts.every((column) => TEXT_TYPES.has(typeOf(column)))
  ) {
    return null;
  }
  const names = [columns.key, columns.embedding, ...columns.texts].map(quoteIdentifier);
  return { into: `${qualifiedName(table)} (${names.join(", ")})`, encodeKey };
}
