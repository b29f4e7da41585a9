import type { EmbeddingTarget } from "./embedding-store.js";

/**
 * How far a batch job got. `created`: its rows are recorded, nothing is uploaded yet (or the upload's
 * id was not recorded). `uploaded`: the request file is uploaded (`fileId`). `submitted`: the batch
 * exists at the provider (`batchId`).
 */
export type BatchJobState = "created" | "uploaded" | "submitted";

/** A batch job not yet collected, as the store keeps it. */
export interface BatchJob {
  /** The engine's id for the job: the request file's name and the batch's metadata carry it. */
  readonly id: string;
  readonly state: BatchJobState;
  /** The uploaded request file (from `uploaded` on). */
  readonly fileId?: string | undefined;
  /** The provider's batch (from `submitted` on). */
  readonly batchId?: string | undefined;
  /** Rows in lines not yet done. */
  readonly rows: number;
  /** Lines in the job. */
  readonly lines: number;
  /** When the job was recorded. */
  readonly createdAt: Date;
}

/** One row sent in a batch: which input of which request line carries its text. */
export interface BatchJobItem<Id = unknown> {
  /** The row's key. */
  readonly id: Id;
  /** Hash of the text sent: the write is compare-and-set against it. */
  readonly hash: string;
  /** Position of the row's text among the inputs of its line (rows with the same text share one). */
  readonly position: number;
}

/** One request line of a job's file. */
export interface BatchJobLine<Id = unknown> {
  /** The line's `custom_id`. */
  readonly customId: string;
  /** Whether the line was collected (its vectors written, or its rows released). */
  readonly done: boolean;
  /** The rows it carries (empty once `done`). */
  readonly items: readonly BatchJobItem<Id>[];
}

/**
 * Durable state of `backfill({ mode: "batch" })`: what was submitted, so that a run killed at any
 * point, or a later run in another process, re-attaches to the batches in flight, never uploads a
 * row that is already in one, and never writes a row twice. An optional capability of an
 * {@link EmbeddingStore} (`store.batchJobs`); the Drizzle adapter keeps it in a jobs table.
 *
 * Every method is scoped to the store's rows and the `target` model, so jobs of another table or
 * model are never touched. A store bound to a transaction (`store.transaction(work)`) hands out a
 * `batchJobs` bound to the same transaction.
 */
export interface BatchJobStore<Id = unknown> {
  /** Creates the jobs table when allowed, or checks that it exists. Called once per batch run. */
  prepare(
    target: EmbeddingTarget,
    options?: {
      readonly signal?: AbortSignal;
      /**
       * Whether the table may be created (`false` in a dry run, which then sees no jobs if it is
       * missing).
       */
      readonly create?: boolean;
    },
  ): Promise<void>;
  /** Jobs of `target` not yet collected, oldest first. */
  open(target: EmbeddingTarget): Promise<BatchJob[]>;
  /** Of `ids`, those in a line of an open job of `target` that is not yet done. */
  pending(ids: readonly Id[], target: EmbeddingTarget): Promise<Id[]>;
  /** Records a new job (state `created`) with all its lines, before anything is uploaded. */
  create(
    job: { readonly id: string; readonly lines: readonly BatchJobLine<Id>[] },
    target: EmbeddingTarget,
  ): Promise<void>;
  /** Records that the job's file was uploaded (`uploaded`) or its batch created (`submitted`). */
  update(
    jobId: string,
    changes: { readonly state: BatchJobState; readonly fileId?: string; readonly batchId?: string },
  ): Promise<void>;
  /** Every line of the job, done or not. */
  lines(jobId: string): Promise<BatchJobLine<Id>[]>;
  /**
   * Marks lines done and returns those this call marked (not those already done): run it in the
   * same transaction as the write of their vectors, and write only the lines it returns, so that
   * two processes collecting one batch never both write a row.
   */
  finish(jobId: string, customIds: readonly string[]): Promise<string[]>;
  /** Forgets the job and its lines (once collected, its files deleted). */
  remove(jobId: string): Promise<void>;
}
