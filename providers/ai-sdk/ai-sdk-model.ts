/*
 * The parts of the AI SDK's embedding model specification the bridge uses, written out so that the
 * bridge imports nothing from the AI SDK: `EmbeddingModelV2` (`ai` 5), `EmbeddingModelV3` (`ai` 6) and
 * `EmbeddingModelV4` (`ai` 7) all fit.
 */

/** Provider-specific options of one call, keyed by provider: `{ voyage: { inputType: "document" } }`. */
export type AiSdkCallProviderOptions = Record<string, Record<string, any>>;

/** What `doEmbed` returns, in every specification version (the parts the bridge reads). */
export interface AiSdkEmbedResult {
  /** One vector per value, in order. */
  readonly embeddings: ReadonlyArray<ReadonlyArray<number>>;
  /** Tokens billed, when the provider says. */
  readonly usage?: { readonly tokens: number } | undefined;
  /** Response headers, read for `x-ratelimit-*`. */
  readonly response?: { readonly headers?: Record<string, string> | undefined } | undefined;
}

/**
 * An AI SDK embedding model: `openai.embedding("text-embedding-3-small")`,
 * `voyage.textEmbeddingModel("voyage-3.5")`, `cohere.embedding(…)`, `google.textEmbeddingModel(…)`,
 * `mistral.embedding(…)`, `bedrock.embedding(…)`, `azure.embedding(…)`, Ollama's…
 */
export interface AiSdkEmbeddingModel {
  /** `"v2"` (`ai` 5), `"v3"` (`ai` 6) or `"v4"` (`ai` 7). */
  readonly specificationVersion: "v2" | "v3" | "v4";
  /** Provider name, e.g. `"openai.embedding"`. */
  readonly provider: string;
  /** Model id, e.g. `"text-embedding-3-small"`. */
  readonly modelId: string;
  /** Most values per call; `Infinity` or `undefined` when the model has no limit. */
  readonly maxEmbeddingsPerCall: PromiseLike<number | undefined> | number | undefined;
  /** Whether calls may run in parallel (a promise is taken as `true`). */
  readonly supportsParallelCalls: PromiseLike<boolean> | boolean;
  /** Embeds `values`: called once per request, with the request's abort signal. */
  doEmbed(options: {
    values: string[];
    abortSignal?: AbortSignal;
    providerOptions?: AiSdkCallProviderOptions;
    headers?: Record<string, string | undefined>;
  }): PromiseLike<AiSdkEmbedResult>;
}
