import { binaryKeyEncoder, type CopyField, TEXT_TYPES } from "./binary.js";
import { qualifiedName, quoteIdentifier, type TableName, tableColumns } from "./catalog.js";
import type { PgSession } from "./session.js";
import { type VectorColumnType, vectorBinary, vectorColumnType } from "./vector-types.js";

/** How to binary-COPY rows of (key, vector, texts…) into a table, worked out from the catalog. */
export interface VectorCopyPlan {
  /** What {@link PgSession.copyIn} takes: `"table" ("key", "embedding", "model", "hash")`. */
  readonly into: string;
  /** The key, from its text form to the binary form of the key column's type. */
  readonly encodeKey: (key: string) => CopyField;
  /** The embedding column's type. */
  readonly type: VectorColumnType;
  /** The vector, to the binary form of the embedding column's type (`vector`, `halfvec`, `bit`). */
  readonly encodeVector: (vector: Float32Array) => CopyField;
}

/** The columns of a {@link planVectorCopy}, in the order of each row's fields. */
export interface VectorCopyColumns {
  /** The key column: `int2`, `int4`, `int8`, `uuid`, `text` or `varchar`. */
  readonly key: string;
  /** The `vector`, `halfvec` or `bit` column. */
  readonly embedding: string;
  /** Text columns after the vector (`text` or `varchar`): model, hash, version… */
  readonly texts: readonly string[];
}

/**
 * A plan to COPY rows `[encodeKey(key), encodeVector(vector), ...texts]` into `table`, or `null` when a
 * column's type has no binary form here (another key type, a `char(n)` column…): the store then writes
 * those rows another way. Columns that do not exist also give `null`; checking the schema is
 * {@link checkTableColumns}'s job.
 *
 * @example
 * ```ts
 * const plan = await planVectorCopy(session, tableName("skill_embeddings"), {
 *   key: "skill_id", embedding: "embedding", texts: ["model_name", "input_hash"],
 * });
 * if (plan) await tx.copyIn(plan.into, copyFile(rows.map((r) => [plan.encodeKey(r.key), plan.encodeVector(r.embedding), model, r.hash])));
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
  const type = vectorColumnType(typeOf(columns.embedding));
  if (!encodeKey || !type || !columns.texts.every((column) => TEXT_TYPES.has(typeOf(column)))) {
    return null;
  }
  const names = [columns.key, columns.embedding, ...columns.texts].map(quoteIdentifier);
  // copyFile() sends a Float32Array as a `vector` itself; the other types go as encoded bytes.
  const encodeVector =
    type === "vector"
      ? (vector: Float32Array) => vector
      : (vector: Float32Array) => vectorBinary(type, vector);
  return { into: `${qualifiedName(table)} (${names.join(", ")})`, encodeKey, type, encodeVector };
}
