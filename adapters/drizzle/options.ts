import type { SQL } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { AnyPgDatabase } from "./driver.js";

/**
 * A row of `Table` as Drizzle selects it (`typeof table.$inferSelect`): what `source.text` receives.
 * @example
 * ```ts
 * const text = (s: SourceRow<typeof skills>) => `${s.name}: ${s.description}`;
 * ```
 */
export type SourceRow<Table extends PgTable> = Table["$inferSelect"];

/**
 * A column of `Table` (matched by table name), optionally with more of Drizzle's column facts
 * (`{ data: number }`, `{ columnType: "PgVector" }`): the option types use it so that a column of
 * another table, or of the wrong kind, is a compile error rather than a failure at run time.
 */
export type ColumnOf<Table extends PgTable, Facts extends object = object> = PgColumn & {
  readonly _: { readonly tableName: Table["_"]["name"] } & Facts;
};

/**
 * The Drizzle column types that hold pgvector vectors: Drizzle's `vector()` (`vector(n)`), `halfvec()`
 * (`halfvec(n)`) and `bit()` (`bit(n)`, for packed-bit vectors).
 */
export type VectorColumnType = "PgVector" | "PgHalfVector" | "PgBinaryVector";

/**
 * A pgvector column of `Table`: Drizzle's `vector("…", { dimensions })`, `halfvec(…)` or `bit(…)`.
 */
export type VectorColumnOf<Table extends PgTable> = ColumnOf<
  Table,
  { readonly columnType: VectorColumnType }
>;

/** A column of `Table` holding strings (`text`, `varchar`…). */
export type TextColumnOf<Table extends PgTable> = ColumnOf<Table, { readonly data: string }>;

/** The JavaScript type of a column's values as Drizzle maps them: the store's `Id` for the source key. */
export type ColumnData<Column extends PgColumn> = Column["_"]["data"];

/**
 * Where the texts come from: the user's table, its key and how a row becomes text.
 *
 * @example
 * ```ts
 * const source = {
 *   table: skills,
 *   key: skills.id,
 *   text: (s) => [s.name, s.description, s.content, ...(s.tags ?? [])].join(" "),
 *   filter: isNull(skills.deletedAt),
 * };
 * ```
 */
export interface DrizzleSourceOptions<
  Table extends PgTable = PgTable,
  Key extends ColumnOf<Table> = ColumnOf<Table>,
> {
  /** The table whose rows get embeddings. */
  readonly table: Table;
  /**
   * A single column of `table` with a unique index (usually the primary key): rows are paged, locked
   * and upserted by it, and its type is the store's `Id`. Integer, bigint, uuid, text/varchar and
   * other totally ordered types work; composite keys are not supported.
   */
  readonly key: Key;
  /**
   * How a row becomes the text to embed. Its SHA-256 is stored beside the vector and decides
   * staleness, so the recipe must be deterministic. Two kinds, and the hash of a text is the same
   * whichever made it (moving from one to an equivalent other re-embeds nothing):
   *
   * - **A SQL expression** over the columns of `table` (recommended), e.g.
   *   ``sql`array_to_string(array[${skills.name}, ${skills.description}, ${skills.content}] || ${skills.tags}, ' ', '')` ``.
   *   PostgreSQL builds the text and its hash (`sha256(convert_to(text, 'UTF8'))`), staleness is
   *   decided in the scan's SQL, and only pending rows (their key, text and hash) leave the database:
   *   a run with nothing to do transfers no text, and `coverage()` is one aggregate query. It must be
   *   of type `text` (or `varchar`) and use no other table: `prepare()` checks both and throws
   *   `StoreError` (`schema`) naming the expression. A NULL text counts as empty (skipped as
   *   `empty_input`); an expression that fails for a row stops the run with a `StoreError`
   *   (`reason: "row"`) naming the row.
   * - **A JavaScript function** of the whole row (every column of `table`; in the same-row layout
   *   every column except the embedding column, which is never read back): any logic, but every run
   *   reads every row into JavaScript to hash its text. A throw stops the run with a `StoreError`
   *   (`reason: "row"`) naming the row.
   */
  readonly text: ((row: SourceRow<Table>) => string) | SQL;
  /**
   * Only rows matching this condition are embedded, counted and searched (build it with the columns
   * of `table`, e.g. `isNull(skills.deletedAt)`).
   * @default undefined (every row)
   */
  readonly filter?: SQL;
}

