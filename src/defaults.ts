/**
 * Every default of the engine, in one place. The README's option tables quote these values.
 */
export const BACKFILL_DEFAULTS = {
  /**
   * Requests in flight at most: an upper bound. Below it, the limiter keeps as many as the paced rate
   * needs given the latency it observes, or grows from 4 while throughput grows when no rate is given.
   */
  concurrency: 64,
  /** Which rows are pending. */
  reembed: "stale",
  /** Rows per keyset page read from the store. */
  pageSize: 1000,
  /** Retries per request after the first attempt (429s are bounded by `maxRetryTimeMs` instead). */
  retries: 6,
  /** First retry delay; doubles each retry, with jitter. */
  retryMinDelayMs: 1000,
  /** Longest delay between two attempts, and the longest `Retry-After` honoured. */
  retryMaxDelayMs: 60_000,
  /** Longest time one request may spend retrying. */
  maxRetryTimeMs: 10 * 60_000,
  /** Minimum time between the starts of two requests. */
  minIntervalMs: 0,
  /** Requests per minute at most. */
  requestsPerMinute: Number.POSITIVE_INFINITY,
  /** Tokens per minute at most. */
  tokensPerMinute: Number.POSITIVE_INFINITY,
  /** Vectors kept to serve repeated texts without another request. */
  dedupeCacheSize: 2048,
  /** One transaction for the whole run. */
  atomic: false,
  /** Scan and plan only. */
  dryRun: false,
  /** Send again the rows the store remembers the provider refusing as too long. */
  retryRefused: false,
  /** Realtime requests, or the provider's batch API. */
  mode: "realtime",
  /** Batch mode: wait for the batches to finish and collect them. */
  wait: true,
  /** Batch mode: first wait between two polls of a batch; doubles up to `maxPollIntervalMs`. */
  pollIntervalMs: 10_000,
  /** Batch mode: longest wait between two polls. */
  maxPollIntervalMs: 300_000,
  /** Batch mode: submissions of the same rows in one run (rows of failed lines go again). */
  batchRounds: 3,
} as const;

/** Conservative token estimate: UTF-8 bytes / 3 (real tokenizers give fewer for English). */
export function defaultEstimateTokens(text: string): number {
  return Math.max(1, Math.ceil(Buffer.byteLength(text, "utf8") / 3));
}

/**
 * Every default of the pg-boss functions (`@relay/embeddings/queue/pg-boss`), in one place. The
 * README's tables quote these values.
 */
export const QUEUE_DEFAULTS = {
  /** Rows per range (per job). */
  rangeSize: 10_000,
  /** Retries of a failed range before it goes to the dead-letter queue. */
  retryLimit: 3,
  /** Seconds before the first retry of a failed range (doubled each retry with `retryBackoff`). */
  retryDelay: 30,
  /** Exponential backoff between retries. */
  retryBackoff: true,
  /** pg-boss 12: a worker proves it is alive this often; a range whose worker goes silent is retried. */
  heartbeatSeconds: 30,
  /** Longest time one range may take, with heartbeats (pg-boss 12). */
  expireInSecondsWithHeartbeat: 3600,
  /** Longest time one range may take, and how long a dead worker's range waits, without heartbeats (pg-boss 10). */
  expireInSeconds: 900,
  /** The dead-letter queue's name: the queue's name plus this. */
  deadLetterSuffix: ".dead",
  /** Ranges one worker process embeds at once. */
  rangesAtOnce: 1,
  /** How often an idle worker asks for a range, in seconds. */
  pollingIntervalSeconds: 2,
  /** How often `watchBackfill()` reads the run's status, in ms. */
  watchIntervalMs: 2000,
  /** Job look-ups in flight at once when reading a run's status on pg-boss 10. */
  lookupConcurrency: 8,
} as const;

/** How the engine reads the store (settings, not options). */
export const SCAN = {
  /**
   * Rows of the first page a run reads (then `pageSize`): the first requests go out after a few
   * dozen rows are read, not a thousand (about 0.15 s sooner on a 5,000-row table).
   */
  firstPageSize: 128,
} as const;

