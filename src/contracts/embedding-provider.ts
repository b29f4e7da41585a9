import type { BatchEmbeddingApi } from "./batch-embedding-api.js";

/**
 * What a document or a query is embedded as. Providers that distinguish the two (Voyage) prepend a
 * retrieval prompt; providers that do not (OpenAI) ignore it.
 */
export type InputType = "document" | "query";

/**
 * The request limits a provider declares. The engine plans every request inside them, so a provider
 * should declare what its API enforces (or less).
 */
export interface EmbeddingProviderLimits {
  /** Most inputs in one request (Voyage: 1,000; OpenAI: 2,048). */
  readonly maxInputsPerRequest: number;
  /** Most tokens in one request, all inputs together (voyage-3.5: 320,000; OpenAI: 300,000). */
  readonly maxTokensPerRequest: number;
  /** Most tokens in one input, the model's context (Voyage: 32,000; OpenAI: 8,192). */
  readonly maxTokensPerInput: number;
}

/** Options of one `embed()` call. */
export interface EmbedCallOptions {
  /** What the texts are embedded as. The provider's own setting applies when omitted. */
  readonly inputType?: InputType;
  /**
   * Cancels the request. A provider must reject promptly with `signal.reason` and abort the HTTP
   * request in flight.
   */
  readonly signal?: AbortSignal;
}

/**
 * Rate-limit state reported by the provider with a response (OpenAI's `x-ratelimit-*` headers).
 * Every field is optional: send what the API told you.
 */
export interface RateLimitInfo {
  /** Requests left in the current window. */
  readonly remainingRequests?: number;
  /** Tokens left in the current window. */
  readonly remainingTokens?: number;
  /** Milliseconds until the request budget is full again. */
  readonly resetRequestsMs?: number;
  /** Milliseconds until the token budget is full again. */
  readonly resetTokensMs?: number;
}

/**
 * What the values of a provider's vectors are.
 *
 * - `"float"`: numbers, one per dimension; stored in `vector(n)` or `halfvec(n)` columns.
 * - `"bit"`: packed bits, eight dimensions per value: each value a byte from 0 to 255 whose most
 *   significant bit is the first of its eight dimensions (Voyage's `ubinary`; its `binary` is the same
 *   bytes minus 128, which the Voyage provider adds back). A vector of `dimensions` values holds
 *   `8 × dimensions` bits and is stored in a `bit(8 × dimensions)` column.
 */
export type VectorType = "float" | "bit";

/** What one `embed()` call returns. */
export interface EmbedResult {
  /**
   * One vector per input text, in input order, each of `dimensions` finite numbers (integers from 0
   * to 255 when the provider's `vectorType` is `"bit"`). The engine verifies all of this before
   * anything is written.
   */
  readonly embeddings: ReadonlyArray<ArrayLike<number>>;
  /** Tokens the provider billed for the request, when it says. */
  readonly usage?: { readonly tokens: number };
  /** Rate-limit state from the response headers, when the provider sends it. */
  readonly rateLimit?: RateLimitInfo;
}

/**
 * An embedding model behind an API. Implement this to plug any embedding service into `backfill()`.
 *
 * Errors: reject with {@link APICallError} for anything the API answered or failed to answer, so the
 * engine can decide whether to retry, back off, split the request or stop. Set its `reason` to
 * `"request_too_large"` when the API refused the request for its size: the engine splits it rather
 * than sending it again.
 *
 * @example
 * ```ts
 * const provider: EmbeddingProvider = {
 *   provider: "acme",
 *   model: "acme-embed-1",
 *   dimensions: 768,
 *   limits: { maxInputsPerRequest: 256, maxTokensPerRequest: 100_000, maxTokensPerInput: 8_192 },
 *   truncates: true,
 *   async embed(texts, { signal } = {}) {
 *     const res = await acme.embed({ texts }, { signal });
 *     return { embeddings: res.vectors, usage: { tokens: res.tokens } };
 *   },
 * };
 * ```
 */
export interface EmbeddingProvider {
  /** Short id of the service, used in errors and reports: `"voyage"`, `"openai"`. */
  readonly provider: string;
  /** Model id, stored beside every vector so a model change makes rows stale. */
  readonly model: string;
  /** Length of every vector the provider returns (for packed bits, in bytes: bits / 8). */
  readonly dimensions: number;
  /**
   * What the vectors' values are: numbers, or packed bits (see {@link VectorType}). Stores check that
   * their column fits it (`bit(n)` for bits) before the first request.
   * @default "float"
   */
  readonly vectorType?: VectorType;
  /** Request limits the engine plans within. */
  readonly limits: EmbeddingProviderLimits;
  /**
   * Whether the API truncates inputs longer than `limits.maxTokensPerInput` (rather than rejecting
   * them). The planner then counts an over-long input as at most `maxTokensPerInput` tokens.
   */
  readonly truncates: boolean;
  /**
   * Whether requests may run in parallel. When `false`, the engine sends one request at a time.
   * @default true
   */
  readonly supportsParallelCalls?: boolean;
  /** Embeds `texts` (never empty, never containing an empty string). */
  embed(texts: readonly string[], options?: EmbedCallOptions): Promise<EmbedResult>;
  /**
   * The provider's batch API, when it has one: `backfill({ mode: "batch" })` needs it. Both shipped
   * providers have it.
   * @default undefined (realtime only)
   */
  readonly batch?: BatchEmbeddingApi;
}
