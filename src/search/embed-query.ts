import { withRetry } from "../backfill/retry.js";
import { validateEmbeddings } from "../backfill/validate-embeddings.js";
import type { EmbeddingProvider } from "../contracts/embedding-provider.js";
import { BACKFILL_DEFAULTS } from "../defaults.js";
import { InvalidOptionError } from "../errors/invalid-option-error.js";

/**
 * Options of {@link embedQuery}: the retry policy of `backfill()`, with the same defaults
 * (`BACKFILL_DEFAULTS`), and a signal.
 */
export interface EmbedQueryOptions {
  /**
   * Retries after the first attempt (408/409/429/5xx, dropped connections, timeouts).
   * @default 6
   */
  readonly retries?: number;
  /**
   * First retry delay in ms; doubles each retry, with jitter.
   * @default 1000
   */
  readonly retryMinDelayMs?: number;
  /**
   * Longest delay between two attempts, and the longest `Retry-After` honoured, in ms.
   * @default 60000
   */
  readonly retryMaxDelayMs?: number;
  /**
   * Longest time the request may spend retrying, in ms.
   * @default 600000
   */
  readonly maxRetryTimeMs?: number;
  /**
   * Cancels the request: the promise rejects with `signal.reason`.
   * @default undefined
   */
  readonly signal?: AbortSignal;
}

/**
 * Embeds one search text as a query (`inputType: "query"`: Voyage prepends its retrieval prompt for
 * queries; OpenAI ignores it) with the provider's model, through the retry policy of `backfill()`,
 * and checks the answer as `backfill()` checks every answer (one finite vector of the provider's
 * dimensions, not all zeros). Throws `InvalidOptionError` (`query`) for an empty or blank text,
 * `APICallError` when the API fails for good, `InvalidResponseError` / `DimensionMismatchError` for
 * an unusable answer.
 *
 * @example
 * ```ts
 * const vector = await embedQuery(voyageProvider({ model: "voyage-3.5" }), "parse csv files");
 * ```
 */
export async function embedQuery(
  provider: EmbeddingProvider,
  text: string,
  options: EmbedQueryOptions = {},
): Promise<Float32Array> {
  if (typeof provider !== "object" || provider === null || typeof provider.embed !== "function") {
    throw new InvalidOptionError("provider", "an EmbeddingProvider (an object with an `embed` function)");
  }
  if (typeof text !== "string" || text.trim() === "") {
    throw new InvalidOptionError("query", "a non-empty text to search for");
  }
  const d = BACKFILL_DEFAULTS;
  const policy = {
    retries: options.retries ?? d.retries,
    minDelayMs: options.retryMinDelayMs ?? d.retryMinDelayMs,
    maxDelayMs: options.retryMaxDelayMs ?? d.retryMaxDelayMs,
    maxRetryTimeMs: options.maxRetryTimeMs ?? d.maxRetryTimeMs,
  };
  if (!Number.isInteger(policy.retries) || policy.retries < 0) {
    throw new InvalidOptionError("retries", "an integer ≥ 0");
  }
  const { signal } = options;
  signal?.throwIfAborted();
  // JSON APIs reject lone surrogates, as in backfill's texts.
  const sent = text.toWellFormed();
  const [vector] = await withRetry(
    async () => {
      const result = await provider.embed([sent], { inputType: "query", signal });
      return validateEmbeddings(result, ["(search query)"], provider);
    },
    policy,
    { signal },
  );
  return vector!;
}