/**
 * How the limiter paces and what it learns (see `Pacer` and `RateLimiter`): settings of the
 * algorithm, not options. Durations are in milliseconds; "of the limits" means at the per-minute
 * rates (1,000 ms of an 8M-TPM limit is 133,333 tokens).
 */
export const PACING = {
  /** Burst allowance at the start: one second of the limits, the shortest period providers document. */
  initialBurstMs: 1000,
  /**
   * Requests reach the API unevenly by up to about this much (the client's event loop, the network):
   * ordinary requests keep this far below the allowance (at most a quarter of it); one probe at a
   * time goes to its edge.
   */
  edgeMarginMs: 100,
  /**
   * Until a level beyond this is confirmed, the allowance is tested one request at a time: one
   * probe in flight, one request beyond the level confirmed (a one-second bucket costs one 429). A
   * little over `initialBurstMs`: a level is known within the estimates of the requests in flight,
   * and a probe that succeeded just beyond one second proves little.
   */
  carefulBurstMs: 1020,
  /** Largest allowance: a minute of the limits, the per-minute figure itself. */
  maxBurstMs: 60_000,
  /** Smallest allowance. */
  minBurstMs: 50,
  /** After a 429 near the allowance: the share of the refused level kept. */
  burstShrink: 0.9,
  /**
   * Growth of the allowance after a 429, per second while it holds requests back, starting
   * `burstRegrowthDelayMs` after the last decrease (a burst that fits is seldom worth a 429 soon).
   */
  burstRegrowth: 0.0025,
  burstRegrowthDelayMs: 30_000,
  /**
   * After a 429 far below the allowance, or when `burstDecreasesBeforeRate` decreases happened in
   * the last `rateDecreaseWindowMs` already: the share of the rate kept.
   */
  rateShrink: 0.8,
  burstDecreasesBeforeRate: 1,
  rateDecreaseWindowMs: 10_000,
  /** The least time between two decreases of the rate. */
  rateDecreaseIntervalMs: 1_000,
  /**
   * Growth of a lowered rate back towards the given figure, per second, right after a decrease; it
   * grows one more time as fast every `rateRegrowthDoublingMs` without a 429.
   */
  rateRegrowth: 0.05,
  rateRegrowthDoublingMs: 10_000,
  /** The lowest share of a given figure the rate may fall to. */
  minRateShare: 0.05,
  /**
   * With no figures given, the first 429 sets the rates to this share of what was admitted over the
   * last `learnRateWindowMs`.
   */
  learnedRateShare: 0.9,
  learnRateWindowMs: 5_000,
  /** Requests in flight at the start when no rate is known (then grown while throughput grows). */
  initialConcurrency: 4,
  /**
   * Tokens one request carries, unless the limits ask for more (twice tokens ÷ requests per minute):
   * about the size at which a request's per-token time equals its fixed cost on today's APIs, so
   * requests stay short (a short tail) without their count mattering.
   */
  requestTokens: 8192,
  /** The smallest request the run's tail is split into (below it, a request's time is mostly fixed cost). */
  minRequestTokens: 2048,
  /** A `Retry-After` up to this long is not shared with the other requests (whole seconds say little). */
  coarseRetryAfterMs: 1000,
} as const;

/**
 * Every default and limit of the query side (`search()`, `nearest()`, `findSimilar()`,
 * `findDuplicates()`, `embedRows()`), in one place. The README's "Searching" section quotes these values.
 */
export const SEARCH_DEFAULTS = {
  /** Rows a similarity search returns. */
  limit: 10,
  /**
   * Most rows one similarity search may return: pgvector's HNSW scan finds at most `hnsw.ef_search`
   * candidates (at most 1,000) unless an iterative scan goes on, and a search is not an export.
   */
  maxLimit: 1000,
  /** `findDuplicates()`: a pair's least cosine similarity. */
  duplicateThreshold: 0.95,
  /** `findDuplicates()`: nearest neighbours examined per row (the LATERAL query's LIMIT). */
  neighbors: 10,
  /** `findDuplicates()`: rows whose neighbours one query looks up. */
  duplicatePageSize: 500,
  /** `embedRows()`: most ids in one call (a write-path call, not a backfill). */
  maxIds: 1000,
} as const;
