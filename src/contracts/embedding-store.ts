import type { BatchJobStore } from "./batch-job-store.js";
import type { VectorType } from "./embedding-provider.js";

/**
 * A row that needs an embedding, as the store yields it.
 * @typeParam Id - the row's key as the store represents it (number, string, bigint, a tuple…).
 */
export interface PendingItem<Id = unknown> {
  /** The row's key. Appears in errors and reports, so it should be printable. */
  readonly id: Id;
  /** The text to embed, built by the store from the row. */
  readonly text: string;
  /** Hex SHA-256 of `text`: stored with the vector, compared on later runs to find stale rows. */
  readonly hash: string;
  /**
   * The store remembers the provider refusing this very text (this `hash`, for the scan's model) as
   * too long for the model ({@link EmbeddingStore.rememberRefused}): the engine skips the row with
   * reason `refused_before` and sends nothing. `text` may then be empty: the store need not read it.
   * Yielded only when the scan does not retry refused rows ({@link ScanOptions.retryRefused}).
   * @default false
   */
  readonly refused?: boolean;
}

/** A vector ready to be written for one row. */
export interface EmbeddingRecord<Id = unknown> {
  /** The row's key, as yielded by {@link EmbeddingStore.scan}. */
  readonly id: Id;
  /** Hash of the text that was embedded; the store writes only if the row's text still has it. */
  readonly hash: string;
  /** The vector, `dimensions` long (packed bits as bytes when the target's `vectorType` is `"bit"`). */
  readonly embedding: Float32Array;
}

/** Which rows count as pending. */
export type ReembedMode =
  /** Rows with no embedding at all. */
  | "missing"
  /** Rows with no embedding, or one made from other text, by another model or another version. */
  | "stale"
  /** Every row. */
  | "all";

/** What the engine tells the store about the model that makes the vectors. */
export interface EmbeddingTarget {
  /** Provider id (`"voyage"`). */
  readonly provider: string;
  /** Model id stored beside each vector. */
  readonly model: string;
  /** Vector length (for packed bits, in bytes). */
  readonly dimensions: number;
  /**
   * What the vectors' values are: numbers or packed bits (the provider's `vectorType`).
   * @default "float"
   */
  readonly vectorType?: VectorType;
}

/** Options of {@link EmbeddingStore.scan}. */
export interface ScanOptions extends EmbeddingTarget {
  /** Which rows are pending. */
  readonly reembed: ReembedMode;
  /** Rows per page (keyset page size). */
  readonly pageSize: number;
  /**
   * Rows of the first page, when smaller than `pageSize`: the engine asks for a short first page so
   * that the first requests go out before a whole page is read. A store may ignore it.
   * @default pageSize
   */
  readonly firstPageSize?: number;
  /** Stops the scan. */
  readonly signal?: AbortSignal;
  /**
   * Given to a store that says {@link EmbeddingStore.countsWhileScanning}: it calls this once, before
   * yielding its first page (or ending with none), with the rows the scan will yield, counted by the
   * scan's own work rather than by a second read of the table.
   * @default undefined
   */
  readonly onCount?: (count: PendingCount) => void;
  /**
   * For a store that remembers refused rows ({@link EmbeddingStore.rememberRefused}): yield the rows
   * it remembers as refused at their current text like any pending row, text included, so the run
   * sends them again (the provider's limits may have changed). By default they are yielded with
   * `refused: true` and an empty `text`, and the engine skips them as `refused_before`.
   * @default false
   */
  readonly retryRefused?: boolean;
}

/** A row the provider refused, as {@link EmbeddingStore.rememberRefused} is told it. */
export interface RefusedRow<Id = unknown> {
  /** The row's key, as yielded by {@link EmbeddingStore.scan}. */
  readonly id: Id;
  /** Hash of the text that was refused: the refusal holds while the row's text has this hash. */
  readonly hash: string;
}

/** Options of {@link EmbeddingStore.rememberRefused}. */
export interface RememberRefusedOptions extends EmbeddingTarget {
  /** Why the provider refused the rows: their text, sent alone, is too long for the model. */
  readonly reason: "input_too_long";
  /** Stops the call. */
  readonly signal?: AbortSignal;
}

