import type {
  EmbedCallOptions,
  EmbeddingProvider,
  EmbeddingProviderLimits,
  EmbedResult,
} from "../../src/index.js";
import { APICallError, InvalidOptionError, InvalidResponseError } from "../../src/index.js";
import {
  type CallContext,
  mergeLimits,
  optionalPositiveInteger,
  parseRateLimitHeaders,
  runProviderCall,
  secretRedactor,
  timeoutOption,
} from "../../src/provider-utils/index.js";
import { aiSdkCallError, headersOf } from "./ai-sdk-error.js";
import type { AiSdkEmbeddingModel } from "./ai-sdk-model.js";
import type { AiSdkProviderOptions } from "./ai-sdk-options.js";

const SPECIFICATIONS = ["v2", "v3", "v4"];
/** Inputs per call for a model that declares no limit (or only asynchronously). */
const UNDECLARED_MAX_INPUTS = 128;
const DEFAULT_LIMITS = { maxTokensPerRequest: 120_000, maxTokensPerInput: 8192 } as const;

function checkModel(model: AiSdkEmbeddingModel): void {
  const m = model as Partial<AiSdkEmbeddingModel> | null | undefined;
  if (!m || typeof m !== "object" || typeof m.doEmbed !== "function") {
    throw new InvalidOptionError(
      "model",
      'an AI SDK embedding model object, e.g. openai.embedding("text-embedding-3-small") (a model id string is not enough)',
    );
  }
  if (!SPECIFICATIONS.includes(String(m.specificationVersion))) {
    throw new InvalidOptionError(
      "model",
      `an AI SDK embedding model of specification v2, v3 or v4 (ai 5, 6 or 7), got ${String(m.specificationVersion)}`,
    );
  }
}

/** A finite positive integer from `maxEmbeddingsPerCall`, when the model declares one now. */
function declaredMaxInputs(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

class AiSdkEmbeddingProvider implements EmbeddingProvider {
  readonly provider: string;
  readonly model: string;
  readonly dimensions: number;
  readonly limits: EmbeddingProviderLimits;
  readonly truncates: boolean;
  readonly supportsParallelCalls: boolean;
  readonly #model: AiSdkEmbeddingModel;
  readonly #options: AiSdkProviderOptions;
  readonly #ctx: CallContext;
  /** The model's own limit once known (it may declare it asynchronously). */
  #maxInputs: number | undefined;

  constructor(model: AiSdkEmbeddingModel, options: AiSdkProviderOptions) {
    checkModel(model);
    if (!options || typeof options !== "object") {
      throw new InvalidOptionError("options", "an object with at least `dimensions`");
    }
    const dimensions = optionalPositiveInteger("dimensions", options.dimensions);
    if (dimensions === undefined) {
      throw new InvalidOptionError(
        "dimensions",
        `the length of the vectors ${model.modelId} returns (the AI SDK does not declare it)`,
      );
    }
    if (options.truncates !== undefined && typeof options.truncates !== "boolean") {
      throw new InvalidOptionError("truncates", `a boolean, got ${String(options.truncates)}`);
    }
    const declared = declaredMaxInputs(model.maxEmbeddingsPerCall);
    const pending = model.maxEmbeddingsPerCall;
    if (declared === undefined && typeof (pending as PromiseLike<unknown>)?.then === "function") {
      (pending as PromiseLike<number | undefined>).then(
        (value) => {
          this.#maxInputs = declaredMaxInputs(value);
        },
        () => {},
      );
    }
    this.#maxInputs = declared;
    this.#model = model;
    this.#options = options;
    this.provider = options.provider ?? model.provider;
    this.model = model.modelId;
    this.dimensions = dimensions;
    this.limits = mergeLimits(
      { maxInputsPerRequest: declared ?? UNDECLARED_MAX_INPUTS, ...DEFAULT_LIMITS },
      options.limits,
    );
    this.truncates = options.truncates ?? false;
    this.supportsParallelCalls =
      typeof model.supportsParallelCalls === "boolean" ? model.supportsParallelCalls : true;
    const timeoutMs = timeoutOption("timeoutMs", options.timeoutMs, 60_000);
    this.#ctx = {
      provider: this.provider,
      label: model.provider,
      model: this.model,
      url: model.provider,
      timeoutMs,
      redact: secretRedactor(options.secrets ?? []),
    };
  }

  embed(texts: readonly string[], options: EmbedCallOptions = {}): Promise<EmbedResult> {
    const ctx = this.#ctx;
    return runProviderCall(
      ctx,
      options.signal,
      async (abortSignal) => {
        if (this.#maxInputs !== undefined && texts.length > this.#maxInputs) {
          throw new APICallError(
            `${ctx.label} (model "${ctx.model}") takes at most ${this.#maxInputs} values per call, got ${texts.length}.`,
            { provider: ctx.provider, model: ctx.model, reason: "request_too_large" },
          );
        }
        const { providerOptions, headers } = this.#options;
        const result = await this.#model.doEmbed({
          values: [...texts],
          abortSignal,
          providerOptions:
            typeof providerOptions === "function"
              ? providerOptions({ inputType: options.inputType })
              : providerOptions,
          headers,
        });
        if (!Array.isArray(result?.embeddings) || result.embeddings.length !== texts.length) {
          throw new InvalidResponseError(
            `${ctx.label} returned ${Array.isArray(result?.embeddings) ? result.embeddings.length : "no"} embeddings for ${texts.length} inputs (model "${ctx.model}").`,
            { provider: ctx.provider, model: ctx.model },
          );
        }
        const tokens = result.usage?.tokens;
        return {
          embeddings: result.embeddings,
          usage: typeof tokens === "number" && Number.isFinite(tokens) ? { tokens } : undefined,
          rateLimit: parseRateLimitHeaders(headersOf(result.response?.headers)),
        };
      },
      (error) => aiSdkCallError(error, ctx),
    );
  }
}

/**
 * An {@link EmbeddingProvider} for any Vercel AI SDK embedding model (specification v2, v3 or v4:
 * `ai` 5, 6 or 7), so Cohere, Google, Mistral, Bedrock, Azure, Ollama and every other AI SDK
 * provider plug into `backfill()`. The model's `doEmbed` is called directly, once per request: the
 * AI SDK's own retries never run, `backfill()`'s do. Its errors become {@link APICallError}s with the
 * same reasons and `retryAfterMs` as the built-in providers'; the call's abort signal reaches the
 * request. Imports nothing from the AI SDK.
 * Throws {@link InvalidOptionError} at creation when the model or an option is invalid.
 *
 * @example
 * ```ts
 * import { createOpenAI } from "@ai-sdk/openai";
 * import { aiSdkProvider } from "@relay/embeddings/providers/ai-sdk";
 *
 * const apiKey = process.env.OPENAI_API_KEY;
 * const provider = aiSdkProvider(createOpenAI({ apiKey }).embedding("text-embedding-3-small"), {
 *   dimensions: 1536,
 *   secrets: [apiKey],
 * });
 * ```
 */
export function aiSdkProvider(model: AiSdkEmbeddingModel, options: AiSdkProviderOptions): EmbeddingProvider {
  return new AiSdkEmbeddingProvider(model, options);
}