/**
 * Where the vectors go. Two layouts:
 *
 * - **Separate table** (e.g. `skill_embeddings` beside `skills`): `table` is another table and `key`
 *   is its column holding the source key (of the same type), which must have a unique index (rows
 *   are upserted on it).
 * - **Same row**: no `key`; the columns belong to the source table itself (`table` may be omitted or
 *   must be the source table), and writes `UPDATE` the source rows. The embedding, model and hash
 *   columns must then be nullable: rows exist before their vectors do.
 *
 * `embedding`, `model` and `hash` are required; `version` is optional (when given, so must be the
 * store's `version` option, and a version change makes every row stale). Every column must belong to
 * `table`; the types check it (by table name), and so does `drizzleStore()` at run time.
 *
 * @typeParam Table - the table holding the vectors.
 * @typeParam KeyData - the source key's JavaScript type, which `key` must share.
 * @typeParam Version - the type of the `version` column, `undefined` when there is none.
 * @example
 * ```ts
 * // separate table
 * const target = {
 *   table: skillEmbeddings,
 *   key: skillEmbeddings.skillId,
 *   embedding: skillEmbeddings.embedding,
 *   model: skillEmbeddings.modelName,
 *   version: skillEmbeddings.modelVersion,
 *   hash: skillEmbeddings.inputHash,
 * };
 * // same row
 * const target = { embedding: docs.embedding, model: docs.embeddingModel, hash: docs.embeddingHash };
 * ```
 */
export interface DrizzleTargetOptions<
  Table extends PgTable = PgTable,
  KeyData = unknown,
  Version extends TextColumnOf<Table> | undefined = TextColumnOf<Table> | undefined,
> {
  /**
   * The table holding the vectors.
   * @default the source table (same-row layout)
   */
  readonly table?: Table;
  /**
   * The column of `table` holding the source row's key (separate-table layout only), of the source
   * key's type. Omit it for the same-row layout.
   * @default undefined (same-row layout)
   */
  readonly key?: ColumnOf<Table, { readonly data: KeyData }>;
  /**
   * The column receiving the vectors, of the provider's size:
   *
   * - `vector(n)` (Drizzle `vector()`): 4 bytes a dimension;
   * - `halfvec(n)` (Drizzle `halfvec()`): 2 bytes a dimension, each value rounded to half precision
   *   (about 3 significant digits; values beyond ±65,504 are refused);
   * - `bit(n)` (Drizzle `bit()`): one bit a dimension, for providers of packed bits
   *   (`vectorType: "bit"`, e.g. Voyage with `outputDtype: "ubinary"` or `"binary"`); `n` is the
   *   output dimension (8 × the provider's `dimensions`). Searches use Hamming distance.
   */
  readonly embedding: VectorColumnOf<Table>;
  /** A text column receiving the model id; a different model makes the row stale. */
  readonly model: TextColumnOf<Table>;
  /** A text column receiving SHA-256 hex of the embedded text; a different text makes the row stale. */
  readonly hash: TextColumnOf<Table>;
  /**
   * A text column receiving the store's `version`; a different version makes the row stale. When it
   * is given, the store's `version` option is required.
   * @default undefined (versions are not tracked)
   */
  readonly version?: Version;
  /**
   * Keep one vector per (row, model, version) instead of one per row (separate-table layout only):
   * vectors of several models live side by side, so a new model can be backfilled while the current
   * one keeps answering queries, and `cutover()` switches between them in one step. The target table
   * then needs a unique index on (`key`, `model`) — (`key`, `model`, `version`) when `version` is
   * given — instead of one on `key`. Staleness, `coverage()`, writes, locks and partitions are per
   * model; searches compare vectors of the active model only (see the store's `active` option). With an
   * embedding column of type `vector` without dimensions, models of different sizes share the column
   * (one partial HNSW index per model: `createIndex({ model })`).
   * @default false (one vector per row: a new model overwrites the old one in place)
   */
  readonly perModel?: boolean;
}

/**
 * Splits the rows among several processes: this store sees only the rows whose key hashes to
 * `index` (`abs(hashtext(key::text)) % count = index`). Every worker of one run must use the same
 * `count` and a different `index`; together they cover every row exactly once.
 *
 * @example
 * ```ts
 * // worker 2 of 4
 * drizzleStore({ ...options, partition: { index: 2, count: 4 } });
 * ```
 */
export interface PartitionOptions {
  /** This worker's partition, `0 <= index < count`. */
  readonly index: number;
  /** Number of partitions (workers), at least 1. */
  readonly count: number;
}

/**
 * Where `backfill({ mode: "batch" })` keeps its jobs: one row per request line of each batch in
 * flight (its rows' keys and text hashes), deleted once the batch is collected. The README gives the
 * table's DDL.
 *
 * @example
 * ```ts
 * // the table is created by your migrations, not by the store
 * drizzleStore({ ...options, batchJobs: { table: "embedding_batches", schema: "ops", create: false } });
 * ```
 */
