import { EmbeddingsError } from "./embeddings-error.js";

/** An option has a value the library cannot use. The message names the option and what it expects. */
export class InvalidOptionError extends EmbeddingsError {
  override name = "InvalidOptionError" as const;
  /** Path of the option, e.g. `"concurrency"` or `"source.text"`. */
  readonly option: string;

  constructor(option: string, expectation: string, options?: { cause?: unknown }) {
    super(`Expected \`${option}\` to be ${expectation}.`, options);
    this.option = option;
  }

  static override isInstance(error: unknown): error is InvalidOptionError {
    return EmbeddingsError.hasName(error, "InvalidOptionError");
  }
}
