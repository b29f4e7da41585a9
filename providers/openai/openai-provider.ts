import OpenAI, { APIConnectionTimeoutError, APIError } from "openai";
import type {
  BatchEmbeddingApi,
  EmbedCallOptions,
  EmbeddingProvider,
  EmbeddingProviderLimits,
  EmbedResult,
} from "../../src/index.js";
import { InvalidOptionError } from "../../src/index.js";
import {
  type ApiConnection,
  apiConnection,
  mergeLimits,
  optionalPositiveInteger,
  type SdkErrorInfo,
} from "../../src/provider-utils/index.js";
import { openaiBatchApi } from "./openai-batch.js";
import { OPENAI_LIMITS, OPENAI_MODELS, UNKNOWN_OPENAI_MODEL_LIMITS } from "./openai-models.js";
import type { OpenAIProviderOptions } from "./openai-options.js";

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

/**
 * What the SDK's errors know. `APIError.error` keeps only an OpenAI-shaped `{ error }`: the raw body
 * the connection's fetch saw is preferred (OpenAI-compatible servers put their message elsewhere).
 */
function readOpenAIError(error: unknown): SdkErrorInfo {
  if (error instanceof APIConnectionTimeoutError) return { timeout: true };
  if (error instanceof APIError && typeof error.status === "number") {
    return {
      status: error.status,
      headers: error.headers,
      body: error.error ? { error: error.error } : undefined,
    };
  }
  return {};
}

class OpenAIEmbeddingProvider implements EmbeddingProvider {
  readonly provider = "openai";
  readonly model: string;
  readonly dimensions: number;
  readonly limits: EmbeddingProviderLimits;
  readonly truncates = false;
  readonly supportsParallelCalls = true;
  readonly batch: BatchEmbeddingApi;
  readonly #api: ApiConnection;
  readonly #organization: string | undefined;
  readonly #sendDimensions: boolean;

  constructor(options: OpenAIProviderOptions) {
    if (!options || typeof options.model !== "string" || options.model.trim() === "") {
      throw new InvalidOptionError("model", 'an embedding model id such as "text-embedding-3-small"');
    }
    this.#api = apiConnection({
      provider: this.provider,
      label: "OpenAI",
      apiKey: options.apiKey,
      apiKeyEnv: "OPENAI_API_KEY",
      baseURL: options.baseURL,
      baseURLEnv: "OPENAI_BASE_URL",
      defaultBaseURL: "https://api.openai.com/v1",
      timeoutMs: options.timeoutMs,
      fetch: options.fetch,
      readError: readOpenAIError,
      hints: {
        authentication: "The API key was refused: check `apiKey` (or OPENAI_API_KEY).",
        permission: "The API key may not do this: check its project, organization and model access.",
      },
    });
    const { dimensions, send } = resolveDimensions(options);
    this.model = options.model;
    this.dimensions = dimensions;
    this.limits = mergeLimits(
      OPENAI_MODELS[options.model] ? OPENAI_LIMITS : UNKNOWN_OPENAI_MODEL_LIMITS,
      options.limits,
    );
    this.#organization = options.organization;
    this.#sendDimensions = send;
    this.batch = openaiBatchApi(this.#api, {
      model: this.model,
      organization: options.organization,
      dimensions: send ? dimensions : undefined,
    });
  }

  embed(texts: readonly string[], options: EmbedCallOptions = {}): Promise<EmbedResult> {
    const request = { model: this.model, inputCount: texts.length, signal: options.signal };
    return this.#api.embed(request, async ({ apiKey, baseURL, fetch, signal, timeoutMs }) => {
      const client = new OpenAI({
        apiKey,
        baseURL,
        organization: this.#organization,
        timeout: timeoutMs,
        maxRetries: 0,
        fetch,
      });
      const { data, response } = await client.embeddings
        .create(
          {
            model: this.model,
            input: [...texts],
            // Asked for explicitly, so the SDK leaves decoding to us: some compatible servers ignore
            // it and send float arrays, which the SDK's decoder would shrink to a quarter.
            encoding_format: "base64",
            ...(this.#sendDimensions ? { dimensions: this.dimensions } : {}),
          },
          { signal, timeout: timeoutMs, maxRetries: 0 },
        )
        .withResponse();
      return { body: data, headers: response.headers };
    });
  }
}

/**
 * An {@link EmbeddingProvider} for OpenAI and OpenAI-compatible servers, built on the `openai` SDK
 * (a peer dependency: v5 or v6 on Node 20, v7 on Node ≥ 22) with its retries off: `backfill()` owns
 * retries. Vectors are requested as base64 and decoded to `Float32Array`; float arrays from servers
 * that ignore `encoding_format` are used as they are.
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
