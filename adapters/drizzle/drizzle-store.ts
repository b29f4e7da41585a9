import type { PgTable } from "drizzle-orm/pg-core";
import type { BatchJobStore } from "../../src/contracts/batch-job-store.js";
import type {
  Coverage,
  CoverageOptions,
  EmbeddingRecord,
  EmbeddingStore,
  EmbeddingTarget,
  KeyBound,
  KeyBoundariesOptions,
  KeyRange,
  PendingItem,
  RefusedRow,
  RememberRefusedOptions,
  ScanOptions,
  WriteOptions,
  WriteResult,
} from "../../src/contracts/embedding-store.js";
import { SEARCH_DEFAULTS } from "../../src/defaults.js";
import { InvalidOptionError, StoreError } from "../../src/errors/index.js";
import {
  type ActiveModel,
  acquireRunLock,
  createVectorIndex,
  guard,
  type HeldLock,
  type PgSession,
} from "../../src/postgres/index.js";
import { DrizzleBatchJobs } from "./batch-jobs.js";
import { checkSchema } from "./check-schema.js";
import { resolveConfig, type StoreConfig, withRange } from "./config.js";
import type { WriteCache } from "./copy-new-rows.js";
import { countCoverage } from "./coverage.js";
import { type AnyPgDatabase, inTransaction, sessionOf } from "./driver.js";
import { keyBoundaries } from "./key-boundaries.js";
import {
  activeModel,
  type CutoverOptions,
  type CutoverResult,
  cutover,
  indexPart,
  type PruneOptions,
  pruneModel,
  type StoreIndexOptions,
  storedDimensions,
} from "./models.js";
import type { ColumnData, ColumnOf, DrizzleStoreOptions, TextColumnOf } from "./options.js";
import { prune } from "./prune.js";
import { DrizzleRefusals } from "./refusals.js";
import { checkKeysExist, type KeyedConfig, withKeys } from "./row-keys.js";
import { type ReadContext, scanRows } from "./scan.js";
import { concurrent, Serial } from "./serial.js";
import {
  checkModel,
  checkSimilarityOptions,
  type DuplicatePair,
  type FindDuplicatesOptions,
  type FindSimilarOptions,
  findDuplicates,
  findSimilar,
  type IterativeSupport,
  type NearestOptions,
  nearest,
  queryVector,
  type SearchOptions,
  type SimilaritySelection,
  type SimilarRows,
  search,
  searchProviders,
  untypedPerModel,
  type VectorSpace,
} from "./similarity.js";
import { checkSqlText } from "./sql-text.js";
import { writeRecords } from "./write.js";

/**
 * The store `drizzleStore()` returns: an {@link EmbeddingStore} for `backfill()`, plus similarity
 * search and maintenance on the same tables.
 * @typeParam Id - the source key's type as Drizzle maps it (`number`, `string`, `bigint`…).
 * @example
 * ```ts
 * const store: DrizzleStore<number> = drizzleStore({ db, source, target });
 * await backfill({ provider, store });
 * await store.createIndex();
 * const duplicates = await store.findSimilar(42, { threshold: 0.95 });
 * ```
 */
