import type {
  EmbedCallOptions,
  EmbeddingProvider,
  EmbeddingProviderLimits,
  EmbedResult,
} from "../contracts/embedding-provider.js";
import { deterministicEmbedding } from "./deterministic-embedding.js";

/** One scripted answer: an error to throw, or a function that answers the request. */
export type ScriptStep =
  | Error
  | ((texts: readonly string[], options: EmbedCallOptions) => EmbedResult | Promise<EmbedResult>);

/** Options of {@link scriptedProvider}. */
export interface ScriptedProviderOptions {
  /** @default "scripted" */
  provider?: string;
  /** @default "scripted-1" */
  model?: string;
  /** @default 8 */
  dimensions?: number;
  /** @default { maxInputsPerRequest: 100, maxTokensPerRequest: 100_000, maxTokensPerInput: 8_192 } */
  limits?: Partial<EmbeddingProviderLimits>;
  /** @default true */
  truncates?: boolean;
  /** @default true */
  supportsParallelCalls?: boolean;
  /** Time each request takes (honours abort), in ms. @default 0 */
  latencyMs?: number;
}

/** A recorded `embed()` call. */
export interface ScriptedCall {
  readonly texts: readonly string[];
  readonly inputType: EmbedCallOptions["inputType"];
  readonly startedAt: number;
}

/** The scripted provider: an {@link EmbeddingProvider} plus what tests need to drive and inspect it. */
export interface ScriptedProvider extends EmbeddingProvider {
  /** Every call, in order of arrival. */
  readonly calls: ScriptedCall[];
  /** Most calls that were in flight at once. */
  readonly maxInFlight: number;
  /** Calls in flight now. */
  readonly inFlight: number;
  /** Queues answers for the next calls, in order; calls past the script get deterministic vectors. */
  script(...steps: ScriptStep[]): void;
  /** The default answer: deterministic vectors (see `deterministicEmbedding`) and a token count. */
  answer(texts: readonly string[]): EmbedResult;
}

/** Tokens the scripted provider bills for a text: UTF-8 bytes / 4, at least 1. */
export function scriptedTokenCount(text: string): number {
  return Math.max(1, Math.ceil(Buffer.byteLength(text, "utf8") / 4));
}

/**
 * An in-memory provider for unit tests of code that uses `backfill()`: deterministic vectors,
 * recorded calls, scripted failures, optional latency.
 *
 * @example
 * ```ts
 * const provider = scriptedProvider({ dimensions: 4 });
 * provider.script(new APICallError("busy", { provider: "scripted", model: "m", status: 503 }));
 * await backfill({ provider, store });
 * expect(provider.calls).toHaveLength(2); // the 503, then the retry
 * ```
 */
export function scriptedProvider(options: ScriptedProviderOptions = {}): ScriptedProvider {
  const dimensions = options.dimensions ?? 8;
  const steps: ScriptStep[] = [];
  const calls: ScriptedCall[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const answer = (texts: readonly string[]): EmbedResult => ({
    embeddings: texts.map((t) => deterministicEmbedding(t, dimensions)),
    usage: { tokens: texts.reduce((sum, t) => sum + scriptedTokenCount(t), 0) },
  });
  return {
    provider: options.provider ?? "scripted",
    model: options.model ?? "scripted-1",
    dimensions,
    limits: {
      maxInputsPerRequest: 100,
      maxTokensPerRequest: 100_000,
      maxTokensPerInput: 8_192,
      ...options.limits,
    },
    truncates: options.truncates ?? true,
    supportsParallelCalls: options.supportsParallelCalls ?? true,
    calls,
    get maxInFlight() {
      return maxInFlight;
    },
    get inFlight() {
      return inFlight;
    },
    script(...next) {
      steps.push(...next);
    },
    answer,
    async embed(texts, callOptions = {}) {
      calls.push({ texts: [...texts], inputType: callOptions.inputType, startedAt: Date.now() });
      const step = steps.shift();
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const latency = options.latencyMs ?? 0;
        if (latency > 0) {
          await new Promise<void>((resolve, reject) => {
            const signal = callOptions.signal;
            const timer = setTimeout(resolve, latency);
            signal?.addEventListener("abort", () => {
              clearTimeout(timer);
              reject(signal.reason);
            });
          });
        }
        callOptions.signal?.throwIfAborted();
        if (step instanceof Error) throw step;
        return step ? await step(texts, callOptions) : answer(texts);
      } finally {
        inFlight--;
      }
    },
  };
}
