import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { BatchJobStore } from "../../src/contracts/batch-job-store.js";
import type {
  Coverage,
  EmbeddingRecord,
  EmbeddingStore,
  EmbeddingTarget,
  PendingItem,
  ScanOptions,
  WriteOptions,
  WriteResult,
} from "../../src/contracts/embedding-store.js";
import { acquireLock, type HeldLock } from "./advisory-lock.js";
import { DrizzleBatchJobs } from "./batch-jobs.js";
import { checkSchema } from "./check-schema.js";
import { resolveConfig, type StoreConfig } from "./config.js";
import { countCoverage } from "./coverage.js";
import { type CreateIndexOptions, createIndex } from "./create-index.js";
import { guard } from "./database-error.js";
import { type AnyPgDatabase, clientOf, driverOf } from "./driver.js";
import type { DrizzleStoreOptions } from "./options.js";
import { prune } from "./prune.js";
import { scanRows } from "./scan.js";
import { concurrent, Serial } from "./serial.js";
import {
  type FindSimilarOptions,
  findSimilar,
  type NearestOptions,
  nearest,
  type SimilarRow,
} from "./similarity.js";
import type { WriteCache } from "./stage-rows.js";
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
   * Checks the `vector` extension, the tables, the embedding column's dimensions and the unique
   * indexes, then takes the run's advisory lock (see the `lock` option). Throws `StoreError`
   * (`extension_missing`, `schema`, `locked`) or `DimensionMismatchError` (`source: "store"`).
   */
  prepare(target: EmbeddingTarget, options?: { readonly signal?: AbortSignal }): Promise<void>;
  /** Frees the advisory lock and its connection. Safe to call more than once. */
  release(): Promise<void>;
  /**
   * Runs `work` with a store bound to one transaction: every query of it goes through that
   * transaction, one operation at a time (calls made at once wait for each other).
   */
  transaction<T>(work: (store: DrizzleStore<Id>) => Promise<T>): Promise<T>;
  /**
   * The rows nearest to `vector` by cosine distance.
   * @example
   * ```ts
   * const hits = await store.nearest(await embedQuery("parse csv"), { limit: 5 });
   * ```
   */
  nearest(vector: ArrayLike<number>, options?: NearestOptions): Promise<SimilarRow<Id>[]>;
  /**
   * The rows most similar to row `id`, itself excluded: near-duplicate detection.
   * @example
   * ```ts
   * const duplicates = await store.findSimilar(skillId, { threshold: 0.95 });
   * ```
   */
  findSimilar(id: Id, options?: FindSimilarOptions): Promise<SimilarRow<Id>[]>;
  /**
   * Builds the vector index (HNSW, cosine by default) if it does not exist; returns its name.
   * @example
   * ```ts
   * await store.createIndex(); // skill_embeddings_embedding_hnsw_idx
   * ```
   */
  createIndex(options?: CreateIndexOptions): Promise<string>;
  /** Deletes embeddings whose source row is gone (separate-table layout); returns how many. */
  prune(): Promise<number>;
  /** The jobs of batch mode, in the `batchJobs` table (bound to the transaction, in one). */
  readonly batchJobs: BatchJobStore<Id>;
}

/** Whether `db` is a single connection that must not run two operations at once. */
function singleConnection(db: AnyPgDatabase, bound: boolean): boolean {
  // PGlite queues transactions itself; a node-postgres Client (not a Pool) does not.
  return bound || (driverOf(db) === "node-postgres" && !("totalCount" in (clientOf(db) as object)));
}

class Store<Id> implements DrizzleStore<Id> {
  #lock: HeldLock | undefined;
  readonly #serial: Pick<Serial, "run">;
  readonly batchJobs: DrizzleBatchJobs<Id>;

  constructor(
    private readonly config: StoreConfig,
    private readonly db: AnyPgDatabase,
    /** Bound to a transaction: the root store owns the lock. */
    private readonly bound: boolean,
    private readonly cache: WriteCache,
  ) {
    this.#serial = singleConnection(db, bound) ? new Serial() : concurrent;
    this.batchJobs = new DrizzleBatchJobs<Id>(config, db, this.#serial);
  }

  async prepare(target: EmbeddingTarget, options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted();
    await guard(
      `Checking ${this.config.target.name.display}`,
      () => this.#serial.run(() => checkSchema(this.config, this.db, target)),
      options.signal,
    );
    if (!this.bound && !this.#lock) this.#lock = await acquireLock(this.config, this.db);
  }

  async release(): Promise<void> {
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release();
  }

  scan(options: ScanOptions): AsyncIterable<PendingItem<Id>[]> {
    return scanRows<Id>(this.config, this.db, options, this.#serial);
  }

  write(records: readonly EmbeddingRecord<Id>[], options: WriteOptions): Promise<WriteResult<Id>> {
    return this.#serial.run(() => writeRecords(this.config, this.db, records, options, this.cache));
  }

  transaction<T>(work: (store: DrizzleStore<Id>) => Promise<T>): Promise<T> {
    return this.#serial.run(() =>
      this.db.transaction((tx) => work(new Store<Id>(this.config, tx, true, this.cache))),
    );
  }

  coverage(target: EmbeddingTarget): Promise<Coverage> {
    return this.#serial.run(() => countCoverage(this.config, this.db, target));
  }

  nearest(vector: ArrayLike<number>, options?: NearestOptions): Promise<SimilarRow<Id>[]> {
    return this.#serial.run(() => nearest<Id>(this.config, this.db, vector, options));
  }

  findSimilar(id: Id, options?: FindSimilarOptions): Promise<SimilarRow<Id>[]> {
    return this.#serial.run(() => findSimilar<Id>(this.config, this.db, id, options));
  }

  createIndex(options?: CreateIndexOptions): Promise<string> {
    return this.#serial.run(() => createIndex(this.config, this.db, options));
  }

  prune(): Promise<number> {
    return this.#serial.run(() => prune(this.config, this.db));
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
export function drizzleStore<Source extends PgTable, Key extends PgColumn>(
  options: DrizzleStoreOptions<Source, Key>,
): DrizzleStore<Key["_"]["data"]> {
  const { db, ...config } = resolveConfig(options);
  return new Store<Key["_"]["data"]>(config, db, false, {});
}
