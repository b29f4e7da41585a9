import type { EmbeddingProvider, InputType } from "../contracts/embedding-provider.js";
import type { EmbeddingStore, ReembedMode } from "../contracts/embedding-store.js";
import { BACKFILL_DEFAULTS, defaultEstimateTokens } from "../defaults.js";
import { InvalidOptionError } from "../errors/invalid-option-error.js";
import type { Pacer } from "./pacer.js";
import type { BackfillProgress } from "./report.js";
import { pacerOf, type SharedPacing } from "./shared-pacing.js";

/**
 * Options of {@link backfill}. Only `provider` and `store` are required; give `requestsPerMinute` and
 * `tokensPerMinute` (your plan's limits) and the run paces itself near them.
 *
 * @example
 * ```ts
 * const report = await backfill({
 *   provider: voyageProvider({ model: "voyage-3.5" }),
 *   store: drizzleStore({ db, version: "1", source, target }),
 *   requestsPerMinute: 2_000, // Voyage tier 1
 *   tokensPerMinute: 8_000_000,
 * });
 * ```
 */
export interface BackfillOptions<Id = unknown> {
  /** The embedding model. */
  provider: EmbeddingProvider;
  /** Where texts come from and vectors go. */
  store: EmbeddingStore<Id>;
  /**
   * Which rows to embed: `"missing"` (no embedding), `"stale"` (none, or made from other text, model
   * or version), `"all"`.
   * @default "stale"
   */
  reembed?: ReembedMode;
  /**
   * What the texts are embedded as. When omitted, the provider's own setting applies: for
   * `voyageProvider` its `inputType` option (`"document"` unless set; `null` sends none); OpenAI
   * ignores it.
   * @default the provider's own
   */
  inputType?: InputType;
  /**
   * Requests in flight at most: an upper bound, not a setting to tune. Below it the run keeps as
   * many as it needs: with `requestsPerMinute` / `tokensPerMinute` given, the paced rate times the
   * latency observed so far (Little's law), with room to spare, plus what the burst allowance may let
   * out at once; without them, it starts at 4 and grows while throughput grows and no 429 comes. A
   * 429 never lowers it. Forced to 1 for providers that declare `supportsParallelCalls: false`.
   * @default 64
   */
  concurrency?: number;
  /**
   * Inputs per request at most, an upper bound; cannot exceed the provider's
   * `limits.maxInputsPerRequest`. The run sizes requests by tokens below it (see
   * `maxTokensPerRequest`).
   * @default provider.limits.maxInputsPerRequest
   */
  maxInputsPerRequest?: number;
  /**
   * Estimated tokens per request at most, an upper bound; cannot exceed the provider's
   * `limits.maxTokensPerRequest`. Below it the run plans requests of about 8,192 estimated tokens (or
   * twice `tokensPerMinute` ÷ `requestsPerMinute` when that is more), never more than the learned
   * burst admits at once, and shares the last of the work among the requests in flight.
   * @default provider.limits.maxTokensPerRequest
   */
  maxTokensPerRequest?: number;
  /**
   * Requests per minute at most: your plan's limit (e.g. Voyage tier 1: 2,000). Requests are spread
   * at this rate with a burst allowance the run learns (one second of the limits at first, grown
   * while requests succeed, shrunk after a 429), and never more than this many in any minute (a
   * request counting from its start until a minute after its answer). A 429 that shows the key is
   * shared lowers the rate, which grows back to this figure.
   * @default Infinity (not given: the rate is learned from the first 429)
   */
  requestsPerMinute?: number;
  /**
   * Tokens per minute at most (e.g. Voyage tier 1, voyage-3.5: 8,000,000), paced like
   * `requestsPerMinute`. A request in flight weighs its estimate scaled to what the provider billed so
   * far; once answered, what it was billed (nothing if refused with 429).
   * @default Infinity (not given: the rate is learned from the first 429)
   */
  tokensPerMinute?: number;
  /**
   * Minimum time between the starts of two requests, in ms: a simple way to stay under a low
   * requests-per-minute limit (150 ms allows at most 400 request starts per minute). Rarely useful
   * with `requestsPerMinute` given.
   * @default 0
   */
  minIntervalMs?: number;
  /**
   * Pacing shared with other runs in this process that use the same API key, from `sharedPacing()`:
   * their requests are spread together at its rates, and this run starts from what the earlier ones
   * learned (the burst allowance, a lowered rate). Its figures are the run's: leave
   * `requestsPerMinute` and `tokensPerMinute` out.
   * @default a pacing of this run's own, at `requestsPerMinute` / `tokensPerMinute`
   */
  pacing?: SharedPacing;
  /**
   * Retries per request after the first attempt. 429s do not use it up: they are bounded by
   * `maxRetryTimeMs`.
   * @default 6
   */
  retries?: number;
  /**
   * First retry delay in ms; doubles on each retry, times a random factor in [1, 2). A 429 without
   * `Retry-After` and without a known rate waits this long each time, never more.
   * @default 1000
   */
  retryMinDelayMs?: number;
  /**
   * Longest delay between two attempts, and the longest `Retry-After` honoured, in ms.
   * @default 60000
   */
  retryMaxDelayMs?: number;
  /**
   * Longest time one request may spend retrying, in ms.
   * @default 600000 (10 minutes)
   */
  maxRetryTimeMs?: number;
  /**
   * Estimates a text's tokens for batch planning. Should not underestimate: the default counts UTF-8
   * bytes / 3, above what real tokenizers give for English. A provider's "too many tokens" answer
   * splits the batch anyway.
   * @default (text) => Math.ceil(utf8Bytes(text) / 3)
   */
  estimateTokens?: (text: string) => number;
  /**
   * Rows read per keyset page from the store. Memory holds about one page plus the batches in flight.
   * @default 1000
   */
  pageSize?: number;
  /**
   * Vectors kept in memory to serve texts repeated in the run (identical texts are embedded once).
   * `0` turns the cache off; repeats that are in flight at the same time are still shared.
   * @default 2048
   */
  dedupeCacheSize?: number;
  /**
   * All or nothing: the run happens in one store transaction, rolled back on any failure. By default
   * each batch commits on its own, and a re-run resumes where a failed run stopped.
   * @default false
   */
  atomic?: boolean;
  /**
   * Scan and plan only: report the rows, estimated tokens and requests without calling the provider or
   * writing anything.
   * @default false
   */
  dryRun?: boolean;
  /**
   * Send again the rows the store remembers the provider refusing as too long for the model (skipped
   * as `refused_before` otherwise): after the provider's limits grew, or with truncation now on. A
   * row whose text changed is sent anyway. Stores that remember refusals: `drizzleStore`, the testing
   * kit's `memoryStore`.
   * @default false
   */
  retryRefused?: boolean;
  /**
   * `"realtime"`: embed through the provider's embeddings endpoint, rows written as answers arrive.
   * `"batch"`: embed through the provider's batch API (OpenAI: 50% of the price, answers within 24 h;
   * Voyage: 33% off, within 12 h): request files are uploaded, batches created, polled and collected.
   * The provider must have `batch` and the store `batchJobs` (both shipped ones do).
   * @default "realtime"
   */
  mode?: "realtime" | "batch";
  /**
   * Batch mode: wait for the batches to finish and collect them. `false` collects what finished,
   * submits what is pending and returns at once; a later run collects the rest.
   * @default true
   */
  wait?: boolean;
  /**
   * Batch mode: first wait between two polls of the batches in flight, in ms; doubles after every
   * poll that finds nothing new, up to `maxPollIntervalMs`.
   * @default 10000
   */
  pollIntervalMs?: number;
  /**
   * Batch mode: longest wait between two polls, in ms.
   * @default 300000 (5 minutes)
   */
  maxPollIntervalMs?: number;
  /**
   * Batch mode: inputs per batch at most; cannot exceed the provider's `batch.limits.maxInputsPerBatch`.
   * Smaller batches finish (and are written) sooner.
   * @default provider.batch.limits.maxInputsPerBatch (OpenAI: 50,000; Voyage: 100,000)
   */
  maxInputsPerBatch?: number;
  /**
   * Batch mode with `wait`: how often the same rows may be submitted in one run. Rows of lines that
   * failed (an error answer, an expired or cancelled batch, an invalid line) are submitted again in
   * a new batch, up to this many submissions; after that they stay pending for the next run.
   * @default 3
   */
  batchRounds?: number;
  /**
   * The provider's realtime price in your currency per million tokens. When given, the report (and a
   * dry run) states `cost` at the realtime and at the batch price.
   * @default undefined (no cost)
   */
  pricePerMillionTokens?: number;
  /** Stops the run: in-flight requests are cancelled and no batch is left half-written. */
  signal?: AbortSignal;
  /** Receives progress events. See `consoleReporter()` for a ready-made display. */
  onProgress?: (event: BackfillProgress<Id>) => void;
}

