import type { Coverage, EmbeddingStore, PendingCount, ReembedMode } from "../contracts/embedding-store.js";
import { APICallError } from "../errors/api-call-error.js";
import { BackfillError } from "../errors/backfill-error.js";
import { redactSecrets } from "../errors/redact.js";
import { StoreError } from "../errors/store-error.js";
import { formatIds } from "./format-ids.js";
import type { BackfillProgress, BackfillReport, SkippedRow, SkipReason } from "./report.js";

const MAX_SKIPPED_ROWS = 1000;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The counters a run keeps; the report adds the skipped rows and the duration. */
export type RunCounters<Id> = Mutable<
  Omit<BackfillReport<Id>, "skippedRows" | "skippedByReason" | "durationMs" | "batch" | "cost">
>;

/**
 * What a run counts and tells, shared by the realtime and the batch pipelines: the counters, the
 * skipped rows, the frozen report, the progress events and the error a failed run rejects with.
 */
export class RunTally<Id> {
  private readonly started = Date.now();
  readonly counters: RunCounters<Id> = {
    pending: undefined,
    pendingCount: undefined,
    scanned: 0,
    embedded: 0,
    deduplicated: 0,
    skipped: 0,
    failed: 0,
    tokens: 0,
    requests: 0,
    retries: 0,
    rateLimited: 0,
    estimatedTokens: 0,
    elapsedMs: 0,
    dryRun: false,
  };
  private readonly skippedByReason: Record<SkipReason, number> = {
    empty_input: 0,
    input_too_long: 0,
    refused_before: 0,
    changed_during_run: 0,
    nondeterministic_text: 0,
  };
  private readonly skippedRows: SkippedRow<Id>[] = [];

  constructor(private readonly onProgress: ((event: BackfillProgress<Id>) => void) | undefined) {}

  /** Sets `pending` from the store's coverage: the rows `reembed` makes pending. */
  countPending(coverage: Coverage, reembed: ReembedMode): void {
    this.counters.pending =
      reembed === "all"
        ? coverage.total
        : reembed === "stale"
          ? coverage.missing + coverage.stale
          : coverage.missing;
    this.counters.pendingCount = "exact";
  }

  /** Sets `pending` from the count a store made while scanning (`onCount`). */
  countedWhileScanning(count: PendingCount): void {
    this.counters.pending = count.rows;
    this.counters.pendingCount = count.exact ? "exact" : "at-least";
  }

  /** One more pending row read from the store; a lower bound of `pending` grows to cover it. */
  countScanned(): void {
    const counters = this.counters;
    counters.scanned++;
    if (counters.pendingCount === "at-least" && counters.scanned > (counters.pending ?? 0)) {
      counters.pending = counters.scanned;
    }
  }

  /**
   * The retry policy's hooks for a run: 429s and retries counted, each retry announced through
   * `onRetry` with its reason, without secrets.
   */
  retryHooks(onRetry: (message: string) => void): {
    onFailure: (error: unknown) => void;
    onRetry: (event: { error: unknown }) => void;
  } {
    return {
      onFailure: (error) => {
        if (APICallError.isInstance(error) && error.reason === "rate_limit") this.counters.rateLimited++;
      },
      onRetry: ({ error }) => {
        this.counters.retries++;
        onRetry(redactSecrets(error instanceof Error ? error.message : String(error)));
      },
    };
  }

  /** Counts rows as skipped for `reason` (the first 1,000 are kept by id). */
  skip(ids: readonly Id[], reason: SkipReason): void {
    this.counters.skipped += ids.length;
    this.skippedByReason[reason] += ids.length;
    for (const id of ids) {
      if (this.skippedRows.length < MAX_SKIPPED_ROWS) this.skippedRows.push({ id, reason });
    }
  }

  snapshot(): RunCounters<Id> {
    return { ...this.counters, elapsedMs: Date.now() - this.started };
  }

