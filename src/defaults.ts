/**
 * Every default of the engine, in one place. The README's option tables quote these values.
 */
export const BACKFILL_DEFAULTS = {
  /** Requests in flight at most (lowered automatically on 429, then raised again). */
  concurrency: 4,
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