export interface DrizzleStore<Id = unknown> extends EmbeddingStore<Id> {
  /**
   * Checks the `vector` extension, the tables, the embedding column's dimensions, the unique
   * indexes and a SQL `source.text` (its type, and that it uses only the source table), then takes the run's advisory lock (see the `lock` option). Throws `StoreError`
   * (`extension_missing`, `schema`, `locked`) or `DimensionMismatchError` (`source: "store"`).
   */
  prepare(target: EmbeddingTarget, options?: { readonly signal?: AbortSignal }): Promise<void>;
  /**
   * Counts the rows (after `source.filter`, `partition` and `withKeyRange()`) by state: `{ total,
   * embedded, stale, missing }`. Vectors count as current when their text hash, model (`options.model`, or the model
   * of the target given to the last `prepare()`) and version match. With a SQL `source.text` this is
   * one aggregate query (no text leaves the database), which `signal` cancels on the server. With a
   * JavaScript `source.text` each row's text is built and hashed, so this reads the whole source table
   * a page at a time; `signal` stops it between pages and abandons the page being read. Throws
   * `InvalidOptionError` (`model`) when no model is known.
   * @example
   * ```ts
   * await store.prepare(provider);
   * const { missing, stale } = await store.coverage();
   * ```
   */
  coverage(options?: CoverageOptions): Promise<Coverage>;
  /** Frees the advisory lock and its connection. Safe to call more than once. */
  release(): Promise<void>;
  /**
   * Runs `work` with a store bound to one transaction: every query of it goes through that
   * transaction, one operation at a time (calls made at once wait for each other).
   */
  transaction<T>(work: (store: DrizzleStore<Id>) => Promise<T>): Promise<T>;
  /**
   * Searches by text: embeds `text` as a query with `options.provider` (`inputType: "query"`, through
   * the retry policy of `backfill()`), then returns the rows nearest to it among the vectors of that
   * provider's model (and version) only, even when the table holds other models' vectors. With
   * `target.perModel`, the active model's vectors are searched, embedded by the provider of that
   * model among those given (`provider: [old, next]` during a migration). With `select`, each result
   * carries those columns as `row`, typed. Throws `InvalidOptionError` for an empty text (`query`), a
   * `limit` outside 1–1,000, a `threshold` outside [-1, 1], a `provider` of no active model, before
   * any request; then as `nearest()`, or `APICallError` when the provider fails.
   * @example
   * ```ts
   * const hits = await store.search("parse csv files", { provider, limit: 5, select: { name: skills.name } });
   * for (const hit of hits) console.log(hit.similarity.toFixed(3), hit.row.name);
   * ```
   */
  search<Selection extends SimilaritySelection | undefined = undefined>(
    text: string,
    options: SearchOptions<Selection>,
  ): Promise<SimilarRows<Id, Selection>>;
  /**
   * The rows nearest to `vector` by cosine distance. Embed the query with the same provider (and
   * model) as the stored vectors, as a query (`inputType: "query"`) — `search()` does both. Only
   * vectors of one model (and version) are ever compared: `model` when given; else, with
   * `target.perModel`, the active model (`StoreError` `no_active_model` before the first cutover);
   * else the model of the target given to the last `prepare()` (after a `backfill()`, its provider's),
   * and with none an `InvalidOptionError` (`model`).
   * @example
   * ```ts
   * const vector = await embedQuery(provider, "parse csv files");
   * const hits = await store.nearest(vector, { limit: 5, model: provider.model });
   * ```
   */
  nearest<Selection extends SimilaritySelection | undefined = undefined>(
    vector: ArrayLike<number>,
    options?: NearestOptions<Selection>,
  ): Promise<SimilarRows<Id, Selection>>;
  /**
   * The rows most similar to row `id`, itself excluded, among vectors of the same model (and the
   * store's `version`): with `target.perModel`, the row's vector of `model` (default: the active
   * model); otherwise the row's own. Empty when the row has no such vector.
   * @example
   * ```ts
   * const duplicates = await store.findSimilar(skillId, { threshold: 0.95, select: { name: skills.name } });
   * ```
   */
  findSimilar<Selection extends SimilaritySelection | undefined = undefined>(
    id: Id,
    options?: FindSimilarOptions<Selection>,
  ): Promise<SimilarRows<Id, Selection>>;
  /**
   * Pairs of rows whose vectors are at least `threshold` similar (default 0.95), each pair once,
   * streamed: the vectors are read a page at a time and each row's `neighbors` nearest rows are
   * looked up with the HNSW index (a LATERAL nearest-neighbour query per row), never all pairs
   * compared. Build the index first (`createIndex()`): without one each lookup scans the table.
   * @example
   * ```ts
   * for await (const { a, b, similarity } of store.findDuplicates({ threshold: 0.95 })) {
   *   console.log(a, b, similarity);
   * }
   * ```
   */
  findDuplicates(options?: FindDuplicatesOptions): AsyncIterable<DuplicatePair<Id>>;
  /**
   * This store restricted to the rows with these keys, taking no run lock: what `embedRows()` runs
   * `backfill()` on, so that rows can be embedded while a backfill of the table runs. Its
   * `prepare()` throws `StoreError` (`unknown_rows`, with `rowIds`) for keys that name no row (after
   * `source.filter`). Throws `InvalidOptionError` (`ids`) for an empty list or more than 1,000 keys.
   * @example
   * ```ts
   * await embedRows({ provider, store, ids: [skill.id] }); // runs backfill() on store.withKeys([skill.id])
   * ```
   */
  withKeys(ids: readonly Id[]): DrizzleStore<Id>;
  /**
   * Builds the vector index (HNSW, cosine by default) if it does not exist; returns its name. With
   * `target.perModel`, a partial index over one model's vectors (`options.model`, by default the
   * active one), cast to its size when the column has none: build one per model.
   * @example
   * ```ts
   * await store.createIndex(); // skill_embeddings_embedding_hnsw_idx
   * await store.createIndex({ model: "voyage-4" }); // skill_embeddings_embedding_voyage_4_1_hnsw_idx
   * ```
   */
  createIndex(options?: StoreIndexOptions): Promise<string>;
  /**
   * Deletes the embeddings whose source row is gone (separate-table layout); returns how many. Rows
   * merely excluded by `source.filter` keep theirs. In the same-row layout a vector is deleted with its
   * row, so there is nothing to prune: it throws `StoreError` (`unsupported`) rather than return a 0
   * that would read as "checked, nothing found". With `{ model }` (`target.perModel` only), deletes
   * every vector of that model at the store's `version` instead — the old model after a cutover; the
   * active model's are refused (`StoreError` `unsupported`).
   * @example
   * ```ts
   * await store.prune(); // orphans
   * await store.prune({ model: "voyage-3.5" }); // after store.cutover({ model: "voyage-4" })
   * ```
   */
  prune(options?: PruneOptions): Promise<number>;
  /**
   * The model whose vectors answer searches of a `target.perModel` store: from the `active` option
   * when fixed in code, else from the table of active models (read now, every call); `undefined`
   * before the first `cutover()`. Throws `StoreError` (`unsupported`) on a one-vector-per-row target.
   */
  activeModel(): Promise<ActiveModel | undefined>;
  /**
   * Makes `model` (at the store's `version`) the active model of a `target.perModel` store, in one
   * transaction, only if its vectors are current for every row (counted over the whole table, in that
   * transaction); otherwise throws `StoreError` (`coverage_incomplete`, with `coverage`) and switches
   * nothing. Switching back is a cutover to the old model (refused too once its vectors have gone stale
   * or been pruned). Every search reads the active model, so running applications follow at once.
   * Throws `StoreError` (`unsupported`) when the active model is fixed in code.
   * @example
   * ```ts
   * await backfill({ provider: voyage4, store });
   * const { previous, active } = await store.cutover({ model: "voyage-4" });
   * await store.prune({ model: previous!.model });
   * ```
   */
  cutover(options: CutoverOptions): Promise<CutoverResult>;
  /**
   * Remembers rows the provider refused as too long (what `backfill()` calls), in the `refusals`
   * table, which it creates when missing unless `refusals.create` is `false` (then `StoreError`
   * `schema`); with `refusals: false` it remembers nothing. While a row's text keeps the refused hash,
   * scans for that model (and the store's version) yield it with `refused: true` and without its text.
   */
  rememberRefused(rows: readonly RefusedRow<Id>[], options: RememberRefusedOptions): Promise<void>;
  /** The jobs of batch mode, in the `batchJobs` table (bound to the transaction, in one). */
  readonly batchJobs: BatchJobStore<Id>;
  /**
   * The key (as `key::text`) of every `every`-th row in key order, after `filter`: one query walking
   * the key's index; only the boundaries are read. Splits a run into ranges of `every` rows.
   * @example
   * ```ts
   * await store.keyBoundaries({ every: 10_000 }); // [["10000"], ["20000"], …]
   * ```
   */
  keyBoundaries(options: KeyBoundariesOptions): Promise<KeyBound[]>;
  /**
   * This store restricted to keys in `range` (`after < key <= through`, key text forms): its scan and
   * coverage read only those rows, and `prepare()` locks only that range (sharing the table's lock
   * with the other ranges, so a run over the whole table still excludes them). Not with `partition`.
   * @example
   * ```ts
   * await backfill({ provider, store: store.withKeyRange({ after: ["10000"], through: ["20000"] }) });
   * ```
   */
  withKeyRange(range: KeyRange): DrizzleStore<Id>;
}

