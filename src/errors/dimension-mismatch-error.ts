import { EmbeddingsError } from "./embeddings-error.js";

/**
 * A vector's length differs from what it must be: the provider returned vectors of another length
 * than it declared (`source: "response"`), the store's column holds vectors of another length than
 * the provider makes (`source: "store"`), or a query vector's length differs from the stored
 * vectors' (`source: "query"`).
 */
export class DimensionMismatchError extends EmbeddingsError {
  override name = "DimensionMismatchError" as const;
  /** The length required. */
  readonly expected: number;
  /** The length found. */
  readonly actual: number;
  /** Where the mismatch was found. */
  readonly source: "response" | "store" | "query";

  constructor(
    message: string,
    fields: { expected: number; actual: number; source: "response" | "store" | "query"; cause?: unknown },
  ) {
    super(message, { cause: fields.cause });
    this.expected = fields.expected;
    this.actual = fields.actual;
    this.source = fields.source;
  }

  static override isInstance(error: unknown): error is DimensionMismatchError {
    return EmbeddingsError.hasName(error, "DimensionMismatchError");
  }
}