export interface DrizzleBatchJobsOptions {
  /**
   * The jobs table's name. Several stores (tables, models) can share one: each sees only its jobs.
   * @default "relay_embedding_batches"
   */
  readonly table?: string;
  /**
   * The jobs table's schema.
   * @default undefined (the search path decides)
   */
  readonly schema?: string;
  /**
   * Whether a batch run may create the table (`create table if not exists`) when it is missing.
   * `false` when your migrations create it: a missing table is then a `StoreError`.
   * @default true
   */
  readonly create?: boolean;
}

/**
 * Where `drizzleStore` remembers the rows the provider refused as too long for the model, so that
 * runs stop sending them (`backfill()` skips them as `refused_before` until their text changes, or
 * with `retryRefused: true`). One row per refused row: target, model, version, key and the hash of the
 * text refused. The table is created at the first refusal unless `create` is `false`.
 * @example
 * ```ts
 * drizzleStore({ ...options, refusals: { table: "embedding_refusals", schema: "ops", create: false } });
 * ```
 */
export interface DrizzleRefusalsOptions {
  /**
   * The refusals table's name. Several stores (tables, models) can share one: each sees only its own.
   * @default "relay_embedding_refusals"
   */
  readonly table?: string;
  /**
   * The refusals table's schema.
   * @default undefined (the search path decides)
   */
  readonly schema?: string;
  /**
   * Whether the first refusal may create the table (`create table if not exists`) when it is missing.
   * `false` when your migrations create it: a refusal with the table missing is then a `StoreError`.
   * @default true
   */
  readonly create?: boolean;
}

/**
 * The target key's rule: a target table other than the source needs `key` (separate-table layout);
 * the source table itself takes none (same-row layout). Where a table's type is only `PgTable` (options
 * typed without type arguments), either is allowed and `drizzleStore()` checks at run time.
 */
export type TargetKeyRule<Source extends PgTable, Target extends PgTable> = PgTable extends Source
  ? { readonly key?: PgColumn }
  : PgTable extends Target
    ? { readonly key?: PgColumn }
    : [Target] extends [Source]
      ? { readonly key?: undefined }
      : { readonly key: PgColumn };

/**
 * The `version` option, tied to `target.version`: required (a non-empty string) when the target has
 * a version column, refused when it has none (it would be ignored).
 */
export type VersionOption<Version> = [Version] extends [undefined]
  ? {
      /** Refused: `target.version` names no column to store it in. */
      readonly version?: undefined;
    }
  : [Version] extends [PgColumn]
    ? {
        /**
         * Your embedding version, stored in `target.version`: bump it to re-embed everything (new text
         * recipe, new chunking…).
         */
        readonly version: string;
      }
    : {
        /**
         * Your embedding version, stored in `target.version`: bump it to re-embed everything (new text
         * recipe, new chunking…). Required when `target.version` is given, refused otherwise.
         * @default undefined
         */
        readonly version?: string;
      };

/**
 * Options of {@link drizzleStore}. The type parameters are inferred from the call; they make wrong
 * wiring a compile error: a source key of another table, target columns of another table or of the
 * wrong kind (a text column as `embedding`), a target key of another type than the source key, and
 * `version` without `target.version` (or the reverse).
 *
 * @typeParam Source - the source table.
 * @typeParam Key - the source key column; its type is the store's `Id`.
 * @typeParam Target - the table holding the vectors (the source table in the same-row layout).
 * @typeParam Version - the type of `target.version`, `undefined` when there is none.
 * @example
 * ```ts
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
export type DrizzleStoreOptions<
  Source extends PgTable = PgTable,
  Key extends ColumnOf<Source> = ColumnOf<Source>,
  Target extends PgTable = PgTable,
  Version extends TextColumnOf<Target> | undefined = TextColumnOf<Target> | undefined,
> = DrizzleStoreBaseOptions<Source, Key, Target, Version> & {
  readonly target: TargetKeyRule<Source, Target>;
} & VersionOption<Version>;

/**
 * The options of {@link drizzleStore} other than `version`, without the rules that tie them together
 * (see {@link DrizzleStoreOptions}).
 */
export interface DrizzleStoreBaseOptions<
  Source extends PgTable = PgTable,
  Key extends ColumnOf<Source> = ColumnOf<Source>,
  Target extends PgTable = PgTable,
  Version extends TextColumnOf<Target> | undefined = TextColumnOf<Target> | undefined,
