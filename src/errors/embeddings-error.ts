import { redactSecrets } from "./redact.js";

const marker = "relay.embeddings.error";
const symbol = Symbol.for(marker);

/**
 * Base class of every error this library throws. `EmbeddingsError.isInstance(e)` works across
 * duplicate copies of the package, where `instanceof` may not. Messages never contain an API key.
 */
export class EmbeddingsError extends Error {
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: read through the Symbol.for marker in isInstance.
  private readonly [symbol] = true;
  override name = "EmbeddingsError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(redactSecrets(message), options);
  }

  /** Whether `error` is an {@link EmbeddingsError} from any copy of this package. */
  static isInstance(error: unknown): error is EmbeddingsError {
    return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[symbol] === true;
  }

  /** Checks the marker and the `name`, so subclasses can be told apart across copies. */
  protected static hasName(error: unknown, name: string): boolean {
    return EmbeddingsError.isInstance(error) && error.name === name;
  }
}