  report(extra?: Pick<BackfillReport<Id>, "batch" | "cost">): BackfillReport<Id> {
    const snapshot = this.snapshot();
    return Object.freeze({
      ...snapshot,
      skippedByReason: Object.freeze({ ...this.skippedByReason }),
      skippedRows: Object.freeze([...this.skippedRows]),
      durationMs: snapshot.elapsedMs,
      ...(extra?.batch ? { batch: Object.freeze(extra.batch) } : {}),
      ...(extra?.cost ? { cost: Object.freeze(extra.cost) } : {}),
    });
  }

  /** Sends a progress event; a throwing listener's error is returned for the run to fail with. */
  emit(
    type: BackfillProgress<Id>["type"],
    concurrency: number,
    extra?: Pick<BackfillProgress<Id>, "ids" | "message" | "batch">,
  ): unknown {
    if (!this.onProgress) return undefined;
    const { estimatedTokens: _e, dryRun: _d, ...counters } = this.snapshot();
    const done = counters.embedded + counters.skipped;
    const rowsPerSecond = counters.elapsedMs > 0 ? (counters.embedded * 1000) / counters.elapsedMs : 0;
    const left = counters.pending === undefined ? undefined : Math.max(0, counters.pending - done);
    const etaMs = left !== undefined && done > 0 ? (left * counters.elapsedMs) / done : undefined;
    try {
      const skippedByReason = Object.freeze({ ...this.skippedByReason });
      this.onProgress(
        Object.freeze({ type, ...counters, skippedByReason, rowsPerSecond, etaMs, concurrency, ...extra }),
      );
      return undefined;
    } catch (error) {
      return error ?? new Error("onProgress threw");
    }
  }

  /**
   * The error a run that stopped at `error` rejects with. `rolledBack`: the run was one transaction
   * that did not commit (its report counts nothing written). `after`: what failed once the run
   * itself had completed.
   */
  error(
    failure: { error: unknown; rowIds: readonly Id[] },
    extra?: Pick<BackfillReport<Id>, "batch" | "cost">,
    how: StopHow = {},
  ): BackfillError<Id> {
    const { error, rowIds } = failure;
    const cause = sentence(error instanceof Error ? error.message : String(error));
    const rows = rowIds.length > 0 ? ` Failed rows: ${formatIds(rowIds)}.` : "";
    const written = this.counters.embedded;
    const rolledBack = how.rolledBack === true;
    const message = how.after
      ? `Backfill completed (${written} rows written), then ${how.after}: ${cause}`
      : rolledBack
        ? `Backfill stopped: ${cause}${rows} Atomic mode: the transaction did not commit, so every write of this run was rolled back.`
        : `Backfill stopped: ${cause}${rows} ${written} rows were written before it stopped; run it again to resume.`;
    const report = this.report(extra);
    return new BackfillError<Id>(message, {
      rowIds: [...rowIds],
      report: rolledBack ? { ...report, embedded: 0, deduplicated: 0 } : report,
      rolledBack,
      cause: error,
    });
  }
}

/** A run of one mode, realtime or batch: what `backfill()` drives. */
export interface Run<Id> {
  /** Work of the run's own before it starts, after the store's `prepare()`: typed refusals pass. */
  prepare?(): Promise<void>;
  /** The run, on `store` (a transaction's in atomic mode). */
  run(store?: EmbeddingStore<Id>): Promise<BackfillReport<Id>>;
  /**
   * The error a run stopped by `error` rejects with: caused by the run's first failure when it had
   * one, else by `error`.
   */
  stop(error: unknown, how?: StopHow): BackfillError<Id>;
}

/** How a run stopped, for {@link RunTally.error}. */
export interface StopHow {
  /** The run was one transaction that did not commit. */
  readonly rolledBack?: boolean;
  /** What failed once the run itself had completed (e.g. "releasing the store failed"). */
  readonly after?: string;
}

/** A message as a sentence: ends with a full stop, so the next sentence does not run on from it. */
function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/** The row an error is about: a row whose text could not be built is named like a failed batch's. */
export function rowsOf<Id>(error: unknown): Id[] {
  return StoreError.isInstance(error) && error.rowId !== undefined ? [error.rowId as Id] : [];
}
