/** Why a row was not embedded. */
export type SkipReason =
  /** The row's text is empty or only white space: never sent (providers reject empty input). */
  | "empty_input"
  /** The provider refused the row's text alone as too long (truncation off). */
  | "input_too_long"
  /**
   * An earlier run had the provider refuse this very text as too long for the model, and the store
   * remembers it (`drizzleStore`, the testing kit's `memoryStore`): not sent again. The row stays
   * pending (it has no current vector); it is sent once its text changes, or with `retryRefused: true`.
   */
  | "refused_before"
  /** The row's text changed, or the row was deleted, while its vector was being made. */
  | "changed_during_run"
  /**
   * The store's `text()` gave two different texts for the same, unchanged row (it reads a clock, a
   * random number, or the order of an unordered collection): no vector can ever be current for it.
   * Make `text()` a pure function of the row.
   */
  | "nondeterministic_text";

/** One skipped row. */
export interface SkippedRow<Id = unknown> {
  readonly id: Id;
  readonly reason: SkipReason;
}

/** Counters shared by progress events and the final report. */
export interface BackfillCounters {
  /** Pending rows the store reported at the start (`undefined` when it could not count). */
  readonly pending: number | undefined;
  /**
   * How `pending` was counted: `"exact"`, or `"at-least"`, a lower bound from a store that builds
   * texts outside the database (a JavaScript `text()`): it counts without the texts, and rows whose
   * text changed turn up only as the scan reads them (`pending` then grows with `scanned`).
   * `undefined` when `pending` is.
   */
  readonly pendingCount?: "exact" | "at-least";
  /** Pending rows read from the store so far. */
  readonly scanned: number;
  /** Rows whose vector was written. */
  readonly embedded: number;
  /** Rows served by another row's identical text (no request of their own). Included in `embedded`. */
  readonly deduplicated: number;
  /** Rows skipped, for the reasons in `skippedByReason`. */
  readonly skipped: number;
  /** Rows in batches that failed. */
  readonly failed: number;
  /** Tokens billed (the provider's usage, or the estimate where it reports none). */
  readonly tokens: number;
  /** Requests sent, retries included. */
  readonly requests: number;
  /** Attempts that were retried. */
  readonly retries: number;
  /** Requests answered with 429. */
  readonly rateLimited: number;
  /** Time since the start. */
  readonly elapsedMs: number;
}

/** In batch mode, where one batch stands (progress events `submit`, `poll`, `collect`). */
export interface BatchProgress {
  /** The provider's batch id. */
  readonly id: string;
  /** Its status at the provider (`validating`, `in_progress`, `completed`, `expired`…). */
  readonly status: string;
  /** Request lines in the batch. */
  readonly lines: number;
  /** Lines the provider answered so far. */
  readonly completed: number;
  /** Lines that failed so far. */
  readonly failed: number;
  /** Time this run has waited for batches, in ms. */
  readonly waitingMs: number;
}

/** What a batch-mode run did (`mode: "batch"`), in the report. */
export interface BatchReport {
  /** Batches this run submitted, with their rows and request lines (in a dry run: would submit). */
  readonly submitted: { readonly batches: number; readonly rows: number; readonly lines: number };
  /** Batches this run collected (finished, written, files deleted), with their rows. */
  readonly collected: { readonly batches: number; readonly rows: number };
  /** Batches still at the provider when the run returned (`wait: false`), with their rows. */
  readonly inFlight: { readonly batches: number; readonly rows: number };
  /** Request lines that failed (errors, expiry, cancellation, bad answers): their rows stay pending. */
  readonly failedLines: number;
  /** Batches that ended `expired`, `cancelled` or `failed`. */
  readonly unfinished: number;
  /** Time spent waiting for batches, in ms. */
  readonly waitingMs: number;
}

/** What the tokens cost, when `pricePerMillionTokens` is given. */
export interface BackfillCost {
  /** At the realtime price. */
  readonly realtime: number;
  /** At the batch price (the provider's `batch.priceRatio` of it); `undefined` without a batch API. */
  readonly batch: number | undefined;
}

/** How the ranges of a run split across workers stand (see `watchBackfill` in the pg-boss subpath). */
export interface RangeProgress {
  /** Ranges in the run. */
  readonly total: number;
  /** Ranges embedded. */
  readonly done: number;
  /** Ranges a worker is embedding now. */
  readonly running: number;
  /** Ranges waiting for a worker. */
  readonly queued: number;
  /** Ranges whose last attempt failed, waiting for a retry. */
  readonly failed: number;
  /** Ranges that failed every retry and went to the dead-letter queue. */
  readonly dead: number;
}

/** A progress event, handed to `onProgress` (frozen). */
export interface BackfillProgress<Id = unknown> extends BackfillCounters {
  /**
   * What happened: `start` (pending counted), `batch` (a batch was written), `skip` (rows skipped),
   * `retry` (a request failed and will be retried), `done` (the run settled); in batch mode also
   * `submit` (a batch was created), `poll` (a batch's status was read) and `collect` (a finished
   * batch was collected).
   */
  readonly type: "start" | "batch" | "skip" | "retry" | "done" | "submit" | "poll" | "collect";
  /** Rows written per second since the start. */
  readonly rowsPerSecond: number;
  /** Estimated time left, when `pending` is known and some rows were written. */
  readonly etaMs: number | undefined;
  /**
   * Requests allowed in flight now: what the paced rate needs at the latency observed (within the
   * `concurrency` option), or the adaptive limit when no rate is known. A 429 does not lower it.
   */
  readonly concurrency: number;
  /** The rows of this event (`batch`, `skip`). */
  readonly ids?: readonly Id[];
  /** For `retry`: what failed; for `collect` of a batch that failed as a whole: why. Without secrets. */
  readonly message?: string;
  /** Skipped rows by reason, in the progress of one run. */
  readonly skippedByReason?: Readonly<Record<SkipReason, number>>;
  /** For `submit`, `poll` and `collect`: the batch. */
  readonly batch?: BatchProgress;
  /** Only in the progress of a run split across workers: how its ranges stand. */
  readonly ranges?: RangeProgress;
}

/** What `backfill()` resolves to. */
export interface BackfillReport<Id = unknown> extends BackfillCounters {
  /** Skipped rows by reason. */
  readonly skippedByReason: Readonly<Record<SkipReason, number>>;
  /** The first 1,000 skipped rows, with their reason. */
  readonly skippedRows: readonly SkippedRow<Id>[];
  /** Tokens estimated for what was (or, in a dry run, would be) sent. */
  readonly estimatedTokens: number;
  /** Whether this was a dry run (nothing sent, nothing written). */
  readonly dryRun: boolean;
  /** Wall time. */
  readonly durationMs: number;
  /** In batch mode: what was submitted, collected and is still in flight. */
  readonly batch?: BatchReport;
  /** The cost of `tokens` (of `estimatedTokens` in a dry run), when `pricePerMillionTokens` is given. */
  readonly cost?: BackfillCost;
}
