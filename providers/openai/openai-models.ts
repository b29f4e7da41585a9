import type { EmbeddingProviderLimits } from "../../src/index.js";

/** What the library knows about one OpenAI embedding model. */
export interface OpenAIModelFacts {
  /** Vector length by default, and the most `dimensions` may ask for. */
  readonly dimensions: number;
  /** Whether the `dimensions` request field is accepted (text-embedding-3-* only). */
  readonly flexibleDimensions: boolean;
}

export const OPENAI_MODELS: Readonly<Record<string, OpenAIModelFacts>> = {
  "text-embedding-3-small": { dimensions: 1536, flexibleDimensions: true },
  "text-embedding-3-large": { dimensions: 3072, flexibleDimensions: true },
  "text-embedding-ada-002": { dimensions: 1536, flexibleDimensions: false },
};

/** OpenAI's per-request limits, the same for every embedding model. */
export const OPENAI_LIMITS: EmbeddingProviderLimits = {
  maxInputsPerRequest: 2048,
  maxTokensPerRequest: 300_000,
  maxTokensPerInput: 8192,
};

/**
 * Limits for a model not in the table (an Azure deployment name, a model on Ollama, vLLM or LM
 * Studio): conservative; override them with `limits` (local models often have a 512 or 2,048 token
 * context).
 */
export const UNKNOWN_OPENAI_MODEL_LIMITS: EmbeddingProviderLimits = {
  maxInputsPerRequest: 128,
  maxTokensPerRequest: 120_000,
  maxTokensPerInput: 8192,
};
