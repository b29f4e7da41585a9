/*
 * The models the emulator knows, with the limits FACTS.md gives. An unknown model is refused as the
 * real API refuses it, so a typo in a model name fails in tests rather than in production.
 */

/** What the emulator knows of one Voyage model. */
export interface VoyageModel {
  /** Output dimension when the request names none. */
  readonly dimensions: number;
  /** `output_dimension` values allowed; quantised `output_dtype`s are allowed on these models too. */
  readonly flexible: boolean;
  /** Tokens allowed in one request, all inputs together. */
  readonly maxTokensPerRequest: number;
  /** Tokens of one input the model reads (longer inputs are truncated or refused). */
  readonly contextTokens: number;
}

/** `output_dimension` values of the flexible Voyage models. */
export const VOYAGE_OUTPUT_DIMENSIONS: readonly number[] = [256, 512, 1024, 2048];

/** Voyage's limit on inputs per request. */
export const VOYAGE_MAX_INPUTS = 1000;

const flexible = (maxTokensPerRequest: number): VoyageModel => ({
  dimensions: 1024,
  flexible: true,
  maxTokensPerRequest,
  contextTokens: 32_000,
});
const fixed = (dimensions: number, maxTokensPerRequest: number, contextTokens = 32_000): VoyageModel => ({
  dimensions,
  flexible: false,
  maxTokensPerRequest,
  contextTokens,
});

export const VOYAGE_MODELS: Readonly<Record<string, VoyageModel>> = {
  "voyage-4-large": flexible(120_000),
  "voyage-4": flexible(320_000),
  "voyage-4-lite": flexible(1_000_000),
  "voyage-3.5": flexible(320_000),
  "voyage-3.5-lite": flexible(1_000_000),
  "voyage-3-large": flexible(120_000),
  "voyage-code-3": flexible(120_000),
  "voyage-3": fixed(1024, 320_000),
  "voyage-3-lite": fixed(512, 1_000_000),
  "voyage-finance-2": fixed(1024, 120_000),
  "voyage-multilingual-2": fixed(1024, 120_000),
  "voyage-law-2": fixed(1024, 120_000, 16_000),
  "voyage-code-2": fixed(1536, 120_000, 16_000),
  "voyage-2": fixed(1024, 320_000),
};

/** What the emulator knows of one OpenAI model. */
export interface OpenAIModel {
  /** Output dimension when the request names none, and the most `dimensions` may ask for. */
  readonly dimensions: number;
  /** Whether the request may set `dimensions` (text-embedding-3-* only). */
  readonly flexible: boolean;
}

/** OpenAI's limits per request, the same for every embedding model. */
export const OPENAI_LIMITS = { maxInputs: 2048, maxTokensPerRequest: 300_000, contextTokens: 8192 } as const;

export const OPENAI_MODELS: Readonly<Record<string, OpenAIModel>> = {
  "text-embedding-3-small": { dimensions: 1536, flexible: true },
  "text-embedding-3-large": { dimensions: 3072, flexible: true },
  "text-embedding-ada-002": { dimensions: 1536, flexible: false },
};