> {
  /**
   * Any Drizzle PostgreSQL database: node-postgres (`drizzle-orm/node-postgres`, Pool or Client),
   * postgres.js (`drizzle-orm/postgres-js`), PGlite (`drizzle-orm/pglite`), or another PostgreSQL
   * driver (which gets the portable, slower write path and no lock).
   */
  readonly db: AnyPgDatabase;
  /** The rows to embed. */
  readonly source: DrizzleSourceOptions<Source, Key>;
  /** Where their vectors go. */
  readonly target: DrizzleTargetOptions<Target, ColumnData<Key>, Version>;
  /**
   * This process's share of the rows, for running several workers at once.
   * @default undefined (all rows)
   */
  readonly partition?: PartitionOptions;
  /**
   * Whether `prepare()` takes an advisory lock (on a real server) so two runs never embed the same rows
   * at once: a run without `partition` locks the whole target, a partitioned run locks its partition
   * (and shares the target's lock with the other partitions). The lock lives on one connection taken
   * from your pool for the run, until `release()`, so the pool needs at least two connections (a
   * single-connection pool is refused: set `lock: false`). PGlite (one process) is not locked. A
   * driver that gives the library no connection of its own (Neon HTTP, pg-proxy…) cannot hold the
   * lock: left to its default, the store runs unlocked there; `lock: true` makes `prepare()` throw
   * `StoreError` (`unsupported`) saying so, rather than promise a lock it does not hold.
   * @default true
   */
  readonly lock?: boolean;
  /**
   * Whether writes send vectors in binary (node-postgres: binary bind parameters; postgres.js and
   * PGlite: binary `COPY` into a temporary table). `false` writes them as text in multi-row
   * `INSERT`s: several times slower, for proxies that refuse binary parameters or `COPY`.
   *
   * postgres.js leaves Nagle's algorithm on, which delays the end of every large message by the
   * server's delayed ACK (~40 ms a batch on Linux). Give it a socket with `noDelay` to write about
   * twice as fast:
   * ```ts
   * postgres(url, {
   *   socket: ({ host: [host], port: [port] }) =>
   *     new Promise((resolve, reject) => {
   *       const socket = net.connect({ host, port, noDelay: true });
   *       socket.once("connect", () => resolve(socket)).once("error", reject);
   *     }),
   * });
   * ```
   * @default true
   */
  readonly binaryWrites?: boolean;
  /**
   * Where batch mode (`backfill({ mode: "batch" })`) records its jobs. Realtime runs never touch it.
   * @default { table: "relay_embedding_batches", create: true }
   */
  readonly batchJobs?: DrizzleBatchJobsOptions;
  /**
   * Which model (and version) answers searches when the target keeps vectors of several models
   * (`target.perModel`). Two places it can live:
   * - **a table** (`{ table?, schema?, create? }`, the default): one row per target, switched by
   *   `store.cutover()`, read by every search, so running applications follow a cutover without a
   *   deploy;
   * - **the code** (`{ model, version? }`): fixed; a deploy switches it, and `cutover()` is refused.
   * Ignored by the one-vector-per-row layouts, whose searches use the model given or prepared.
   * @default { table: "relay_embedding_models", create: true } when `target.perModel` is set
   */
  readonly active?: DrizzleActiveModelOptions;
  /**
   * Where rows refused as too long are remembered, so runs stop re-sending them; `false` remembers
   * nothing (such a row is then sent, and refused, once per run). Never read or written by a store
   * that meets no refusal, beyond one lookup per scan.
   * @default { table: "relay_embedding_refusals", create: true }
   */
  readonly refusals?: DrizzleRefusalsOptions | false;
}

/**
 * Where a store with `target.perModel` finds its active model: a table (`{ table?, schema?, create? }`),
 * or fixed in code (`{ model, version? }`).
 * @example
 * ```ts
 * drizzleStore({ ...options, active: { table: "embedding_models", schema: "ops", create: false } });
 * drizzleStore({ ...options, active: { model: "voyage-4", version: "2" } });
 * ```
 */
export type DrizzleActiveModelOptions =
  | {
      /**
       * The table holding each target's active model (`target text primary key, model text, version
       * text, dimensions int, switched_at timestamptz`); several stores share one.
       * @default "relay_embedding_models"
       */
      readonly table?: string;
      /**
       * Its schema.
       * @default undefined (the search path decides)
       */
      readonly schema?: string;
      /**
       * Whether `cutover()` may create the table when it is missing. `false` when your migrations
       * create it (the README gives its DDL).
       * @default true
       */
      readonly create?: boolean;
      /** Not with `table`: a model fixed in code is the other form. */
      readonly model?: undefined;
    }
  | {
      /** The active model, fixed by the application's code. */
      readonly model: string;
      /**
       * The active version (with `target.version`).
       * @default the store's `version`
       */
      readonly version?: string;
      /** Not with `model`: a table of active models is the other form. */
      readonly table?: undefined;
    };
