import { type SQL, sql } from "drizzle-orm";
import { validateQueryVector } from "../../src/backfill/validate-embeddings.js";
import { DimensionMismatchError, InvalidOptionError } from "../../src/errors/index.js";
import { bitText, castType } from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";

/**
 * How similarity searches measure distance on the store's embedding column: cosine (`<=>`) on
 * `vector` and `halfvec` columns, served by `vector_cosine_ops` / `halfvec_cosine_ops` indexes; on
 * `bit` columns Hamming (`<~>`, served by `bit_hamming_ops`), reported as the fraction of differing
 * bits (0 to 1) so that `similarity = 1 - distance` reads the same way.
 */
export interface Distance {
  /** What to order by: the bare operator, so that an index serves it. */
  readonly order: SQL;
  /** The distance reported (and compared with a threshold). */
  readonly distance: SQL<number>;
}

/**
 * The distance of the store's embedding column to `query` (an SQL value of the column's type). `cast`:
 * the column (of no declared size, holding several models' vectors) is read as `type(cast)` — as
 * `halfvec(cast)`, query included, for a `vector` beyond pgvector's index limit of 2,000 dimensions —
 * the expression a model's partial index is built on, so that the index serves the order.
 */
export function distanceTo(config: StoreConfig, query: SQL, cast?: number): Distance {
  const bare = sql`${config.target.embedding}`;
  const { type } = config.target;
  let column = bare;
  let to = query;
  if (cast !== undefined && type !== "bit") {
    // As the model's index reads it: halfvec beyond pgvector's 2,000 dimensions for a vector index.
    const as = sql.raw(`${castType(type, cast)}(${cast})`);
    column = sql`(${bare}::${as})`;
    if (castType(type, cast) !== type) to = sql`(${query})::${as}`;
  }
  if (type !== "bit") {
    const order = sql<number>`${column} <=> ${to}`;
    return { order, distance: order };
  }
  const order = sql<number>`${column} <~> ${to}`;
  return { order, distance: sql<number>`(${order})::float8 / bit_length(${column})` };
}

/**
 * A query vector checked against the column and turned into an SQL value of its type: numbers for
 * `vector` / `halfvec` (as `validateQueryVector` checks them), packed bits for `bit` (bytes from 0 to
 * 255, one per 8 dimensions, as a provider with `vectorType: "bit"` returns them).
 */
export function queryValue(config: StoreConfig, vector: unknown): SQL {
  const declared = config.target.dimensions;
  if (config.target.type !== "bit") {
    // Drizzle serialises vectors with JSON.stringify: a Float32Array must become a plain array.
    return sql`${JSON.stringify(Array.from(validateQueryVector(vector, declared)))}`;
  }
  const list = vector as ArrayLike<unknown> | null | undefined;
  if (list === null || typeof list !== "object" || typeof list.length !== "number" || list.length === 0) {
    throw new InvalidOptionError(
      "vector",
      "packed bits: a non-empty array of bytes (integers from 0 to 255)",
    );
  }
  if (declared !== undefined && list.length * 8 !== declared) {
    throw new DimensionMismatchError(
      `The query vector has ${list.length} packed bytes (${list.length * 8} bits); the stored vectors have ${declared} bits. Embed the query with the model and output dimension that made them.`,
      { expected: declared / 8, actual: list.length, source: "query" },
    );
  }
  for (let i = 0; i < list.length; i++) {
    const byte = list[i];
    if (typeof byte !== "number" || !Number.isInteger(byte) || byte < 0 || byte > 255) {
      throw new InvalidOptionError(
        "vector",
        `packed bits, bytes from 0 to 255, but position ${i} of ${list.length} is ${typeof byte === "number" ? String(byte) : typeof byte}`,
      );
    }
  }
  const bits = bitText(list as ArrayLike<number>);
  return sql`${bits}::bit(${sql.raw(String(bits.length))})`;
}
