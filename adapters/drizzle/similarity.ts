import { and, type Column, eq, type GetColumnData, gt, ne, type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import type { EmbeddingProvider } from "../../src/contracts/embedding-provider.js";
import { SEARCH_DEFAULTS } from "../../src/defaults.js";
import { InvalidOptionError } from "../../src/errors/index.js";
import { guard, quoteLiteral } from "../../src/postgres/index.js";
import { type EmbedQueryOptions, embedQuery } from "../../src/search/embed-query.js";
import type { StoreConfig } from "./config.js";
import { distanceTo, queryValue } from "./distance.js";
import { type AnyPgDatabase, inTransaction, rowsOf } from "./driver.js";
import { keyType } from "./key-type.js";

/**
 * Columns of the source (or target) table, or SQL expressions, to bring back with each result, as in
 * Drizzle's `db.select({ … })`: `{ name: skills.name, tags: skills.tags }`.
 */
export type SimilaritySelection = Record<string, PgColumn | SQL | SQL.Aliased>;

/** The row a {@link SimilaritySelection} brings back, typed like Drizzle's select. */
export type SelectedRow<Selection extends SimilaritySelection> = {
  -readonly [Key in keyof Selection]: Selection[Key] extends Column
    ? GetColumnData<Selection[Key]>
    : Selection[Key] extends SQL<infer T> | SQL.Aliased<infer T>
      ? T
      : never;
};

/**
 * A row found by a similarity search; with a `select` option, also `row`: the selected columns.
 * @example
 * ```ts
 * const [best] = await store.nearest(queryVector, { limit: 1, select: { name: skills.name } });
 * if (best && best.similarity > 0.8) console.log(best.id, best.row.name);
 * ```
 */
export type SimilarRow<Id = unknown, Row extends object | undefined = undefined> = {
  /** The source row's key. */
  readonly id: Id;
  /**
   * Cosine distance to the query, `0` (same direction) to `2` (opposite); on a `bit` column, Hamming
   * distance as the fraction of bits that differ, `0` to `1`.
   */
  readonly distance: number;
  /** `1 - distance`: cosine similarity, `1` for identical directions (on a `bit` column, the fraction of equal bits). */
  readonly similarity: number;
} & (Row extends object ? { /** The columns of the `select` option. */ readonly row: Row } : unknown);

/** What a search with `select: Selection` (or none) resolves to. */
export type SimilarRows<Id, Selection extends SimilaritySelection | undefined> = SimilarRow<
  Id,
  Selection extends SimilaritySelection ? SelectedRow<Selection> : undefined
>[];

/**
 * How pgvector's HNSW index is searched, set for one query only (`SET LOCAL` in a transaction of its
 * own). An HNSW scan finds `hnsw.ef_search` candidates (pgvector's default 40) and then applies the
 * query's conditions: a selective `filter`, or a table holding several models' vectors, can leave fewer
 * than `limit` rows. An iterative scan (pgvector 0.8) keeps searching the graph until `limit` rows pass
 * the conditions (or `hnsw.max_scan_tuples` are scanned). Without an HNSW index these change nothing.
 */
export interface IndexTuning {
  /**
   * `hnsw.ef_search`: candidates an HNSW scan keeps (1 to 1,000). Higher finds more of the true
   * nearest rows (recall) at more cost; see the README's measurement.
   * @default pgvector's (40)
   */
  readonly efSearch?: number;
  /**
   * `hnsw.iterative_scan` (pgvector 0.8 and later; older versions search without it): `"relaxed_order"`
   * (results re-sorted by distance here), `"strict_order"`, or `"off"` (one statement, no transaction:
   * the fastest, but conditions may leave fewer than `limit` rows).
   * @default "relaxed_order"
   */
  readonly iterativeScan?: "off" | "relaxed_order" | "strict_order";
}

/** Options shared by every similarity search. */
export interface SimilarityOptions<Selection extends SimilaritySelection | undefined = undefined>
  extends IndexTuning {
  /**
   * Most rows returned: 1 to 1,000 (`SEARCH_DEFAULTS.maxLimit`).
   * @default 10
   */
  readonly limit?: number;
  /**
   * Least cosine similarity (`1 - distance`) a row needs, from -1 to 1: e.g. `0.5` for "related",
   * `0.92` for near-duplicates.
   * @default undefined (no threshold)
   */
  readonly threshold?: number;
  /**
   * A condition on source columns (added to the store's `source.filter`). See {@link IndexTuning} for
   * how a selective filter is served by the HNSW index.
   * @default undefined
   */
  readonly filter?: SQL;
  /**
   * Columns to bring back with each result (of the source or the target table, or SQL), as `row`:
   * `{ name: skills.name }` makes results `{ id, distance, similarity, row: { name: string } }`.
   * @default undefined (no `row`)
   */
  readonly select?: Selection;
  /**
   * Stops the query: the promise rejects with `signal.reason`.
   * @default undefined
   */
  readonly signal?: AbortSignal;
}

/**
 * Options of `nearest()`.
 * @example
 * ```ts
 * await store.nearest(queryVector, { limit: 5, filter: eq(skills.published, true), model: "voyage-3.5" });
 * ```
 */
export interface NearestOptions<Selection extends SimilaritySelection | undefined = undefined>
  extends SimilarityOptions<Selection> {
  /**
   * Only rows embedded by this model (vectors of different models are not comparable), and, when the
   * store has a `version`, under that version.
   * @default the model of the target given to the store's last `prepare()` (after a `backfill()`,
   * its provider's model); with none, every model
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
export interface FindSimilarOptions<Selection extends SimilaritySelection | undefined = undefined>
  extends SimilarityOptions<Selection> {
  /**
   * With `target.perModel`: compare the row's vector of this model with other rows' of the same model.
   * @default the active model (`perModel`); otherwise the row's own model
   */
  readonly model?: string;
}

/** The vector of a search: a query vector (an SQL value of the column's type), or the stored vector of a row. */
type Origin = { readonly vector: SQL } | { readonly id: unknown };

function checkLimit(limit: unknown, option = "limit", most: number = SEARCH_DEFAULTS.maxLimit): number {
  if (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > most) {
    throw new InvalidOptionError(option, `an integer from 1 to ${most}`);
  }
  return limit as number;
}

/** Checks a cosine similarity threshold; returns the greatest distance it admits. */
export function maxDistance(threshold: unknown): number | undefined {
  if (threshold === undefined) return undefined;
  if (typeof threshold !== "number" || !(threshold >= -1 && threshold <= 1)) {
    throw new InvalidOptionError("threshold", "a cosine similarity from -1 to 1");
  }
  return 1 - threshold;
}

const ITERATIVE = new Set(["off", "relaxed_order", "strict_order"]);

function checkTuning(options: IndexTuning): Required<Pick<IndexTuning, "iterativeScan">> & IndexTuning {
  const { efSearch, iterativeScan = "relaxed_order" } = options;
  if (efSearch !== undefined) checkLimit(efSearch, "efSearch", 1000);
  if (!ITERATIVE.has(iterativeScan)) {
    throw new InvalidOptionError("iterativeScan", '"off", "relaxed_order" or "strict_order"');
  }
  return { efSearch, iterativeScan };
}

/**
 * The vectors a search compares: one model's (and version's), never a mix. `model` is SQL for
 * `findSimilar()` on a one-vector-per-row target (the row's own model). `cast`: the size the column is
 * read as, when it has none and holds several models (the expression of the model's partial index).
 */
export interface VectorSpace {
  readonly model: string | SQL;
  readonly version: string | undefined;
  readonly cast?: number;
}

/**
 * Rows holding a vector of the space's model and version. With `perModel` the model and version are
 * literals in the statement's text: a model's partial HNSW index (`where model = '…'`) is used only for
 * a query whose condition the planner can match to its predicate, which a bound parameter is not.
 */
export function currentVectors(config: StoreConfig, space: VectorSpace, alias?: string): SQL {
  const { target } = config;
  const col = (column: PgColumn) =>
    alias === undefined ? sql`${column}` : sql`${sql.identifier(alias)}.${sql.identifier(column.name)}`;
  const value = (v: string | SQL, option: string) =>
    typeof v === "string" && target.perModel ? sql.raw(quoteLiteral(v, option)) : sql`${v}`;
  return and(
    sql`${col(target.embedding)} is not null`,
    sql`${col(target.model)} = ${value(space.model, "model")}`,
    target.version && space.version !== undefined
      ? sql`${col(target.version)} = ${value(space.version, "version")}`
      : undefined,
  )!;
}

/** Whether the server's pgvector has iterative index scans (0.8 and later), asked once per store. */
export type IterativeSupport = { known?: Promise<boolean> };

async function supportsIterative(db: AnyPgDatabase, cache: IterativeSupport): Promise<boolean> {
  cache.known ??= rowsOf<{ version: string | null }>(
    db,
    sql`select extversion as version from pg_extension where extname = 'vector'`,
  ).then(([row]) => {
    const [major = 0, minor = 0] = String(row?.version ?? "0")
      .split(".")
      .map(Number);
    return major > 0 || minor >= 8;
  });
  return cache.known;
}

/**
 * Runs `query` with the HNSW settings of `tuning`, `SET LOCAL` in a transaction of its own (a
 * savepoint in a store transaction, whose settings then last until that transaction ends); as a
 * single statement when nothing is to be set.
 */
export async function tuned<T>(
  db: AnyPgDatabase,
  tuning: IndexTuning,
  cache: IterativeSupport,
  query: (db: AnyPgDatabase) => Promise<T>,
): Promise<T> {
  const iterative =
    tuning.iterativeScan !== undefined &&
    tuning.iterativeScan !== "off" &&
    (await supportsIterative(db, cache));
  if (!iterative && tuning.efSearch === undefined) return query(db);
  return inTransaction(db, async (tx) => {
    const settings: SQL[] = [];
    if (iterative) settings.push(sql`set_config('hnsw.iterative_scan', ${tuning.iterativeScan}, true)`);
    if (tuning.efSearch !== undefined) {
      settings.push(sql`set_config('hnsw.ef_search', ${String(tuning.efSearch)}, true)`);
    }
    await tx.execute(sql`select ${sql.join(settings, sql`, `)}`);
    return query(tx);
  });
}

/** Checks the options every search shares, before anything is asked of a provider or the database. */
export function checkSimilarityOptions(options: SimilarityOptions<SimilaritySelection | undefined>) {
  if (typeof options !== "object" || options === null) throw new InvalidOptionError("options", "an object");
  const limit = checkLimit(options.limit ?? SEARCH_DEFAULTS.limit);
  const most = maxDistance(options.threshold);
  const tuning = checkTuning(options);
  const { select } = options;
  if (select !== undefined && (typeof select !== "object" || select === null || Array.isArray(select))) {
    throw new InvalidOptionError("select", "an object of columns, as in db.select({ … })");
  }
  return { limit, most, tuning };
}

/**
 * The rows nearest to `origin` (a query vector, or row `id`'s stored vector, that row excluded) by
 * cosine distance, embedded by `model`, best first.
 */
export async function similarRows(
  config: StoreConfig,
  db: AnyPgDatabase,
  origin: Origin,
  space: VectorSpace,
  options: SimilarityOptions<SimilaritySelection | undefined>,
  cache: IterativeSupport,
): Promise<SimilarRow<unknown, Record<string, unknown> | undefined>[]> {
  const { limit, most, tuning } = checkSimilarityOptions(options);
  const { select } = options;
  const { source, target } = config;
  // Scalar subqueries run once (an InitPlan): the index sees a constant query vector.
  const of = (column: PgColumn) =>
    sql`(select ${column} from ${target.table} where ${and(
      eq(target.key, (origin as { id: unknown }).id),
      target.perModel ? currentVectors(config, space) : undefined,
    )})`;
  const { order, distance: measured } = distanceTo(
    config,
    "vector" in origin ? origin.vector : of(target.embedding),
    space.cast,
  );
  const distance = measured.mapWith(Number);
  const filter = and(source.filter, options.filter);
  const fields: Record<string, PgColumn | SQL | SimilaritySelection> = { id: target.key, distance };
  if (select) fields.row = select;
  const run = (on: AnyPgDatabase) => {
    let query = on.select(fields).from(target.table).$dynamic();
    if (config.layout === "separate" && (filter || select)) {
      query = query.innerJoin(source.table, eq(source.key, target.key));
    }
    return query
      .where(
        and(
          currentVectors(config, space),
          "id" in origin ? ne(target.key, origin.id) : undefined,
          most === undefined ? undefined : sql`${distance} <= ${most}`,
          filter,
        ),
      )
      .orderBy(order)
      .limit(limit);
  };
  const rows = (await guard(
    `Searching ${config.target.name.display}`,
    () => tuned(db, tuning, cache, run),
    options.signal,
  )) as { id: unknown; distance: number; row?: Record<string, unknown> }[];
  // A stored all-zero vector has no cosine distance (pgvector: NaN, sorted last; an HNSW index
  // leaves it out): never a result. A relaxed iterative scan may return rows slightly out of order.
  return rows
    .filter((row) => !Number.isNaN(row.distance))
    .sort((a, b) => a.distance - b.distance)
    .map((row) => ({
      id: row.id,
      distance: row.distance,
      similarity: 1 - row.distance,
      ...(select ? { row: row.row } : {}),
    })) as SimilarRow<unknown, Record<string, unknown> | undefined>[];
}

/**
 * The `limit` rows nearest to `vector` by cosine distance (`<=>`, served by an HNSW cosine index), or
 * Hamming distance on a `bit` column (`<~>`, `vector` then being packed bits).
 */
export async function nearest(
  config: StoreConfig,
  db: AnyPgDatabase,
  query: QueryVector,
  options: NearestOptions<SimilaritySelection | undefined>,
  space: VectorSpace,
  cache: IterativeSupport,
) {
  // A column of no declared size is searched as the query's size: the model's partial index is on that cast.
  const cast = untypedPerModel(config) ? query.length : undefined;
  return similarRows(config, db, { vector: query.value }, { ...space, cast }, options, cache);
}

/** A query vector, checked once: its SQL value (`queryValue()`) and its length. */
export interface QueryVector {
  readonly value: SQL;
  readonly length: number;
}

/** Checks `vector` against the column (`queryValue()`), before anything is asked of the database. */
export function queryVector(config: StoreConfig, vector: ArrayLike<number>): QueryVector {
  return { value: queryValue(config, vector), length: vector.length };
}

/** A `perModel` target whose float column has no declared size: searches cast it to the model's size. */
export function untypedPerModel(config: StoreConfig): boolean {
  const { target } = config;
  return target.perModel && target.dimensions === undefined && target.type !== "bit";
}

/** Checks a `model` option: a model id, or omitted. */
export function checkModel(model: unknown): string | undefined {
  if (model !== undefined && (typeof model !== "string" || model === "")) {
    throw new InvalidOptionError("model", "a model id");
  }
  return model;
}

/**
 * The rows most similar to row `id` (itself excluded), embedded by the same model, for near-duplicate
 * detection. Empty when the row has no embedding.
 */
export async function findSimilar(
  config: StoreConfig,
  db: AnyPgDatabase,
  id: unknown,
  options: FindSimilarOptions<SimilaritySelection | undefined>,
  space: VectorSpace | undefined,
  cache: IterativeSupport,
) {
  const { target, version } = config;
  // One vector per row: the row's own model is the one to compare with.
  const own = {
    model: sql`(select ${target.model} from ${target.table} where ${eq(target.key, id)})`,
    version,
  };
  return similarRows(config, db, { id }, space ?? own, options, cache);
}

/**
 * Options of `findDuplicates()`.
 * @example
 * ```ts
 * for await (const pair of store.findDuplicates({ threshold: 0.95 })) console.log(pair.a, pair.b);
 * ```
 */
export interface FindDuplicatesOptions extends IndexTuning {
  /**
   * Least cosine similarity of a pair, from -1 to 1.
   * @default 0.95
   */
  readonly threshold?: number;
  /**
   * Most pairs yielded, then it stops.
   * @default undefined (every pair found)
   */
  readonly limit?: number;
  /**
   * Nearest neighbours looked up per row (1 to 1,000): a pair is found when one of its rows is among
   * the other's `neighbors` nearest. Raise it when clusters of more than `neighbors` near-copies
   * matter.
   * @default 10
   */
  readonly neighbors?: number;
  /**
   * Only vectors of this model (and the store's version).
   * @default the model of the target given to the store's last `prepare()`; with none, throws
   * `InvalidOptionError` (`model`)
   */
  readonly model?: string;
  /**
   * Rows whose neighbours one query looks up: memory and query size, not the result.
   * @default 500
   */
  readonly pageSize?: number;
  /**
   * A condition on source columns (added to the store's `source.filter`): both rows of a pair match it.
   * @default undefined
   */
  readonly filter?: SQL;
  /**
   * Stops the search between pages and abandons the page being read: the iteration throws
   * `signal.reason`.
   * @default undefined
   */
  readonly signal?: AbortSignal;
}

/** Two rows whose vectors are at least `threshold` similar; `a` comes before `b` in key order. */
export interface DuplicatePair<Id = unknown> {
  /** The key of the pair's first row (in key order). */
  readonly a: Id;
  /** The key of the pair's second row. */
  readonly b: Id;
  /** Cosine distance between the two vectors. */
  readonly distance: number;
  /** `1 - distance`. */
  readonly similarity: number;
}

interface NeighbourRow extends Record<string, unknown> {
  a_key: unknown;
  a_cursor: string;
  b_key: unknown;
  b_cursor: string;
  distance: number | string;
  forward: boolean | string;
}

/**
 * Pairs of rows at least `threshold` similar, each pair once, found with the HNSW index: the store's
 * vectors are read a keyset page at a time, and for each row of a page a LATERAL subquery asks the
 * index for its `neighbors` nearest rows (`ORDER BY embedding <=> row.embedding LIMIT n`), rather than
 * comparing all pairs. A pair found from both of its rows is yielded once (the keys of pairs found
 * only from their first row are kept until their second row's page).
 */
export async function* findDuplicates(
  config: StoreConfig,
  db: AnyPgDatabase,
  space: VectorSpace,
  options: FindDuplicatesOptions,
  cache: IterativeSupport,
  serial: { run<T>(work: () => Promise<T>): Promise<T> },
): AsyncGenerator<DuplicatePair> {
  const most = maxDistance(options.threshold ?? SEARCH_DEFAULTS.duplicateThreshold)!;
  const limit =
    options.limit === undefined ? undefined : checkLimit(options.limit, "limit", Number.MAX_SAFE_INTEGER);
  const neighbors = checkLimit(options.neighbors ?? SEARCH_DEFAULTS.neighbors, "neighbors", 1000);
  const pageSize = checkLimit(options.pageSize ?? SEARCH_DEFAULTS.duplicatePageSize, "pageSize", 100_000);
  const tuning = checkTuning(options);
  const { signal } = options;
  const { source, target } = config;
  const type = keyType(target.key);
  const filter = and(source.filter, options.filter);
  const join =
    config.layout === "separate" && filter
      ? sql` inner join ${source.table} on ${eq(source.key, target.key)}`
      : sql``;
  const where = and(currentVectors(config, space), filter);
  const col = (column: PgColumn) => sql`relay_a.${sql.identifier(column.name)}`;
  const { order, distance } = distanceTo(config, col(target.embedding), space.cast);
  /** Pairs yielded from their first row whose second row's page is still to come. */
  const ahead = new Set<string>();
  let yielded = 0;
  let after: string | undefined;
  for (;;) {
    signal?.throwIfAborted();
    const keys = (
      await guard(
        `Finding duplicates in ${target.name.display}`,
        () =>
          serial.run(() =>
            rowsOf<{ cursor: string }>(
              db,
              sql`select ${target.key}::text as cursor from ${target.table}${join}
                where ${and(where, after === undefined ? undefined : gt(target.key, sql`${after}::${type}`))}
                order by ${target.key} limit ${pageSize}`,
            ),
          ),
        signal,
      )
    ).map((row) => String(row.cursor));
    if (keys.length === 0) return;
    const pairs = await guard(
      `Finding duplicates in ${target.name.display}`,
      () =>
        serial.run(() =>
          tuned(db, tuning, cache, (on) =>
            rowsOf<NeighbourRow>(
              on,
              sql`select relay_a.${sql.identifier(target.key.name)} as a_key,
                  relay_a.${sql.identifier(target.key.name)}::text as a_cursor,
                  n.key as b_key, n.cursor as b_cursor, n.distance,
                  relay_a.${sql.identifier(target.key.name)} < n.key as forward
                from ${target.table} as relay_a
                cross join lateral (
                  select ${target.key} as key, ${target.key}::text as cursor, ${distance} as distance
                  from ${target.table}${join}
                  where ${where}
                  order by ${order}
                  limit ${neighbors + 1}
                ) as n
                where relay_a.${sql.identifier(target.key.name)} in
                    (select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb)::${type})
                  and ${currentVectors(config, space, "relay_a")}
                  and n.key <> relay_a.${sql.identifier(target.key.name)}
                  and n.distance <= ${most}
                order by relay_a.${sql.identifier(target.key.name)}, n.distance`,
            ),
          ),
        ),
      signal,
    );
    for (const row of pairs) {
      const forward = row.forward === true || row.forward === "t" || row.forward === "true";
      const [first, second] = forward ? [row.a_cursor, row.b_cursor] : [row.b_cursor, row.a_cursor];
      const pair = JSON.stringify([first, second]);
      if (!forward && ahead.delete(pair)) continue;
      if (forward) ahead.add(pair);
      const d = Number(row.distance);
      const [a, b] = forward ? [row.a_key, row.b_key] : [row.b_key, row.a_key];
      yield {
        a: source.key.mapFromDriverValue(a),
        b: source.key.mapFromDriverValue(b),
        distance: d,
        similarity: 1 - d,
      };
      if (limit !== undefined && ++yielded >= limit) return;
    }
    if (keys.length < pageSize) return;
    after = keys[keys.length - 1];
  }
}

/**
 * Options of `search()`: a similarity search's, the provider that embeds the query text, and the
 * retry policy of that one request (`backfill()`'s, with its defaults).
 * @example
 * ```ts
 * await store.search("parse csv files", { provider, limit: 5, threshold: 0.3, select: { name: skills.name } });
 * // a target with vectors of several models: whichever is active answers
 * await store.search("parse csv files", { provider: [voyage35, voyage4] });
 * ```
 */
export interface SearchOptions<Selection extends SimilaritySelection | undefined = undefined>
  extends SimilarityOptions<Selection>,
    EmbedQueryOptions {
  /**
   * Embeds the query text (as a query: `inputType: "query"`); only vectors of the same model (and
   * version) are searched, whatever else the table holds. With `target.perModel` the active model's
   * vectors are searched: give its provider, or several providers (e.g. the old and the new model's
   * during a migration) and the one of the active model embeds the query; none of it is an
   * `InvalidOptionError` (`provider`), never a comparison across models. Otherwise the provider the
   * rows were embedded with (with several, the one of the model the store was prepared for).
   */
  readonly provider: EmbeddingProvider | readonly EmbeddingProvider[];
}

/** The providers of a `search()`'s `provider` option, checked. */
export function searchProviders(provider: unknown): EmbeddingProvider[] {
  const list = Array.isArray(provider) ? provider : [provider];
  const valid = (p: unknown): p is EmbeddingProvider =>
    typeof p === "object" && p !== null && typeof (p as EmbeddingProvider).model === "string";
  if (list.length === 0 || !list.every(valid)) {
    throw new InvalidOptionError(
      "provider",
      "an EmbeddingProvider (of the model the rows were embedded with), or a non-empty array of them",
    );
  }
  return list;
}

/** Embeds `text` as a query with `provider`, then searches the vectors of `space` (that provider's model). */
export async function search(
  config: StoreConfig,
  db: AnyPgDatabase,
  text: string,
  options: SearchOptions<SimilaritySelection | undefined>,
  provider: EmbeddingProvider,
  space: VectorSpace,
  cache: IterativeSupport,
) {
  checkSimilarityOptions(options);
  const vector = await embedQuery(provider, text, options);
  return nearest(config, db, queryVector(config, vector), options, space, cache);
}