/** How many rows a scan yields, as a store counts them while it scans. */
export interface PendingCount {
  /** Pending rows: exactly, or at least this many (`exact: false`). */
  readonly rows: number;
  /**
   * `false` when more rows may turn out pending as the scan reads them: a store that builds texts
   * outside the database counts without them (rows missing a vector, or of another model or
   * version) and finds the rows whose text changed only by reading them.
   */
  readonly exact: boolean;
}

/** Options of {@link EmbeddingStore.write}. */
export interface WriteOptions extends EmbeddingTarget {
  /** Stops the write; a store must then leave the batch unwritten, never half-written. */
  readonly signal?: AbortSignal;
}

/** What one {@link EmbeddingStore.write} did. */
export interface WriteResult<Id = unknown> {
  /** Rows written. */
  readonly written: number;
  /**
   * Rows not written because their text changed (or the row vanished) while the vector was being
   * made: compare-and-set refused the old vector. They stay pending for the next run.
   */
  readonly conflicts: readonly Id[];
  /**
   * Rows not written because the store's text for the row differed from itself: built twice from the
   * same row, read once, it gave two different texts (a `text()` that is not a pure function of the
   * row). Not in `conflicts`; reported as skipped with reason `nondeterministic_text`. Optional: a
   * store that cannot tell reports them as conflicts.
   */
  readonly nondeterministic?: readonly Id[];
}

/**
 * Options of {@link EmbeddingStore.coverage}. An {@link EmbeddingTarget}, or a provider, can be passed
 * as is: only `model` decides which vectors count as current.
 *
 * @example
 * ```ts
 * await store.coverage(); // after prepare(): the prepared target's model
 * await store.coverage({ model: "voyage-3.5", signal: AbortSignal.timeout(10_000) });
 * await store.coverage(provider);
 * ```
 */
export interface CoverageOptions extends Partial<EmbeddingTarget> {
  /**
   * Stops the count: the promise rejects with `signal.reason`.
   * @default undefined
   */
  readonly signal?: AbortSignal;
}

/** Embedding coverage of the store's rows for one model and version. */
export interface Coverage {
  /** Source rows (after the store's filter). */
  readonly total: number;
  /** Rows with a current embedding: same text, model and version. */
  readonly embedded: number;
  /** Rows with an embedding made from other text, model or version. */
  readonly stale: number;
  /** Rows with no embedding. */
  readonly missing: number;
}

/**
 * One end of a {@link KeyRange}: the key in PostgreSQL's text form (`key::text`), one string per key
 * column, in key order. Text keeps every key exact (a `bigint` past 2^53, a timestamp's microseconds)
 * and survives JSON, so ranges can travel in job queues.
 * @example ["1000"]  // an integer key
 */
export type KeyBound = readonly string[];

/**
 * The rows whose key is greater than `after` and at most `through`, in key order. An omitted end is
 * open: `{}` is every row, `{ through: ["1000"] }` every key up to 1000.
 */
export interface KeyRange {
  /** Keys greater than this one (exclusive). Omitted: from the first key. */
  readonly after?: KeyBound;
  /** Keys up to and including this one. Omitted: to the last key, including keys added later. */
  readonly through?: KeyBound;
}

/** Options of {@link EmbeddingStore.keyBoundaries}. */
export interface KeyBoundariesOptions {
  /** Rows per range: every `every`-th key in key order is a boundary. A positive integer. */
  readonly every: number;
  /** Stops the walk. */
  readonly signal?: AbortSignal;
}

/**
 * Where the texts come from and the vectors go. Implement this to plug any database into
 * `backfill()`; `drizzleStore()` from `@relay/embeddings/adapters/drizzle` is the PostgreSQL one.
 */
