import type { APICallErrorReason } from "../errors/api-call-error.js";
import type { EmbedResult, InputType } from "./embedding-provider.js";

/**
 * Where a batch is in its life, as OpenAI and Voyage name it. `completed`, `failed`, `expired` and
 * `cancelled` are final; the others are still moving.
 */
export type BatchStatus =
  | "validating"
  | "in_progress"
  | "finalizing"
  | "completed"
  | "failed"
  | "expired"
  | "cancelling"
  | "cancelled";

/** A batch as the provider reports it. */
export interface BatchInfo {
  /** The provider's batch id (`batch_abc123`). */
  readonly id: string;
  readonly status: BatchStatus;
  /** The file of answered requests, once there is one. */
  readonly outputFileId?: string | undefined;
  /** The file of failed requests, once there is one. */
  readonly errorFileId?: string | undefined;
  /** Requests in the batch: all, answered, failed (when the provider says). */
  readonly counts?: { readonly total: number; readonly completed: number; readonly failed: number };
  /** Why the batch failed as a whole (`failed`), when the provider says. */
  readonly errors?: readonly string[];
}

/** One line of a batch's output or error file, read by the provider. */
export interface BatchOutputLine {
  /** Line number in the file, from 1. */
  readonly line: number;
  /** The request's `custom_id`; `undefined` when the line has none. */
  readonly customId: string | undefined;
  /** The request's answer when it succeeded, as `embed()` would have returned it (not yet validated). */
  readonly result?: EmbedResult;
  /**
   * Why the request failed (`batch_expired`, `batch_cancelled`, an HTTP status and message…).
   * `reason` as an `APICallError` would give it: `"request_too_large"` when an input was too long.
   */
  readonly error?: {
    readonly code?: string | undefined;
    readonly message: string;
    readonly status?: number | undefined;
    readonly reason?: APICallErrorReason | undefined;
  };
  /** Why the line itself could not be read (not JSON, an answer of the wrong shape). */
  readonly invalid?: string;
}

/** What one batch may hold: the engine writes request files within these. */
export interface BatchApiLimits {
  /** Most request lines in one file (OpenAI: 50,000). */
  readonly maxRequestsPerBatch: number;
  /** Most inputs summed over the requests of one batch (OpenAI: 50,000; Voyage: 100,000). */
  readonly maxInputsPerBatch: number;
  /** Most bytes in one request file (OpenAI: 200 MB). */
  readonly maxBytesPerFile: number;
}

/** Options every call of a {@link BatchEmbeddingApi} takes. */
export interface BatchCallOptions {
  /** Cancels the HTTP request in flight (never the batch itself). */
  readonly signal?: AbortSignal;
}

/**
 * A provider's batch API (an upload, a batch created from it, polled, its output downloaded): the
 * optional `batch` capability of an {@link EmbeddingProvider}, which `backfill({ mode: "batch" })`
 * drives. Every request line uses the provider's own model and options; the request limits of the
 * provider (`limits`) hold for each line.
 *
 * Errors: reject with `APICallError`, as `embed()` does, so the engine retries what is transient.
 */
export interface BatchEmbeddingApi {
  /** The limits of one batch. */
  readonly limits: BatchApiLimits;
  /** Batch price as a share of the realtime price (OpenAI: 0.5; Voyage: 0.67). */
  readonly priceRatio: number;
  /** How long the provider may take to finish a batch (OpenAI: `"24h"`; Voyage: `"12h"`). */
  readonly completionWindow: string;
  /** One request of the file, as a JSON line without its newline. */
  requestLine(
    customId: string,
    texts: readonly string[],
    options: { readonly inputType?: InputType },
  ): string;
  /**
   * Uploads a JSONL request file under `name` (unique to the job) and returns the file id.
   */
  uploadFile(file: Blob, options: BatchCallOptions & { readonly name: string }): Promise<string>;
  /**
   * The id of a batch file uploaded earlier under `name`, if any: how a run killed between the upload
   * and recording its id finds the file again instead of uploading it twice.
   */
  findFile(name: string, options?: BatchCallOptions): Promise<string | undefined>;
  /** Creates a batch from an uploaded file, tagged with `jobId` (in its metadata). */
  createBatch(
    options: BatchCallOptions & {
      readonly fileId: string;
      readonly jobId: string;
      readonly inputType?: InputType;
    },
  ): Promise<BatchInfo>;
  /** The batch created earlier for `jobId`, if any (read from the batches' metadata). */
  findBatch(jobId: string, options?: BatchCallOptions): Promise<BatchInfo | undefined>;
  /** The batch's current state. */
  getBatch(batchId: string, options?: BatchCallOptions): Promise<BatchInfo>;
  /**
   * Streams an output or error file, one parsed line at a time: a file of hundreds of MB is never
   * held whole in memory.
   */
  readFile(fileId: string, options?: BatchCallOptions): AsyncIterable<BatchOutputLine>;
  /** Deletes a file (request, output or error file); a file already gone is not an error. */
  deleteFile(fileId: string, options?: BatchCallOptions): Promise<void>;
}
