import OpenAI from "openai";
import type { BatchEmbeddingApi } from "../../src/contracts/batch-embedding-api.js";
import type {
  EmbedCallOptions,
  EmbeddingProvider,
  EmbeddingProviderLimits,
  EmbedResult,
} from "../../src/contracts/embedding-provider.js";
import { InvalidOptionError } from "../../src/errors/invalid-option-error.js";
import { registerSecret } from "../../src/errors/redact.js";
import {
  baseURLOption,
  type CallContext,
  callWithDeadline,
  capturingFetch,
  loadApiKey,
  mergeLimits,
  optionalPositiveInteger,
  parseRateLimitHeaders,
  readEmbeddings,
  readUsage,
  timeoutOption,
  transportCallError,
} from "../../src/provider-utils/index.js";
import { openaiBatchApi } from "./openai-batch.js";
import { openaiCallError } from "./openai-error.js";
import { OPENAI_LIMITS, OPENAI_MODELS, UNKNOWN_OPENAI_MODEL_LIMITS } from "./openai-models.js";
import type { OpenAIProviderOptions } from "./openai-options.js";

const DEFAULT_BASE_URL = "https://api.openai.com/v1";

interface Settings {
  readonly apiKey: string;
  readonly baseURL: string;
  readonly organization: string | undefined;
  readonly timeoutMs: number;
  readonly sendDimensions: boolean;
  readonly fetch: typeof globalThis.fetch | undefined;
}

function resolveDimensions(options: OpenAIProviderOptions): { dimensions: number; send: boolean } {
  const facts = OPENAI_MODELS[options.model];
  const requested = optionalPositiveInteger("dimensions", options.dimensions);
  if (options.sendDimensions !== undefined && typeof options.sendDimensions !== "boolean") {
    throw new InvalidOptionError("sendDimensions", `a boolean, got ${String(options.sendDimensions)}`);
  }
  if (!facts) {
    if (requested === undefined) {
      throw new InvalidOptionError(
        "dimensions",
        `the vector length of "${options.model}", a model this library does not know`,
      );
    }
    return { dimensions: requested, send: options.sendDimensions ?? false };
  }
  if (requested === undefined) return { dimensions: facts.dimensions, send: false };
  if (!facts.flexibleDimensions && requested !== facts.dimensions) {
    throw new InvalidOptionError(
      "dimensions",
      `${facts.dimensions} for ${options.model} (only text-embedding-3-* models take \`dimensions\`), got ${requested}`,
    );
  }
  if (requested > facts.dimensions) {
    throw new InvalidOptionError(
      "dimensions",
      `at most ${facts.dimensions} for ${options.model}, got ${requested}`,
    );
  }
  return { dimensions: requested, send: options.sendDimensions ?? facts.flexibleDimensions };
}

class OpenAIEmbeddingProvider implements EmbeddingProvider {
  readonly provider = "openai";
  readonly model: string;
  readonly dimensions: number;
  readonly limits: EmbeddingProviderLimits;
  readonly truncates = false;
  readonly supportsParallelCalls = true;
  readonly batch: BatchEmbeddingApi;
  readonly #settings: Settings;

  constructor(options: OpenAIProviderOptions) {
    if (!options || typeof options.model !== "string" || options.model.trim() === "") {
      throw new InvalidOptionError("model", 'an embedding model id such as "text-embedding-3-small"');
    }
    const apiKey = loadApiKey(options.apiKey, "OPENAI_API_KEY", "OpenAI");
    registerSecret(apiKey);
    const { dimensions, send } = resolveDimensions(options);
    this.model = options.model;
    this.dimensions = dimensions;
    this.limits = mergeLimits(
      OPENAI_MODELS[options.model] ? OPENAI_LIMITS : UNKNOWN_OPENAI_MODEL_LIMITS,
      options.limits,
    );
    const envBaseURL = typeof process === "undefined" ? undefined : process.env.OPENAI_BASE_URL;
    this.#settings = {
      apiKey,
      baseURL: baseURLOption(options.baseURL ?? (envBaseURL || undefined), DEFAULT_BASE_URL),
      organization: options.organization,
      timeoutMs: timeoutOption("timeoutMs", options.timeoutMs, 60_000),
      sendDimensions: send,
      fetch: options.fetch,
    };
    const s = this.#settings;
    this.batch = openaiBatchApi({ ...s, model: this.model, dimensions: send ? dimensions : undefined });
  }

  async embed(texts: readonly string[], options: EmbedCallOptions = {}): Promise<EmbedResult> {
    const s = this.#settings;
    const ctx: CallContext = {
      provider: this.provider,
      label: "OpenAI",
      model: this.model,
      url: `${s.baseURL}/embeddings`,
      timeoutMs: s.timeoutMs,
      hints: {
        authentication: "The API key was refused: check `apiKey` (or OPENAI_API_KEY).",
        permission: "The API key may not do this: check its project, organization and model access.",
      },
    };
    const timeout = Math.max(1, Math.ceil(s.timeoutMs));
    return callWithDeadline(
      async (signal) => {
        // A client per request, so the wrapped fetch sees this request's exchange only.
        const { fetch, exchange } = capturingFetch(() => s.fetch ?? globalThis.fetch);
        const client = new OpenAI({
          apiKey: s.apiKey,
          baseURL: s.baseURL,
          organization: s.organization,
          timeout,
          maxRetries: 0,
          fetch,
        });
        let result: { data: unknown; response: Response };
        try {
          result = await client.embeddings
            .create(
              {
                model: this.model,
                input: [...texts],
                // Asked for explicitly, so the SDK leaves decoding to us: some compatible servers
                // ignore it and send float arrays, which the SDK's decoder would shrink to a quarter.
                encoding_format: "base64",
                ...(s.sendDimensions ? { dimensions: this.dimensions } : {}),
              },
              { signal, timeout, maxRetries: 0 },
            )
            .withResponse();
        } catch (error) {
          throw await openaiCallError(error, exchange, ctx);
        }
        const source = { provider: this.provider, label: "OpenAI", model: this.model };
        return {
          embeddings: readEmbeddings(result.data, texts.length, "float32", source),
          usage: readUsage(result.data),
          rateLimit: parseRateLimitHeaders(result.response.headers),
        };
      },
      { signal: options.signal, timeoutMs: s.timeoutMs, onTimeout: () => transportCallError(ctx, "timeout") },
    );
  }
}

/**
 * An {@link EmbeddingProvider} for OpenAI and OpenAI-compatible servers, built on the `openai` SDK
 * (a peer dependency, `^5 || ^6`; v6 for Node 20, v7 needs Node 22) with its retries off:
 * `backfill()` owns retries. Vectors are requested as base64 and decoded to `Float32Array`; float
 * arrays from servers that ignore `encoding_format` are used as they are.
 * Throws {@link InvalidOptionError} at creation when the key is missing or an option is invalid.
 *
 * @example
 * ```ts
 * import { openaiProvider } from "@relay/embeddings/providers/openai";
 *
 * const provider = openaiProvider({ model: "text-embedding-3-small", dimensions: 512 });
 * const local = openaiProvider({
 *   model: "nomic-embed-text",
 *   dimensions: 768,
 *   baseURL: "http://localhost:11434/v1",
 *   apiKey: "ollama",
 *   limits: { maxTokensPerInput: 2048 },
 * });
 * ```
 */
export function openaiProvider(options: OpenAIProviderOptions): EmbeddingProvider {
  return new OpenAIEmbeddingProvider(options);
}
