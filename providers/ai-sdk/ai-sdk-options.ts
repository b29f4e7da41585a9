import type { EmbeddingProviderLimits, InputType } from "../../src/index.js";
import type { AiSdkCallProviderOptions } from "./ai-sdk-model.js";

/** Options of {@link aiSdkProvider}. */
export interface AiSdkProviderOptions {
  /**
   * Length of the vectors the model returns with these options (the AI SDK does not say). Every
   * answer is checked against it before anything is written.
   * @example 1536
   */
  dimensions: number;
  /**
   * Short id of the service in errors and reports.
   * @default the model's `provider`, e.g. `"openai.embedding"`
   */
  provider?: string;
  /**
   * Overrides of the declared request limits.
   * @default `maxInputsPerRequest` from the model's `maxEmbeddingsPerCall` (128 when it declares none
   * or only asynchronously), 120,000 tokens per request, 8,192 tokens per input
   */
  limits?: Partial<EmbeddingProviderLimits>;
  /**
   * Whether the API truncates inputs longer than `limits.maxTokensPerInput` rather than refusing
   * them (Voyage, Cohere and Google do by default; OpenAI refuses). Becomes the provider's `truncates`.
   * @default false
   */
  truncates?: boolean;
  /**
   * The AI SDK `providerOptions` of every call, or a function of the call's `inputType` that returns
   * them: that is how `backfill({ inputType })` reaches a provider that distinguishes documents from
   * queries.
   * @default none
   * @example ({ inputType }) => ({ voyage: { inputType: inputType ?? "document" } })
   */
  providerOptions?:
    | AiSdkCallProviderOptions
    | ((call: { inputType: InputType | undefined }) => AiSdkCallProviderOptions);
  /**
   * Extra HTTP headers of every call.
   * @default none
   */
  headers?: Record<string, string>;
  /**
   * Time for one call, in milliseconds. A timeout is reported as a retryable `APICallError` with
   * reason `"timeout"`, and the call's request is aborted.
   * @default 60_000
   */
  timeoutMs?: number;
  /**
   * Values never to show in an error: the API key the model was created with (the model does not
   * expose it). Each is redacted in every form a server can echo it (raw, JSON-escaped, URL-encoded,
   * base64), as the built-in providers redact theirs. Bearer tokens and key-shaped strings are
   * redacted in any case.
   * @default []
   * @example [process.env.OPENAI_API_KEY]
   */
  secrets?: ReadonlyArray<string | undefined>;
}
