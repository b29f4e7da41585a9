import type { EmbeddingProviderLimits } from "../../src/index.js";

/**
 * What the library knows about one Voyage model. One table drives the provider's limits, dimensions
 * and option checks, and what the testing kit's emulator accepts.
 */
export interface VoyageModelFacts {
  /** Most tokens in one request, all inputs together. */
  readonly maxTokensPerRequest: number;
  /** The model's context, per input. */
  readonly maxTokensPerInput: number;
  /** Output dimension when `outputDimension` is not set. */
  readonly dimensions: number;
  /** Values `output_dimension` accepts. */
  readonly outputDimensions: readonly number[];
  /** Whether `output_dtype` may be other than `float` (int8, uint8, binary, ubinary). */
  readonly quantization: boolean;
}

/** Voyage accepts at most 1,000 inputs per request (the SDK's doc comments still say 128). */
export const VOYAGE_MAX_INPUTS = 1000;

const FLEXIBLE = [256, 512, 1024, 2048] as const;

const flexible = (maxTokensPerRequest: number): VoyageModelFacts => ({
  maxTokensPerRequest,
  maxTokensPerInput: 32_000,
  dimensions: 1024,
  outputDimensions: FLEXIBLE,
  quantization: true,
});

const fixed = (
  maxTokensPerRequest: number,
  maxTokensPerInput: number,
  dimensions: number,
): VoyageModelFacts => ({
  maxTokensPerRequest,
  maxTokensPerInput,
  dimensions,
  outputDimensions: [dimensions],
  quantization: false,
});

/**
 * Models by id, from Voyage's documentation. Tokens per request: 1M (the lite models), 320K
 * (voyage-4, voyage-3.5, voyage-3, voyage-2), 120K (the large and domain models). Context per input:
 * 32K, except voyage-law-2 and voyage-code-2 (16K) and voyage-2 (4K).
 */
export const VOYAGE_MODELS: Readonly<Record<string, VoyageModelFacts>> = {
  "voyage-4-large": flexible(120_000),
  "voyage-4": flexible(320_000),
  "voyage-4-lite": flexible(1_000_000),
  "voyage-3.5": flexible(320_000),
  "voyage-3.5-lite": flexible(1_000_000),
  "voyage-3-large": flexible(120_000),
  "voyage-code-3": flexible(120_000),
  "voyage-3": fixed(320_000, 32_000, 1024),
  "voyage-3-lite": fixed(1_000_000, 32_000, 512),
  "voyage-finance-2": fixed(120_000, 32_000, 1024),
  "voyage-multilingual-2": fixed(120_000, 32_000, 1024),
  "voyage-law-2": fixed(120_000, 16_000, 1024),
  "voyage-code-2": fixed(120_000, 16_000, 1536),
  // voyage-2's context is 4,000 tokens (its model card), not the 32K of later models.
  "voyage-2": fixed(320_000, 4_000, 1024),
};

/** Limits for a model not in the table: conservative; override them with `limits`. */
export const UNKNOWN_VOYAGE_MODEL_LIMITS: EmbeddingProviderLimits = {
  maxInputsPerRequest: 128,
  maxTokensPerRequest: 120_000,
  maxTokensPerInput: 16_000,
};
