import { and, eq, isNotNull, ne, type SQL, sql } from "drizzle-orm";
import { InvalidOptionError } from "../../src/errors/index.js";
import { guard } from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";
import { distanceTo, queryValue } from "./distance.js";
import type { AnyPgDatabase } from "./driver.js";

/**
 * A row found by a similarity search.
 * @example
 * ```ts
 * const [best] = await store.nearest(queryVector, { limit: 1 });
 * if (best && best.similarity > 0.8) console.log(best.id);
 * ```
 */
export interface SimilarRow<Id = unknown> {
  /** The source row's key. */
  readonly id: Id;
  /**
   * Cosine distance to the query, `0` (same direction) to `2` (opposite); on a `bit` column, Hamming
   * distance as the fraction of bits that differ, `0` to `1`.
   */
  readonly distance: number;
  /** `1 - distance`: cosine similarity, `1` for identical directions (on a `bit` column, the fraction of equal bits). */
  readonly similarity: number;
}

/**
 * Options of `nearest()`.
 * @example
 * ```ts
 * await store.nearest(queryVector, { limit: 5, filter: eq(skills.published, true), model: "voyage-3.5" });
 * ```
 */
export interface NearestOptions {
  /**
   * Most rows returned.
   * @default 10
   */
  readonly limit?: number;
  /**
   * A condition on source columns (added to the store's `source.filter`). With an HNSW index, a very
   * selective filter can return fewer than `limit` rows: pgvector filters the index's candidates.
   * @default undefined
   */
  readonly filter?: SQL;
  /**
   * Only rows embedded by this model (vectors of different models are not comparable).
   * @default undefined (every model)
   */
  readonly model?: string;
}

/**
 * Options of `findSimilar()`.
 * @example
 * ```ts
 * // near-duplicates of skill 42
 * await store.findSimilar(42, { threshold: 0.92, limit: 5 });
 * ```
 */
export interface FindSimilarOptions {
  /**
   * Most rows returned.
   * @default 10
   */
  readonly limit?: number;
  /**
   * Least cosine similarity (`1 - distance`) a row needs, e.g. `0.9` for near-duplicates.
   * @default undefined (no threshold)
   */
  readonly threshold?: number;
}

function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new InvalidOptionError("limit", "a positive integer");
  return limit;
}

function mapRows<Id>(rows: { id: unknown; distance: number }[]): SimilarRow<Id>[] {
  // A stored all-zero vector has no cosine distance (pgvector: NaN, sorted last; an HNSW index
  // leaves it out): never a result.
  return rows
    .filter((row) => !Number.isNaN(row.distance))
    .map((row) => ({ id: row.id as Id, distance: row.distance, similarity: 1 - row.distance }));
}

/**
 * The `limit` rows nearest to `vector` by cosine distance (`<=>`, served by an HNSW cosine index), or
 * Hamming distance on a `bit` column (`<~>`, `vector` then being packed bits).
 */
export async function nearest<Id>(
  config: StoreConfig,
  db: AnyPgDatabase,
  vector: ArrayLike<number>,
  options: NearestOptions = {},
): Promise<SimilarRow<Id>[]> {
  const limit = checkLimit(options.limit ?? 10);
  const { source, target } = config;
  const { order, distance: measured } = distanceTo(config, queryValue(config, vector));
  const distance = measured.mapWith(Number);
  const filter = and(source.filter, options.filter);
  let query = db.select({ id: target.key, distance }).from(target.table).$dynamic();
  if (filter && config.layout === "separate")
    query = query.innerJoin(source.table, eq(source.key, target.key));
  const rows = await guard(`Searching ${config.target.name.display}`, () =>
    query
      .where(
        and(
          isNotNull(target.embedding),
          options.model === undefined ? undefined : eq(target.model, options.model),
          filter,
        ),
      )
      .orderBy(order)
      .limit(limit),
  );
  return mapRows<Id>(rows);
}

/**
 * The rows most similar to row `id` (itself excluded), embedded by the same model, for near-duplicate
 * detection. Empty when the row has no embedding.
 */
export async function findSimilar<Id>(
  config: StoreConfig,
  db: AnyPgDatabase,
  id: Id,
  options: FindSimilarOptions = {},
): Promise<SimilarRow<Id>[]> {
  const limit = checkLimit(options.limit ?? 10);
  const { threshold } = options;
  if (threshold !== undefined && !(threshold >= -1 && threshold <= 1)) {
    throw new InvalidOptionError("threshold", "a cosine similarity from -1 to 1");
  }
  const { target, source } = config;
  // Scalar subqueries run once (an InitPlan): the index sees a constant query vector.
  const of = (column: typeof target.embedding) =>
    sql`(select ${column} from ${target.table} where ${eq(target.key, id)})`;
  const { order, distance: measured } = distanceTo(config, of(target.embedding));
  const distance = measured.mapWith(Number);
  let query = db.select({ id: target.key, distance }).from(target.table).$dynamic();
  if (source.filter && config.layout === "separate") {
    query = query.innerJoin(source.table, eq(source.key, target.key));
  }
  const rows = await guard(`Searching ${config.target.name.display}`, () =>
    query
      .where(
        and(
          ne(target.key, id),
          isNotNull(target.embedding),
          sql`${target.model} = ${of(target.model)}`,
          threshold === undefined ? undefined : sql`${distance} <= ${1 - threshold}`,
          source.filter,
        ),
      )
      .orderBy(order)
      .limit(limit),
  );
  return mapRows<Id>(rows);
}