/**
 * Whether the store must run one operation at a time: bound to a transaction, or on a single
 * node-postgres Client, which (unlike PGlite, which queues transactions itself) would run another
 * operation's statements inside a transaction in progress.
 */
function oneAtATime(session: PgSession, bound: boolean): boolean {
  return bound || (session.driver === "node-postgres" && session.capabilities.singleConnection);
}

/**
 * The run's advisory lock (see the `lock` option), on a connection of its own: the whole target, or
 * this store's partition or key range.
 */
async function lockRun(
  config: StoreConfig,
  session: PgSession,
  target: EmbeddingTarget,
): Promise<HeldLock | undefined> {
  if (!config.lock) return undefined;
  const { capabilities } = session;
  if (config.lock === "required" && capabilities.sharedServer && !capabilities.reserve) {
    throw new StoreError(
      `lock: true, but this Drizzle driver gives the library no connection of its own to hold the advisory lock of ${config.target.name.display} on (node-postgres and postgres.js do): pass \`lock: false\`, and make sure one process at a time embeds this table.`,
      { reason: "unsupported" },
    );
  }
  // Holding the only connection of a pool for the lock would leave none for the queries: a hang.
  if (!capabilities.singleConnection && (capabilities.maxConnections ?? 2) < 2) {
    throw new InvalidOptionError(
      "lock",
      "false with a single-connection pool (the lock keeps one connection for the run)",
    );
  }
  const { name, embedding, perModel } = config.target;
  // Side by side, each model's vectors are their own: a new model's backfill runs beside the old one's.
  const model = perModel ? `:${target.model}${config.version === undefined ? "" : `@${config.version}`}` : "";
  return acquireRunLock(session, {
    resource: `relay.embeddings:${name.display}.${embedding.name}${model}`,
    display: name.display,
    partition: config.partition,
    range: config.range,
  });
}