/** Options with defaults applied and checked. */
// `inputType` stays optional: when absent, the provider's own setting applies.
export type ResolvedBackfillOptions<Id> = Required<
  Omit<
    BackfillOptions<Id>,
    "signal" | "onProgress" | "inputType" | "pacing" | "maxInputsPerBatch" | "pricePerMillionTokens"
  >
> &
  Pick<
    BackfillOptions<Id>,
    "signal" | "onProgress" | "inputType" | "maxInputsPerBatch" | "pricePerMillionTokens"
  > & {
    /** The shared pacer, when `pacing` was given. */
    readonly pacer: Pacer | undefined;
  };

const isPositiveInteger = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v > 0;
const isNonNegative = (v: unknown) => typeof v === "number" && !Number.isNaN(v) && v >= 0;

function check(ok: boolean, option: string, expectation: string): void {
  if (!ok) throw new InvalidOptionError(option, expectation);
}

/** Applies the defaults and validates every option, naming the first one that is wrong. */
export function resolveOptions<Id>(options: BackfillOptions<Id>): ResolvedBackfillOptions<Id> {
  check(typeof options === "object" && options !== null, "options", "an object");
  const { provider, store } = options;
  check(
    typeof provider === "object" && provider !== null && typeof provider.embed === "function",
    "provider",
    "an EmbeddingProvider (an object with an `embed` function)",
  );
  check(
    typeof store === "object" &&
      store !== null &&
      typeof store.scan === "function" &&
      typeof store.write === "function",
    "store",
    "an EmbeddingStore (an object with `scan` and `write` functions)",
  );
  check(isPositiveInteger(provider.dimensions), "provider.dimensions", "a positive integer");
  check(
    provider.vectorType === undefined || provider.vectorType === "float" || provider.vectorType === "bit",
    "provider.vectorType",
    '"float", "bit" or undefined',
  );
  const limits = provider.limits;
  check(
    isPositiveInteger(limits?.maxInputsPerRequest),
    "provider.limits.maxInputsPerRequest",
    "a positive integer",
  );
  check(
    isPositiveInteger(limits?.maxTokensPerRequest),
    "provider.limits.maxTokensPerRequest",
    "a positive integer",
  );
  check(
    isPositiveInteger(limits?.maxTokensPerInput),
    "provider.limits.maxTokensPerInput",
    "a positive integer",
  );

  const d = BACKFILL_DEFAULTS;
  const pacer = options.pacing === undefined ? undefined : pacerOf(options.pacing);
  check(options.pacing === undefined || pacer !== undefined, "pacing", "a value made by sharedPacing()");
  for (const figure of ["requestsPerMinute", "tokensPerMinute"] as const) {
    check(
      !pacer || options[figure] === undefined,
      figure,
      "left out when `pacing` is given (the run paces at the pacing's figures)",
    );
  }
  const r = {
    provider,
    store,
    reembed: options.reembed ?? d.reembed,
    inputType: options.inputType,
    concurrency: options.concurrency ?? d.concurrency,
    maxInputsPerRequest: options.maxInputsPerRequest ?? limits.maxInputsPerRequest,
    maxTokensPerRequest: options.maxTokensPerRequest ?? limits.maxTokensPerRequest,
    requestsPerMinute: options.pacing?.requestsPerMinute ?? options.requestsPerMinute ?? d.requestsPerMinute,
    tokensPerMinute: options.pacing?.tokensPerMinute ?? options.tokensPerMinute ?? d.tokensPerMinute,
    pacer,
    minIntervalMs: options.minIntervalMs ?? d.minIntervalMs,
    retries: options.retries ?? d.retries,
    retryMinDelayMs: options.retryMinDelayMs ?? d.retryMinDelayMs,
    retryMaxDelayMs: options.retryMaxDelayMs ?? d.retryMaxDelayMs,
    maxRetryTimeMs: options.maxRetryTimeMs ?? d.maxRetryTimeMs,
    estimateTokens: options.estimateTokens ?? defaultEstimateTokens,
    pageSize: options.pageSize ?? d.pageSize,
    dedupeCacheSize: options.dedupeCacheSize ?? d.dedupeCacheSize,
    atomic: options.atomic ?? d.atomic,
    dryRun: options.dryRun ?? d.dryRun,
    retryRefused: options.retryRefused ?? d.retryRefused,
    mode: options.mode ?? d.mode,
    wait: options.wait ?? d.wait,
    pollIntervalMs: options.pollIntervalMs ?? d.pollIntervalMs,
    maxPollIntervalMs: options.maxPollIntervalMs ?? d.maxPollIntervalMs,
    maxInputsPerBatch: options.maxInputsPerBatch ?? provider.batch?.limits.maxInputsPerBatch,
    batchRounds: options.batchRounds ?? d.batchRounds,
    pricePerMillionTokens: options.pricePerMillionTokens,
    signal: options.signal,
    onProgress: options.onProgress,
  };

  check(["missing", "stale", "all"].includes(r.reembed), "reembed", '"missing", "stale" or "all"');
  check(
    r.inputType === undefined || ["document", "query"].includes(r.inputType),
    "inputType",
    '"document" or "query"',
  );
  check(isPositiveInteger(r.concurrency), "concurrency", "a positive integer");
  check(
    isPositiveInteger(r.maxInputsPerRequest) && r.maxInputsPerRequest <= limits.maxInputsPerRequest,
    "maxInputsPerRequest",
    `a positive integer no larger than the provider's limit of ${limits.maxInputsPerRequest}`,
  );
  check(
    isPositiveInteger(r.maxTokensPerRequest) && r.maxTokensPerRequest <= limits.maxTokensPerRequest,
    "maxTokensPerRequest",
    `a positive integer no larger than the provider's limit of ${limits.maxTokensPerRequest}`,
  );
  check(
    r.requestsPerMinute > 0 && !Number.isNaN(r.requestsPerMinute),
    "requestsPerMinute",
    "a positive number",
  );
  check(r.tokensPerMinute > 0 && !Number.isNaN(r.tokensPerMinute), "tokensPerMinute", "a positive number");
  check(
    isNonNegative(r.minIntervalMs) && Number.isFinite(r.minIntervalMs),
    "minIntervalMs",
    "a finite number ≥ 0",
  );
  check(Number.isInteger(r.retries) && r.retries >= 0, "retries", "an integer ≥ 0");
  check(isNonNegative(r.retryMinDelayMs), "retryMinDelayMs", "a number ≥ 0");
  check(
    isNonNegative(r.retryMaxDelayMs) && r.retryMaxDelayMs >= r.retryMinDelayMs,
    "retryMaxDelayMs",
    "a number ≥ `retryMinDelayMs`",
  );
  check(isNonNegative(r.maxRetryTimeMs), "maxRetryTimeMs", "a number ≥ 0");
  check(typeof r.estimateTokens === "function", "estimateTokens", "a function (text) => number");
  check(isPositiveInteger(r.pageSize), "pageSize", "a positive integer");
  check(Number.isInteger(r.dedupeCacheSize) && r.dedupeCacheSize >= 0, "dedupeCacheSize", "an integer ≥ 0");
  check(typeof r.atomic === "boolean", "atomic", "a boolean");
  check(typeof r.dryRun === "boolean", "dryRun", "a boolean");
  check(typeof r.retryRefused === "boolean", "retryRefused", "a boolean");
  check(r.mode === "realtime" || r.mode === "batch", "mode", '"realtime" or "batch"');
  check(typeof r.wait === "boolean", "wait", "a boolean");
  check(
    isNonNegative(r.pollIntervalMs) && Number.isFinite(r.pollIntervalMs),
    "pollIntervalMs",
    "a finite number ≥ 0",
  );
  check(
    isNonNegative(r.maxPollIntervalMs) && r.maxPollIntervalMs >= r.pollIntervalMs,
    "maxPollIntervalMs",
    "a number ≥ `pollIntervalMs`",
  );
  check(isPositiveInteger(r.batchRounds), "batchRounds", "a positive integer");
  check(
    r.pricePerMillionTokens === undefined ||
      (isNonNegative(r.pricePerMillionTokens) && Number.isFinite(r.pricePerMillionTokens)),
    "pricePerMillionTokens",
    "a finite number ≥ 0",
  );
  if (r.mode === "batch") {
    const batch = provider.batch;
    check(
      typeof batch === "object" && batch !== null && typeof batch.uploadFile === "function",
      "provider.batch",
      `a batch API for mode "batch" (${String(provider.provider)} has none: use mode "realtime")`,
    );
    check(
      typeof store.batchJobs === "object" && store.batchJobs !== null,
      "store.batchJobs",
      'the durable batch state mode "batch" needs (this store keeps none: use mode "realtime")',
    );
    check(!r.atomic, "atomic", 'false in mode "batch" (batches are collected across runs)');
    const most = batch!.limits.maxInputsPerBatch;
    check(
      isPositiveInteger(r.maxInputsPerBatch) && r.maxInputsPerBatch! <= most,
      "maxInputsPerBatch",
      `a positive integer no larger than the provider's batch limit of ${most}`,
    );
  }
  check(r.signal === undefined || r.signal instanceof AbortSignal, "signal", "an AbortSignal");
  check(r.onProgress === undefined || typeof r.onProgress === "function", "onProgress", "a function");
  return r;
}
