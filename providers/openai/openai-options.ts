import type { EmbeddingProviderLimits } from "../../src/index.js";

/** OpenAI embedding model ids the library knows; any other id (a deployment, a local model) works too. */
export type OpenAIEmbeddingModelId =
  | "text-embedding-3-small"
  | "text-embedding-3-large"
  | "text-embedding-ada-002"
  | (string & {});

/** Options of {@link openaiProvider}. */
export interface OpenAIProviderOptions {
  /**
   * API key. Required even for local servers that ignore it (Ollama, LM Studio, vLLM): pass any
   * placeholder there, e.g. `"ollama"`. Making it explicit means a forgotten key for a remote
   * server fails at creation, not at the first request. Never appears in an error or a log.
   * @default process.env.OPENAI_API_KEY
   */
  apiKey?: string;
  /**
   * Model id. For an id the library does not know, `dimensions` is required.
   * @example "text-embedding-3-small"
   */
  model: OpenAIEmbeddingModelId;
  /**
   * Vector length. On text-embedding-3-* it is sent as `dimensions` (small: 1–1536, large: 1–3072);
   * text-embedding-ada-002 has only 1536. For other models it declares what the server returns and
   * is sent only with `sendDimensions: true`.
   * @default the model's own: 1536 (3-small, ada-002), 3072 (3-large)
   */
  dimensions?: number;
  /**
   * Whether to send `dimensions` in the request. Servers of models without adjustable dimensions
   * may refuse the field (vLLM does), so it is off for unknown models; turn it on for, say, an
   * Azure deployment of text-embedding-3-large under another name.
   * @default true for text-embedding-3-* when `dimensions` is set, else false
   */
  sendDimensions?: boolean;
  /**
   * API base URL with its version path: any OpenAI-compatible server works (Azure OpenAI's v1 API,
   * Ollama `http://localhost:11434/v1`, vLLM, LM Studio), also those that ignore `encoding_format`
   * and answer with float arrays.
   * @default process.env.OPENAI_BASE_URL ?? "https://api.openai.com/v1"
   */
  baseURL?: string;
  /**
   * OpenAI organization id, sent as `OpenAI-Organization`.
   * @default process.env.OPENAI_ORG_ID
   */
  organization?: string;
  /**
   * Time for one request, response body included, in milliseconds. A timeout is reported as a
   * retryable `APICallError` with reason `"timeout"`.
   * @default 60_000
   */
  timeoutMs?: number;
  /**
   * A `fetch` to send requests with (a proxy, a test double).
   * @default globalThis.fetch
   */
  fetch?: typeof globalThis.fetch;
  /**
   * Overrides of the declared request limits.
   * @default 2,048 inputs, 300,000 tokens per request, 8,192 tokens per input; unknown models:
   * 128 / 120,000 / 8,192
   */
  limits?: Partial<EmbeddingProviderLimits>;
}