class Store<Id> implements DrizzleStore<Id> {
  #lock: HeldLock | undefined;
  /** The target of the last `prepare()`: what `coverage()` counts for when given no model. */
  #target: EmbeddingTarget | undefined;
  readonly #serial: Pick<Serial, "run">;
  readonly batchJobs: DrizzleBatchJobs<Id>;
  readonly #refusals: DrizzleRefusals;
  /** The PostgreSQL kit's session over `db`. */
  readonly #session: PgSession;
  /** The store that owns the lock and the pool: this one, or the one this store's transaction is of. */
  readonly #owner: Store<Id>;
  /** Whether the table of active models was seen to exist (searches then skip the catalog lookup). */
  readonly #activeTable: { exists?: boolean } = {};
  /** Whether pgvector has iterative index scans, asked once. */
  readonly #iterative: IterativeSupport = {};

  constructor(
    private readonly config: StoreConfig,
    private readonly db: AnyPgDatabase,
    /** Bound to a transaction: the root store owns the lock. */
    private readonly bound: boolean,
    private readonly cache: WriteCache,
    target?: EmbeddingTarget,
    owner?: Store<Id>,
  ) {
    this.#target = target;
    this.#owner = owner ?? this;
    this.#session = sessionOf(db, bound);
    this.#serial = oneAtATime(this.#session, bound) ? new Serial() : concurrent;
    this.batchJobs = new DrizzleBatchJobs<Id>(config, this.#session, this.#serial);
    this.#refusals = new DrizzleRefusals(
      config,
      this.#session,
      this.#serial,
      owner ? owner.#refusals : undefined,
    );
  }

