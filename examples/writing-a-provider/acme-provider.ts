// A provider for "Acme", a made-up embeddings API: POST {baseURL}/embeddings with a bearer key,
// OpenAI-shaped answers. Everything but the request itself comes from the provider kit.
import type { EmbeddingProvider, EmbeddingProviderLimits } from "@relay/embeddings";
import { apiConnection, mergeLimits } from "@relay/embeddings/provider-utils";

export interface AcmeProviderOptions {
  /** @default process.env.ACME_API_KEY */
  apiKey?: string;
  /** @default "acme-embed-1" */
  model?: string;
  /** @default process.env.ACME_BASE_URL ?? "https://api.acme.example/v1" */
  baseURL?: string;
  /** @default 30_000 */
  timeoutMs?: number;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** @default 256 inputs, 100,000 tokens per request, 8,192 per input */
  limits?: Partial<EmbeddingProviderLimits>;
}

export function acmeProvider(options: AcmeProviderOptions = {}): EmbeddingProvider {
  const model = options.model ?? "acme-embed-1";
  // Reads and checks the key, base URL and timeout now; maps errors, redacts the key, at every call.
  const api = apiConnection({
    provider: "acme",
    label: "Acme",
    apiKey: options.apiKey,
    apiKeyEnv: "ACME_API_KEY",
    baseURL: options.baseURL,
    baseURLEnv: "ACME_BASE_URL",
    defaultBaseURL: "https://api.acme.example/v1",
    timeoutMs: options.timeoutMs ?? 30_000,
    fetch: options.fetch,
  });
  return {
    provider: "acme",
    model,
    dimensions: 768,
    limits: mergeLimits(
      { maxInputsPerRequest: 256, maxTokensPerRequest: 100_000, maxTokensPerInput: 8192 },
      options.limits,
    ),
    truncates: false,
    embed: (texts, { inputType, signal } = {}) =>
      api.embed({ model, inputCount: texts.length, signal }, (io) =>
        io.postJson("/embeddings", {
          model,
          input: texts,
          input_type: inputType ?? "document",
          encoding_format: "base64",
        }),
      ),
  };
}
