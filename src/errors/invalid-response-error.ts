import { EmbeddingsError } from "./embeddings-error.js";

/**
 * The provider answered, but not with what was asked: a wrong number of vectors, a vector that is not
 * a list of finite numbers, a body that is not the documented shape. Nothing of the batch is written.
 */
export class InvalidResponseError extends EmbeddingsError {
  override name = "InvalidResponseError" as const;
  readonly provider: string;
  readonly model: string;

  constructor(message: string, fields: { provider: string; model: string; cause?: unknown }) {
    super(message, { cause: fields.cause });
    this.provider = fields.provider;
    this.model = fields.model;
  }

  static override isInstance(error: unknown): error is InvalidResponseError {
    return EmbeddingsError.hasName(error, "InvalidResponseError");
  }
}
