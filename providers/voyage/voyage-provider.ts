import { VoyageAIClient } from "voyageai";
import type { BatchEmbeddingApi } from "../../src/contracts/batch-embedding-api.js";
import type {
  EmbedCallOptions,
  EmbeddingProvider,
  EmbeddingProviderLimits,
  EmbedResult,
  InputType,
} from "../../src/contracts/embedding-provider.js";
import { InvalidOptionError } from "../../src/errors/invalid-option-error.js";
import { registerSecret } from "../../src/errors/redact.js";
import {
  baseURLOption,
  type CallContext,
  callWithDeadline,
  capturingFetch,
  type EmbeddingEncoding,
  loadApiKey,
  mergeLimits,
  optionalPositiveInteger,
  parseRateLimitHeaders,
  readEmbeddings,
  readUsage,
  timeoutOption,
  transportCallError,
} from "../../src/provider-utils/index.js";
import { voyageBatchApi } from "./voyage-batch.js";
import { voyageCallError } from "./voyage-error.js";
import { UNKNOWN_VOYAGE_MODEL_LIMITS, VOYAGE_MAX_INPUTS, VOYAGE_MODELS } from "./voyage-models.js";
import type { VoyageOutputDtype, VoyageProviderOptions } from "./voyage-options.js";

const DEFAULT_BASE_URL = "https://api.voyageai.com/v1";
const DTYPES: readonly VoyageOutputDtype[] = ["float", "int8", "uint8", "binary", "ubinary"];
const ENCODING: Record<VoyageOutputDtype, EmbeddingEncoding> = {
  float: "float32",
  int8: "int8",
  uint8: "uint8",
  binary: "int8",
  ubinary: "uint8",
};

interface Settings {
  readonly apiKey: string;
  readonly baseURL: string;
  readonly timeoutMs: number;
  readonly inputType: InputType | null;
  readonly outputDimension: number | undefined;
  readonly outputDtype: VoyageOutputDtype;
  readonly fetch: typeof globalThis.fetch | undefined;
}

function resolveDimensions(options: VoyageProviderOptions, dtype: VoyageOutputDtype): number {
  const facts = VOYAGE_MODELS[options.model];
  const outputDimension = optionalPositiveInteger("outputDimension", options.outputDimension);
  const declared = optionalPositiveInteger("dimensions", options.dimensions);
  if (facts) {
    if (outputDimension !== undefined && !facts.outputDimensions.includes(outputDimension)) {
      throw new InvalidOptionError(
        "outputDimension",
        `one of ${facts.outputDimensions.join(", ")} for ${options.model}, got ${outputDimension}`,
      );
    }
    if (dtype !== "float" && !facts.quantization) {
      throw new InvalidOptionError(
        "outputDtype",
        `"float" for ${options.model} (other types need a 3.5, 4, code-3 or 3-large model), got "${dtype}"`,
      );
    }
  }
  const dimensions = outputDimension ?? facts?.dimensions ?? declared;
  if (dimensions === undefined) {
    throw new InvalidOptionError(
      "dimensions",
      `the output dimension of "${options.model}", a model this library does not know (or set \`outputDimension\`)`,
    );
  }
  if (declared !== undefined && declared !== dimensions) {
    throw new InvalidOptionError(
      "dimensions",
      `${dimensions}, what ${options.model} returns with these options, got ${declared} (choose the size with \`outputDimension\`)`,
    );
  }
  if ((dtype === "binary" || dtype === "ubinary") && dimensions % 8 !== 0) {
    throw new InvalidOptionError(
      "outputDimension",
      `a multiple of 8 with outputDtype "${dtype}", got ${dimensions}`,
    );
  }
  return dtype === "binary" || dtype === "ubinary" ? dimensions / 8 : dimensions;
}

class VoyageEmbeddingProvider implements EmbeddingProvider {
  readonly provider = "voyage";
  readonly model: string;
  readonly dimensions: number;
  readonly limits: EmbeddingProviderLimits;
  readonly truncates: boolean;
  readonly supportsParallelCalls = true;
  readonly batch: BatchEmbeddingApi;
  // An ES private field: not enumerable, not in JSON, not in console.log of the provider.
  readonly #settings: Settings;