  async prepare(target: EmbeddingTarget, options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted();
    await guard(
      `Checking ${this.config.target.name.display}`,
      () =>
        this.#serial.run(async () => {
          await checkSchema(this.config, this.#session, target);
          await checkSqlText(this.config, this.db);
        }),
      options.signal,
    );
    const keyed = this.config as Partial<KeyedConfig>;
    if (keyed.keys) {
      await this.#serial.run(() => checkKeysExist(keyed as KeyedConfig, this.db, options.signal));
    }
    this.#target = target;
    if (!this.bound && !this.#lock) this.#lock = await lockRun(this.config, this.#session, target);
  }

  async release(): Promise<void> {
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release();
  }

  /** The scan counts what it will yield (`onCount`): a run needs no `coverage()` first. */
  readonly countsWhileScanning = true;

  /** How reads run: one at a time where they must, cancelled on the server through the pool. */
  get #reads(): ReadContext {
    return { serial: this.#serial, root: this.#owner.#session };
  }

  scan(options: ScanOptions): AsyncIterable<PendingItem<Id>[]> {
    return scanRows<Id>(this.config, this.db, options, this.#reads, this.#refusals);
  }

  async write(records: readonly EmbeddingRecord<Id>[], options: WriteOptions): Promise<WriteResult<Id>> {
    const owner = this.#owner;
    // The lock is verified inside the write's transaction; an abort is sent through the pool.
    const guards = { lock: owner.#lock, root: owner.#session };
    const result = await this.#serial.run(() =>
      writeRecords(this.config, this.db, records, options, this.cache, guards),
    );
    await this.#refusals.forget(records, options.model, options.signal);
    return result;
  }

  rememberRefused(rows: readonly RefusedRow<Id>[], options: RememberRefusedOptions): Promise<void> {
    return this.#refusals.remember(rows, options);
  }

  transaction<T>(work: (store: DrizzleStore<Id>) => Promise<T>): Promise<T> {
    return this.#serial.run(() =>
      inTransaction(this.db, (tx) =>
        work(new Store<Id>(this.config, tx, true, this.cache, this.#target, this.#owner)),
      ),
    );
  }

  async coverage(options: CoverageOptions = {}): Promise<Coverage> {
    const model = options.model ?? this.#target?.model;
    if (model === undefined) {
      throw new InvalidOptionError(
        "model",
        "given (`store.coverage(provider)` or `store.coverage({ model })`), or `store.prepare(target)` called first, so the store knows which model's vectors are current",
      );
    }
    return countCoverage(this.config, this.db, model, options.signal, this.#reads);
  }

  /**
   * The vectors a search compares: `given`'s model, else (side by side) the active model, else the
   * model of the last `prepare()`. Never every model: vectors of two models are not comparable.
   */
  async #space(given: unknown, what: string): Promise<VectorSpace & { dimensions?: number }> {
    const model = checkModel(given);
    const { version, target } = this.config;
    if (model !== undefined) return { model, version };
    if (target.perModel) {
      const active = await this.#serial.run(() =>
        activeModel(this.config, this.#session, this.#owner.#activeTable),
      );
      if (!active) {
        throw new StoreError(
          `${target.name.display} keeps several models' vectors and none is active yet: make one active with \`store.cutover({ model })\` once its vectors cover every row (or name the model: \`${what}({ model })\`).`,
          { reason: "no_active_model" },
        );
      }
      return { model: active.model, version: active.version, dimensions: active.dimensions };
    }
    const prepared = this.#target?.model;
    if (prepared === undefined) {
      throw new InvalidOptionError(
        "model",
        `given (\`${what}(…, { model })\`), or \`store.prepare(target)\` called first: vectors of different models are not comparable, so a search compares one model's`,
      );
    }
    return { model: prepared, version };
  }

  async search<Selection extends SimilaritySelection | undefined = undefined>(
    text: string,
    options: SearchOptions<Selection>,
  ): Promise<SimilarRows<Id, Selection>> {
    checkSimilarityOptions(options);
    const providers = searchProviders(options.provider);
    if (!this.config.target.perModel) {
      const provider =
        providers.length === 1
          ? providers[0]!
          : (providers.find((p) => p.model === this.#target?.model) ?? providers[0]!);
      const space = { model: provider.model, version: this.config.version };
      const run = () => search(this.config, this.db, text, options, provider, space, this.#owner.#iterative);
      return this.#serial.run(run) as Promise<SimilarRows<Id, Selection>>;
    }
    return this.#ofActive(options, "search", async (space) => {
      const provider = providers.find((p) => p.model === space.model);
      if (!provider) {
        throw new InvalidOptionError(
          "provider",
          `the provider of ${this.config.target.name.display}'s active model ${String(space.model)} (given: ${providers.map((p) => p.model).join(", ")}); during a migration pass both models' providers, and the active one embeds the query`,
        );
      }
      const run = () => search(this.config, this.db, text, options, provider, space, this.#owner.#iterative);
      return (await this.#serial.run(run)) as SimilarRows<Id, Selection>;
    });
  }

  /**
   * A search of the active model (`perModel`, no `model` given). The active model is read, then the
   * search runs: a cutover and a prune of the model read can both commit in between, and the search
   * would find nothing. So an answer short of `limit` is checked: if the active model changed
   * meanwhile, the search runs once more, on the model active now.
   */
  async #ofActive<Row>(
    options: { readonly limit?: number; readonly model?: string },
    what: string,
    run: (space: VectorSpace & { dimensions?: number }) => Promise<Row[]>,
  ): Promise<Row[]> {
    const space = await this.#space(options.model, what);
    const rows = await run(space);
    const explicit = options.model !== undefined || this.config.active?.kind !== "table";
    if (explicit || rows.length >= (options.limit ?? SEARCH_DEFAULTS.limit)) return rows;
    const now = await this.#space(undefined, what);
    if (now.model === space.model && now.version === space.version) return rows;
    return run(now);
  }

  async nearest<Selection extends SimilaritySelection | undefined = undefined>(
    vector: ArrayLike<number>,
    options: NearestOptions<Selection> = {},
  ): Promise<SimilarRows<Id, Selection>> {
    checkSimilarityOptions(options);
    const query = queryVector(this.config, vector); // a bad vector is refused before any query
    const space = await this.#space(options.model, "nearest");
    const run = () => nearest(this.config, this.db, query, options, space, this.#owner.#iterative);
    return this.#serial.run(run) as Promise<SimilarRows<Id, Selection>>;
  }

  async findSimilar<Selection extends SimilaritySelection | undefined = undefined>(
    id: Id,
    options: FindSimilarOptions<Selection> = {},
  ): Promise<SimilarRows<Id, Selection>> {
    checkSimilarityOptions(options);
    const similar = (space: VectorSpace | undefined) => {
      const run = () => findSimilar(this.config, this.db, id, options, space, this.#owner.#iterative);
      return this.#serial.run(run) as Promise<SimilarRows<Id, Selection>>;
    };
    if (!this.config.target.perModel) return similar(undefined);
    return this.#ofActive(options, "findSimilar", async (space) => similar(await this.#sized(space)));
  }

  /** With a column of no declared size, the space's vectors are read as their model's size (its index's cast). */
  async #sized(space: VectorSpace & { dimensions?: number }): Promise<VectorSpace> {
    if (!untypedPerModel(this.config)) return space;
    const model = String(space.model);
    const cast =
      space.dimensions ?? (await this.#serial.run(() => storedDimensions(this.config, this.db, model)));
    return { ...space, cast };
  }

  findDuplicates(options: FindDuplicatesOptions = {}): AsyncIterable<DuplicatePair<Id>> {
    if (typeof options !== "object" || options === null) throw new InvalidOptionError("options", "an object");
    // Known at once for one vector per row: a mistake throws here, not at the first iteration.
    if (!this.config.target.perModel && checkModel(options.model) === undefined && !this.#target) {
      throw new InvalidOptionError(
        "model",
        "given (`findDuplicates({ model })`), or `store.prepare(target)` called first: vectors of different models are not comparable",
      );
    }
    const store = this;
    return (async function* () {
      const space = await store.#sized(await store.#space(options.model, "findDuplicates"));
      yield* findDuplicates(store.config, store.db, space, options, store.#owner.#iterative, store.#serial);
    })() as AsyncIterable<DuplicatePair<Id>>;
  }

  activeModel(): Promise<ActiveModel | undefined> {
    return this.#serial.run(() => activeModel(this.config, this.#session));
  }

  cutover(options: CutoverOptions): Promise<CutoverResult> {
    return cutover(this.config, this.db, options, this.#reads);
  }

  withKeys(ids: readonly Id[]): DrizzleStore<Id> {
    const owner = this.bound ? this.#owner : undefined;
    return new Store<Id>(withKeys(this.config, ids), this.db, this.bound, this.cache, this.#target, owner);
  }

  async createIndex(options: StoreIndexOptions = {}): Promise<string> {
    const { name, embedding, perModel } = this.config.target;
    if (!perModel) {
      if (options.model !== undefined) {
        throw new InvalidOptionError(
          "model",
          "omitted: this target keeps one vector per row (no `perModel`)",
        );
      }
      return this.#serial.run(() => createVectorIndex(this.#session, name, embedding.name, options));
    }
    // Side by side: one partial index per model, on its vectors only (and cast to its size when the column has none).
    const space = await this.#sized(await this.#space(options.model, "createIndex"));
    const model = String(space.model);
    if (untypedPerModel(this.config) && space.cast === undefined) {
      throw new StoreError(
        `${name.display} holds no vector of ${model} yet: build its index once vectors are stored (their size decides the index's).`,
        { reason: "unsupported" },
      );
    }
    const part = indexPart(this.config, { model, version: space.version, cast: space.cast });
    const { model: _model, ...index } = options;
    return this.#serial.run(() => createVectorIndex(this.#session, name, embedding.name, index, part));
  }

  async prune(options: PruneOptions = {}): Promise<number> {
    if (typeof options !== "object" || options === null)
      throw new InvalidOptionError("options", "{ model? }");
    const model = checkModel(options.model);
    if (model !== undefined) return this.#serial.run(() => pruneModel(this.config, this.db, model));
    return this.#serial.run(() => prune(this.config, this.db));
  }

  keyBoundaries(options: KeyBoundariesOptions): Promise<KeyBound[]> {
    return this.#serial.run(() => keyBoundaries(this.config, this.db, options));
  }

  withKeyRange(range: KeyRange): DrizzleStore<Id> {
    const owner = this.bound ? this.#owner : undefined;
    return new Store<Id>(withRange(this.config, range), this.db, this.bound, this.cache, this.#target, owner);
  }
}

/**
 * A PostgreSQL {@link EmbeddingStore} over your own Drizzle tables, for `backfill()`: pages pending
 * rows by key, writes vectors in binary with compare-and-set upserts, checks the schema and locks
 * the run before the first provider call, and answers similarity queries.
 *
 * @example
 * ```ts
 * import { drizzleStore } from "@relay/embeddings/adapters/drizzle";
 *
 * const store = drizzleStore({
 *   db,
 *   version: "1",
 *   source: {
 *     table: skills,
 *     key: skills.id,
 *     text: (s) => [s.name, s.description, s.content, ...(s.tags ?? [])].join(" "),
 *   },
 *   target: {
 *     table: skillEmbeddings,
 *     key: skillEmbeddings.skillId,
 *     embedding: skillEmbeddings.embedding,
 *     model: skillEmbeddings.modelName,
 *     version: skillEmbeddings.modelVersion,
 *     hash: skillEmbeddings.inputHash,
 *   },
 * });
 * ```
 */
export function drizzleStore<
  Source extends PgTable,
  Key extends ColumnOf<Source>,
  Target extends PgTable = Source,
  Version extends TextColumnOf<Target> | undefined = undefined,
>(options: DrizzleStoreOptions<Source, Key, Target, Version>): DrizzleStore<ColumnData<Key>> {
  const { db, ...config } = resolveConfig(options);
  return new Store<ColumnData<Key>>(config, db, false, {});
}
