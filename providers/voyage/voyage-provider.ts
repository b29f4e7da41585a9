import { VoyageAIClient } from "voyageai";
import type {
  BatchEmbeddingApi,
  EmbedCallOptions,
  EmbeddingProvider,
  EmbeddingProviderLimits,
  EmbedResult,
  InputType,
  VectorType,
} from "../../src/index.js";
import { InvalidOptionError } from "../../src/index.js";
import {
  type ApiConnection,
  apiConnection,
  type EmbeddingEncoding,
  mergeLimits,
  optionalPositiveInteger,
  type SdkErrorInfo,
} from "../../src/provider-utils/index.js";
import { voyageBatchApi } from "./voyage-batch.js";
import { UNKNOWN_VOYAGE_MODEL_LIMITS, VOYAGE_MAX_INPUTS, VOYAGE_MODELS } from "./voyage-models.js";
import type { VoyageOutputDtype, VoyageProviderOptions } from "./voyage-options.js";

const DTYPES: readonly VoyageOutputDtype[] = ["float", "int8", "uint8", "binary", "ubinary"];
const ENCODING: Record<VoyageOutputDtype, EmbeddingEncoding> = {
  float: "float32",
  int8: "int8",
  uint8: "uint8",
  binary: "offset-binary",
  ubinary: "uint8",
};

/** Reads what the `voyageai` SDK's `VoyageAIError` carries, without depending on its class identity. */
function readVoyageError(error: unknown): SdkErrorInfo {
  if (!error || typeof error !== "object") return {};
  const e = error as {
    name?: unknown;
    statusCode?: unknown;
    body?: unknown;
    rawResponse?: { status?: unknown; headers?: unknown };
  };
  // A status of 0 in rawResponse means the SDK made no HTTP exchange of it: its headers are empty.
  const real = typeof e.rawResponse?.status === "number" && e.rawResponse.status > 0;
  return {
    timeout: e.name === "VoyageAITimeoutError",
    status: typeof e.statusCode === "number" ? e.statusCode : undefined,
    body: e.body,
    headers: real && e.rawResponse?.headers instanceof Headers ? e.rawResponse.headers : undefined,
  };
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
  readonly vectorType: VectorType;
  readonly limits: EmbeddingProviderLimits;
  readonly truncates: boolean;
  readonly supportsParallelCalls = true;
  readonly batch: BatchEmbeddingApi;
  readonly #api: ApiConnection;
  readonly #inputType: InputType | null;
  readonly #outputDimension: number | undefined;
  readonly #outputDtype: VoyageOutputDtype;

  constructor(options: VoyageProviderOptions) {
    if (!options || typeof options.model !== "string" || options.model.trim() === "") {
      throw new InvalidOptionError("model", 'a Voyage model id such as "voyage-3.5"');
    }
    this.#api = apiConnection({
      provider: this.provider,
      label: "Voyage",
      apiKey: options.apiKey,
      apiKeyEnv: "VOYAGE_API_KEY",
      baseURL: options.baseURL,
      baseURLEnv: "VOYAGE_BASE_URL",
      defaultBaseURL: "https://api.voyageai.com/v1",
      timeoutMs: options.timeoutMs,
      fetch: options.fetch,
      readError: readVoyageError,
      hints: ({ baseURL, keyPrefix }) => ({
        authentication: "The API key was refused: check `apiKey` (or VOYAGE_API_KEY).",
        permission:
          "The API key may not do this. Keys starting `al-` and keys starting `pa-` belong to different API hosts: " +
          `set \`baseURL\` to the host that issued the key (this key starts \`${keyPrefix}\`, baseURL is ${baseURL}).`,
        not_found:
          "Unknown model or endpoint: check `model`, and that `baseURL` includes the version path (/v1).",
      }),
    });
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
    this.vectorType = outputDtype === "binary" || outputDtype === "ubinary" ? "bit" : "float";
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
    this.#inputType = inputType;
    this.#outputDimension = options.outputDimension;
    this.#outputDtype = outputDtype;
    this.batch = voyageBatchApi(this.#api, {
      model: this.model,
      inputType,
      truncation: this.truncates,
      outputDimension: options.outputDimension,
      outputDtype,
      encoding: ENCODING[outputDtype],
    });
  }

  embed(texts: readonly string[], options: EmbedCallOptions = {}): Promise<EmbedResult> {
    const request = {
      model: this.model,
      inputCount: texts.length,
      encoding: ENCODING[this.#outputDtype],
      signal: options.signal,
    };
    return this.#api.embed(request, async ({ apiKey, baseURL, fetch, signal, timeoutMs }) => {
      const client = new VoyageAIClient({
        apiKey,
        baseUrl: baseURL,
        timeoutInSeconds: timeoutMs / 1000,
        maxRetries: 0,
        fetch,
      });
      const { data, rawResponse } = await client
        .embed(
          {
            input: [...texts],
            model: this.model,
            inputType: options.inputType ?? this.#inputType ?? undefined,
            truncation: this.truncates,
            encodingFormat: "base64",
            outputDimension: this.#outputDimension,
            outputDtype: this.#outputDtype === "float" ? undefined : this.#outputDtype,
          },
          { abortSignal: signal, maxRetries: 0, timeoutInSeconds: timeoutMs / 1000 },
        )
        .withRawResponse();
      return { body: data, headers: rawResponse.headers };
    });
  }
}

/**
 * An {@link EmbeddingProvider} for Voyage AI, built on the `voyageai` SDK (a peer dependency,
 * ≥ 0.3.1 < 0.5) with its retries off: `backfill()` owns retries. Vectors come as base64 and are decoded
 * to `Float32Array` (`float`), `Int8Array` (`int8`) or `Uint8Array` (`uint8`; `binary` and `ubinary`,
 * whose packed bits it declares as `vectorType: "bit"`, `binary` with its offset of 128 taken out so
 * both give the same bytes: store them in a `bit(outputDimension)` column).
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
