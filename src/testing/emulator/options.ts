import { InvalidOptionError } from "../../errors/invalid-option-error.js";
import type { EmulatorBatchOptions } from "./batches.js";

/** The modelled cost of a request. Real timers run, so keep it small in unit tests. */
export interface EmulatorLatency {
  /**
   * Milliseconds every answer (success or error) takes.
   * @default 0
   */
  readonly baseMs?: number;
  /**
   * Milliseconds added per billed token of a successful request.
   * @default 0
   */
  readonly perTokenMs?: number;
}

/**
 * How per-minute limits are enforced (see {@link EmulatorRateLimits.enforcement}).
 */
export type EmulatorEnforcement = "sliding-window" | "token-bucket";

/**
 * Rate limits, per API and per model. A request is admitted when its API and model still have room
 * for it (one request, its billed tokens), counted when it arrives; otherwise it gets 429. Refused
 * requests do not count. How the room is measured is `enforcement`.
 */
export interface EmulatorRateLimits {
  /**
   * Requests per minute per model. Unlimited when omitted.
   * @default undefined
   */
  readonly requestsPerMinute?: number;
  /**
   * Billed tokens per minute per model. Unlimited when omitted. A single request with more tokens
   * than this can never pass: it gets 429 without Retry-After (OpenAI's "Request too large").
   * @default undefined
   */
  readonly tokensPerMinute?: number;
  /**
   * Whether a 429 carries `Retry-After` (whole seconds, rounded up: the honest time until the window
   * admits the request) and, on OpenAI, `retry-after-ms`. Voyage does not document the header:
   * set `false` to check that a client backs off on its own.
   * @default true
   */
  readonly retryAfter?: boolean;
  /**
   * How the per-minute figures are enforced:
   * - `"sliding-window"`: at most the limits over any 60 s (what Voyage documents: a request is
   *   refused when the requests or tokens of the most recent minute would exceed them). A client may
   *   send a minute's budget at once.
   * - `"token-bucket"`: one bucket per limit holding `burstSeconds` of it, refilled continuously at
   *   the per-minute rate and full at the start (OpenAI documents that a per-minute limit may be
   *   enforced over shorter periods, e.g. 60,000 requests/minute as 1,000 requests/second; Anthropic
   *   documents a token bucket). A burst beyond the bucket meets 429s while the minute's total is
   *   still under the limit; a request with more tokens than the bucket holds can never pass.
   * @default "sliding-window"
   */
  readonly enforcement?: EmulatorEnforcement;
  /**
   * With `enforcement: "token-bucket"`: how much each bucket holds, in seconds of its limit (`1`: a
   * 2,000-RPM, 8M-TPM limit admits bursts of 33 requests and 133,333 tokens). At most 60.
   * @default 1
   */
  readonly burstSeconds?: number;
}

/** Options of {@link createEmbeddingsEmulator}. Every field is optional. */
export interface EmbeddingsEmulatorOptions {
  /**
   * Output dimension when a request names none: one number for every model, or a map by model name
   * (other models keep theirs). Requests that set `output_dimension` (Voyage) or `dimensions`
   * (OpenAI) get what they ask for, within what the model allows.
   * @default per model: 1024 for the voyage-3.5 / voyage-4 / voyage-3-large / code-3 families,
   * 1536 voyage-code-2, 512 voyage-3-lite, 1536 text-embedding-3-small and ada-002,
   * 3072 text-embedding-3-large
   */
  readonly dimensions?: number | Readonly<Record<string, number>>;
  /**
   * API keys accepted as `Authorization: Bearer <key>`. Others get 401 with the API's body.
   * @default any non-empty bearer key
   */
  readonly apiKeys?: readonly string[];
  /**
   * Modelled latency of each answer.
   * @default { baseMs: 0, perTokenMs: 0 }
   */
  readonly latency?: EmulatorLatency;
  /**
   * Rate limits per model (a sliding 60 s window unless `enforcement` says otherwise). No limits
   * when omitted.
   * @default undefined
   */
  readonly rateLimits?: EmulatorRateLimits;
  /**
   * Most requests processed at once (over both APIs); more wait in arrival order. Only matters with
   * latency or stalls. Unlimited when omitted.
   * @default undefined
   */
  readonly maxConcurrency?: number;
  /**
   * Emulate OpenAI-compatible servers (Ollama, LM Studio, some vLLM builds) that ignore
   * `encoding_format` and always send float arrays, even when the client asked for base64.
   * @default false
   */
  readonly openaiIgnoresEncodingFormat?: boolean;
  /**
   * Most calls kept in `emulator.calls` (the oldest are dropped first; `stats` count them all). Set a
   * small number for long benchmarks.
   * @default 10_000
   */
  readonly maxRecordedCalls?: number;
  /**
   * The Files and Batches endpoints: how long a batch takes.
   * @default { turnaroundMs: 0 }
   */
  readonly batches?: EmulatorBatchOptions;
  /**
   * The clock of the rate-limit windows and call timestamps, in milliseconds. Inject one to test
   * rate limits without waiting; latency and stalls always use real timers.
   * @default Date.now
   */
  readonly clock?: () => number;
}