  constructor(options: VoyageProviderOptions) {
    if (!options || typeof options.model !== "string" || options.model.trim() === "") {
      throw new InvalidOptionError("model", 'a Voyage model id such as "voyage-3.5"');
    }
    const apiKey = loadApiKey(options.apiKey, "VOYAGE_API_KEY", "Voyage");
    registerSecret(apiKey);
    const outputDtype = options.outputDtype ?? "float";
    if (!DTYPES.includes(outputDtype)) {
      throw new InvalidOptionError("outputDtype", `one of ${DTYPES.join(", ")}, got ${String(outputDtype)}`);
    }
    const inputType = options.inputType === undefined ? "document" : options.inputType;
    if (inputType !== null && inputType !== "document" && inputType !== "query") {
      throw new InvalidOptionError("inputType", `"document", "query" or null, got ${String(inputType)}`);
    }
    if (options.truncation !== undefined && typeof options.truncation !== "boolean") {
      throw new InvalidOptionError("truncation", `a boolean, got ${String(options.truncation)}`);
    }
    const facts = VOYAGE_MODELS[options.model];
    this.model = options.model;
    this.dimensions = resolveDimensions(options, outputDtype);
    this.limits = mergeLimits(
      facts
        ? {
            maxInputsPerRequest: VOYAGE_MAX_INPUTS,
            maxTokensPerRequest: facts.maxTokensPerRequest,
            maxTokensPerInput: facts.maxTokensPerInput,
          }
        : UNKNOWN_VOYAGE_MODEL_LIMITS,
      options.limits,
    );
    this.truncates = options.truncation ?? true;
    this.#settings = {
      apiKey,
      baseURL: baseURLOption(options.baseURL, DEFAULT_BASE_URL),
      timeoutMs: timeoutOption("timeoutMs", options.timeoutMs, 60_000),
      inputType,
      outputDimension: options.outputDimension,
      outputDtype,
      fetch: options.fetch,
    };
    const s = this.#settings;
    this.batch = voyageBatchApi({
      ...s,
      model: this.model,
      truncation: this.truncates,
      encoding: ENCODING[outputDtype],
    });
  }

  async embed(texts: readonly string[], options: EmbedCallOptions = {}): Promise<EmbedResult> {
    const s = this.#settings;
    const ctx: CallContext = {
      provider: this.provider,
      label: "Voyage",
      model: this.model,
      url: `${s.baseURL}/embeddings`,
      timeoutMs: s.timeoutMs,
      hints: {
        authentication: "The API key was refused: check `apiKey` (or VOYAGE_API_KEY).",
        permission:
          "The API key may not do this. Keys starting `al-` and keys starting `pa-` belong to different API hosts: " +
          `set \`baseURL\` to the host that issued the key (this key starts \`${s.apiKey.slice(0, 3)}\`, baseURL is ${s.baseURL}).`,
        not_found:
          "Unknown model or endpoint: check `model`, and that `baseURL` includes the version path (/v1).",
      },
    };
    return callWithDeadline(
      async (signal) => {
        // A client per request, so the wrapped fetch sees this request's exchange only.
        const { fetch, exchange } = capturingFetch(() => s.fetch ?? globalThis.fetch);
        const client = new VoyageAIClient({
          apiKey: s.apiKey,
          baseUrl: s.baseURL,
          timeoutInSeconds: s.timeoutMs / 1000,
          maxRetries: 0,
          fetch,
        });
        let raw: Awaited<ReturnType<ReturnType<VoyageAIClient["embed"]>["withRawResponse"]>>;
        try {
          raw = await client
            .embed(
              {
                input: [...texts],
                model: this.model,
                inputType: options.inputType ?? s.inputType ?? undefined,
                truncation: this.truncates,
                encodingFormat: "base64",
                outputDimension: s.outputDimension,
                outputDtype: s.outputDtype === "float" ? undefined : s.outputDtype,
              },
              { abortSignal: signal, maxRetries: 0, timeoutInSeconds: s.timeoutMs / 1000 },
            )
            .withRawResponse();
        } catch (error) {
          throw await voyageCallError(error, exchange, ctx);
        }
        const source = { provider: this.provider, label: "Voyage", model: this.model };
        return {
          embeddings: readEmbeddings(raw.data, texts.length, ENCODING[s.outputDtype], source),
          usage: readUsage(raw.data),
          rateLimit: parseRateLimitHeaders(raw.rawResponse.headers),
        };
      },
      { signal: options.signal, timeoutMs: s.timeoutMs, onTimeout: () => transportCallError(ctx, "timeout") },
    );
  }
}

/**
 * An {@link EmbeddingProvider} for Voyage AI, built on the `voyageai` SDK (a peer dependency,
 * ≥ 0.3.1) with its retries off: `backfill()` owns retries. Vectors come as base64 and are decoded
 * to `Float32Array` (`float`), `Int8Array` (`int8`, `binary`) or `Uint8Array` (`uint8`, `ubinary`).
 * Throws {@link InvalidOptionError} at creation when the key is missing or an option is invalid.
 *
 * @example
 * ```ts
 * import { voyageProvider } from "@relay/embeddings/providers/voyage";
 *
 * const provider = voyageProvider({ model: "voyage-3.5", outputDimension: 512 });
 * ```
 */
export function voyageProvider(options: VoyageProviderOptions): EmbeddingProvider {
  return new VoyageEmbeddingProvider(options);
}