export interface EmbeddingStore<Id = unknown> {
  /**
   * Checks, before any provider call, that the store can hold this target's vectors (extension
   * installed, column of the right dimension…) and takes any lock it needs. Throws a typed error
   * that says what is wrong.
   */
  prepare?(target: EmbeddingTarget, options?: { readonly signal?: AbortSignal }): Promise<void>;
  /**
   * Yields pending rows in pages ordered by key (keyset pagination): memory stays one page, whatever
   * the table's size. The engine pulls the next page only when it has room.
   */
  scan(options: ScanOptions): AsyncIterable<readonly PendingItem<Id>[]>;
  /**
   * Writes a batch in one round trip if it can, as one unit: all of it or none of it. Upserts by key,
   * so a re-run never duplicates. Skips (and reports as conflicts) rows whose current text no longer
   * hashes to the record's `hash`.
   */
  write(records: readonly EmbeddingRecord<Id>[], options: WriteOptions): Promise<WriteResult<Id>>;
  /**
   * Runs `work` inside one transaction, handing it a store bound to that transaction; commits when
   * `work` resolves, rolls back when it rejects. Used by `backfill({ atomic: true })`.
   */
  transaction<T>(work: (store: EmbeddingStore<Id>) => Promise<T>): Promise<T>;
  /**
   * Counts total, current, stale and missing embeddings. Vectors count as current when made by
   * `options.model` or, when it is omitted, by the model of the target the store was last prepared
   * for; with neither, it throws `InvalidOptionError` (`model`).
   */
  coverage(options?: CoverageOptions): Promise<Coverage>;
  /**
   * Whether `scan()` counts the rows it will yield and tells them through `options.onCount`: then
   * `backfill()` does not call `coverage()` before scanning (a second read of the table), and the
   * progress says whether the count is exact or a lower bound.
   * @default false (`backfill()` counts with `coverage()` first)
   */
  readonly countsWhileScanning?: boolean;
  /**
   * Optional: remembers rows the provider refused on their own as too long for `options.model`, at
   * the hash of the text refused (and the store's version, where it has one). While a row's text
   * keeps that hash, later scans yield it with `refused: true` (unless `retryRefused`), so a text
   * that can never be embedded is not sent again on every run; a row whose text changed is pending
   * as usual. A vector written for the row makes the store forget it. Called by `backfill()` in
   * realtime and batch mode, never in a dry run; a store without it gets such rows sent (and refused)
   * once per run.
   */
  rememberRefused?(rows: readonly RefusedRow<Id>[], options: RememberRefusedOptions): Promise<void>;
  /** Releases what `prepare()` took (locks, connections). Called once the backfill settles. */
  release?(): Promise<void>;
  /**
   * Durable state of batch runs (`backfill({ mode: "batch" })`), when the store keeps it.
   * @default undefined (realtime only)
   */
  readonly batchJobs?: BatchJobStore<Id>;
  /**
   * Optional, for splitting one backfill into ranges that many workers share
   * (`@relay/embeddings/queue/pg-boss`): the key of every `every`-th row in key order (the `every`-th,
   * the `2 × every`-th…), read from the key's index, never by loading the rows. Ranges between
   * consecutive boundaries, plus one open range after the last, cover every row, also rows added later.
   */
  keyBoundaries?(options: KeyBoundariesOptions): Promise<KeyBound[]>;
  /**
   * Optional, with {@link keyBoundaries}: this store restricted to the rows whose key is in `range`.
   * Its `scan()` and `coverage()` see only those rows; `prepare()` locks only that range where the
   * store locks at all. Throws `InvalidOptionError` for a malformed range.
   */
  withKeyRange?(range: KeyRange): EmbeddingStore<Id>;
  /**
   * Optional, for `embedRows()`: this store restricted to the rows with these keys, for embedding
   * them now on an application's write path. Its `prepare()` takes no run lock (a backfill of the
   * same table may be running: compare-and-set writes keep both right) and throws `StoreError`
   * (`unknown_rows`, with `rowIds`) when a key names no row (after the store's filter), before
   * anything is embedded. Throws `InvalidOptionError` (`ids`) for an empty list.
   */
  withKeys?(ids: readonly Id[]): EmbeddingStore<Id>;
}
