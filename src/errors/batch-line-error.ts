import { EmbeddingsError } from "./embeddings-error.js";

/** What is wrong with a line of a batch's output. */
export type BatchLineErrorReason =
  /** The line has no `custom_id`: its answer cannot be matched to a request. */
  | "missing_custom_id"
  /** The `custom_id` names no request of this batch. */
  | "unknown_custom_id"
  /** A vector has another length than the provider declares. */
  | "dimension_mismatch"
  /** The line is not JSON, or its answer is not a valid embeddings response. */
  | "invalid_line";

/**
 * A line of a batch's output file cannot be used. Nothing of that line is written; its rows stay
 * pending and go into a later batch. `batchId` and `line` (from 1) say where to look.
 */
export class BatchLineError extends EmbeddingsError {
  override name = "BatchLineError" as const;
  readonly reason: BatchLineErrorReason;
  /** The provider's batch id. */
  readonly batchId: string;
  /** The line's number in the output file, from 1. */
  readonly line: number;
  /** The line's `custom_id`, when it has one. */
  readonly customId: string | undefined;

  constructor(
    message: string,
    fields: {
      reason: BatchLineErrorReason;
      batchId: string;
      line: number;
      customId?: string | undefined;
      cause?: unknown;
    },
  ) {
    super(message, { cause: fields.cause });
    this.reason = fields.reason;
    this.batchId = fields.batchId;
    this.line = fields.line;
    this.customId = fields.customId;
  }

  static override isInstance(error: unknown): error is BatchLineError {
    return EmbeddingsError.hasName(error, "BatchLineError");
  }
}