/** Options with defaults applied (the one place defaults live). */
export interface ResolvedEmulatorOptions {
  readonly dimensions: (model: string, fallback: number) => number;
  readonly apiKeys: ReadonlySet<string> | undefined;
  readonly latency: { readonly baseMs: number; readonly perTokenMs: number };
  readonly rateLimits:
    | {
        readonly requestsPerMinute?: number;
        readonly tokensPerMinute?: number;
        readonly retryAfter: boolean;
        readonly enforcement: EmulatorEnforcement;
        readonly burstSeconds: number;
      }
    | undefined;
  readonly maxConcurrency: number;
  readonly openaiIgnoresEncodingFormat: boolean;
  readonly maxRecordedCalls: number;
  readonly batches: { readonly turnaroundMs: number };
  readonly clock: () => number;
}

export function resolveOptions(options: EmbeddingsEmulatorOptions = {}): ResolvedEmulatorOptions {
  const { dimensions, apiKeys, latency = {}, rateLimits, maxConcurrency, clock = Date.now } = options;
  const { openaiIgnoresEncodingFormat = false, maxRecordedCalls = 10_000 } = options;

  if (typeof dimensions === "number") positiveInteger("dimensions", dimensions);
  else if (dimensions !== undefined) {
    for (const [model, value] of Object.entries(dimensions)) positiveInteger(`dimensions.${model}`, value);
  }
  if (
    apiKeys !== undefined &&
    (!Array.isArray(apiKeys) || apiKeys.some((k) => typeof k !== "string" || !k))
  ) {
    throw new InvalidOptionError("apiKeys", "an array of non-empty strings");
  }
  nonNegative("latency.baseMs", latency.baseMs ?? 0);
  nonNegative("latency.perTokenMs", latency.perTokenMs ?? 0);
  if (rateLimits?.requestsPerMinute !== undefined) {
    positiveInteger("rateLimits.requestsPerMinute", rateLimits.requestsPerMinute);
  }
  if (rateLimits?.tokensPerMinute !== undefined) {
    positiveInteger("rateLimits.tokensPerMinute", rateLimits.tokensPerMinute);
  }
  const enforcement = rateLimits?.enforcement ?? "sliding-window";
  if (enforcement !== "sliding-window" && enforcement !== "token-bucket") {
    throw new InvalidOptionError("rateLimits.enforcement", '"sliding-window" or "token-bucket"');
  }
  const burstSeconds = rateLimits?.burstSeconds ?? 1;
  if (typeof burstSeconds !== "number" || !(burstSeconds > 0 && burstSeconds <= 60)) {
    throw new InvalidOptionError("rateLimits.burstSeconds", "a number of seconds greater than 0, at most 60");
  }
  if (maxConcurrency !== undefined) positiveInteger("maxConcurrency", maxConcurrency);
  if (maxRecordedCalls !== Number.POSITIVE_INFINITY) nonNegativeInteger("maxRecordedCalls", maxRecordedCalls);
  if (typeof clock !== "function") throw new InvalidOptionError("clock", "a function returning milliseconds");
  const turnaroundMs = options.batches?.turnaroundMs ?? 0;
  nonNegative("batches.turnaroundMs", turnaroundMs);

  return {
    dimensions: (model, fallback) =>
      typeof dimensions === "number" ? dimensions : (dimensions?.[model] ?? fallback),
    apiKeys: apiKeys ? new Set(apiKeys) : undefined,
    latency: { baseMs: latency.baseMs ?? 0, perTokenMs: latency.perTokenMs ?? 0 },
    rateLimits: rateLimits && {
      requestsPerMinute: rateLimits.requestsPerMinute,
      tokensPerMinute: rateLimits.tokensPerMinute,
      retryAfter: rateLimits.retryAfter ?? true,
      enforcement,
      burstSeconds,
    },
    maxConcurrency: maxConcurrency ?? Number.POSITIVE_INFINITY,
    openaiIgnoresEncodingFormat,
    maxRecordedCalls,
    batches: { turnaroundMs },
    clock,
  };
}

function positiveInteger(option: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new InvalidOptionError(option, "a positive integer");
  }
}

function nonNegativeInteger(option: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new InvalidOptionError(option, "a non-negative integer");
  }
}

function nonNegative(option: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(option, "a non-negative number");
  }
}
