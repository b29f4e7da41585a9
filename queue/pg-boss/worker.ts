import { backfill } from "../../src/backfill/backfill.js";
import { type BackfillOptions, resolveOptions } from "../../src/backfill/options.js";
import type { BackfillProgress, BackfillReport } from "../../src/backfill/report.js";
import { sharedPacing } from "../../src/backfill/shared-pacing.js";
import type { EmbeddingProvider } from "../../src/contracts/embedding-provider.js";
import type { EmbeddingStore, KeyRange } from "../../src/contracts/embedding-store.js";
import { QUEUE_DEFAULTS } from "../../src/defaults.js";
import { EmbeddingsError, InvalidOptionError, type SerializedError } from "../../src/errors/index.js";
import { type BossFeatures, ensureQueue, featuresOf, offWork, type PgBossLike } from "./boss.js";
import { jobSettings, type RangeQueueOptions, resolveQueue } from "./queue-options.js";
import {
  addCounters,
  countersOf,
  parseOutput,
  parseRangeJob,
  RangeFailure,
  type RangeJobOutput,
  rangeOf,
  ZERO,
} from "./range-job.js";

/** The backfill options a worker applies to every range (the rest comes from the job). */
export type RangeBackfillOptions<Id = unknown> = Omit<
  BackfillOptions<Id>,
  "provider" | "store" | "signal" | "onProgress" | "atomic" | "dryRun"
>;

/** Which range a worker is on. */
export interface RangeInfo {
  readonly queue: string;
  readonly run: string;
  /** The range's place in the run, from 0. */
  readonly index: number;
  /** Ranges in the run. */
  readonly count: number;
  readonly range: KeyRange;
  /** This attempt, from 1. */
  readonly attempt: number;
  /** The pg-boss job id. */
  readonly jobId: string;
}

/** How one range ended in this worker, for {@link WorkBackfillOptions.onRange}. */
export type RangeOutcome<Id = unknown> = RangeInfo &
  (
    | { readonly status: "done"; readonly report: BackfillReport<Id> }
    | { readonly status: "failed"; readonly error: SerializedError }
  );

/** Options of {@link workBackfill}. */
export interface WorkBackfillOptions<Id = unknown> {
  /** A started `PgBoss` (pg-boss 10.4+ or 12.12+). */
  boss: PgBossLike;
  /** The queue `enqueueBackfill()` fills: its name or settings (created with defaults if missing). */
  queue: string | RangeQueueOptions;
  /** The embedding model. */
  provider: EmbeddingProvider;
  /** The whole store; each job runs on `store.withKeyRange(range)`. */
  store: EmbeddingStore<Id>;
  /**
   * `backfill()` options for every range: `concurrency`, `requestsPerMinute`, `tokensPerMinute`,
   * retries… (not `signal`, `onProgress`, `atomic` or `dryRun`).
   * @default {}
   */
  backfill?: RangeBackfillOptions<Id>;
  /**
   * How many worker processes share the API key's limits. Each takes `requestsPerMinute / workers`
   * and `tokensPerMinute / workers` of `backfill`'s limits, so together they stay within them. Leave
   * it out when workers come and go: each then uses the full limits and learns its share from the
   * API's 429s (its paced rate drops, then creeps back up), which costs some 429s. Either way the
   * ranges a process embeds share one pacing (`sharedPacing()`), so each range starts from what the
   * earlier ones learned instead of bursting anew.
   * @default 1 (this worker alone uses the limits)
   */
  workers?: number;
  /**
   * Ranges this process embeds at once (each with `backfill.concurrency` requests in flight).
   * @default 1
   */
  rangesAtOnce?: number;
  /**
   * How often an idle worker asks pg-boss for a range, in seconds (pg-boss's minimum is 0.5).
   * @default 2
   */
  pollingIntervalSeconds?: number;
  /** Progress of the range in hand, with which range it is. `consoleReporter()` fits. */
  onProgress?: (event: BackfillProgress<Id>, range: RangeInfo) => void;
  /**
   * Called when a range ends here: done (with its report) or failed (with its redacted error). What it
   * throws is ignored: the job's outcome does not depend on it.
   */
  onRange?: (outcome: RangeOutcome<Id>) => void;
}

/** A running worker, as {@link workBackfill} returns it. */
export interface BackfillWorker {
  /** The pg-boss worker ids (one per range embedded at once). */
  readonly ids: readonly string[];
  /** Ranges this worker is embedding now. */
  readonly active: number;
  /**
   * Stops taking ranges and waits for the ranges in hand. With `abort: true` those are stopped
   * instead: what they wrote stays, and pg-boss retries them (an attempt is used up).
   */
  stop(options?: { readonly abort?: boolean }): Promise<void>;
}

/** Share of the expiry kept in reserve: a range stops this long before pg-boss would fail it. */
const EXPIRY_MARGIN = 0.1;
const EXPIRY_MARGIN_MAX_MS = 30_000;

function checkPositiveInteger(value: unknown, option: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new InvalidOptionError(option, "a positive integer");
  }
  return value as number;
}

/**
 * Starts a worker: it takes range jobs of `queue` one after another (`rangesAtOnce` at a time) and runs
 * `backfill()` on `store.withKeyRange(range)` for each, then completes the job with what it did, or
 * fails it with the redacted error. Start it in any number of processes on any machines, also while a
 * run is going on: pg-boss hands each range to one worker, retries a range whose worker died (missed
 * heartbeats on pg-boss 12, expiry on pg-boss 10) or failed, and moves a range that failed
 * `retryLimit + 1` times to the dead-letter queue.
 *
 * @example
 * ```ts
 * const worker = await workBackfill({
 *   boss,
 *   queue: "embed-skills",
 *   provider: voyageProvider({ model: "voyage-3.5" }),
 *   store,
 *   backfill: { tokensPerMinute: 8_000_000 },
 *   workers: 4,
 * });
 * process.on("SIGTERM", () => worker.stop());
 * ```
 */
export async function workBackfill<Id = unknown>(options: WorkBackfillOptions<Id>): Promise<BackfillWorker> {
  if (typeof options !== "object" || options === null) throw new InvalidOptionError("options", "an object");
  const { boss, provider, store } = options;
  const features = featuresOf(boss);
  const queue = resolveQueue(options.queue, features);
  if (typeof store?.withKeyRange !== "function") {
    throw new InvalidOptionError("store", "a store with key ranges (`withKeyRange`)");
  }
  // A store that cannot be split (drizzleStore with `partition`) says so now, not on every job.
  store.withKeyRange({});
  const workers = checkPositiveInteger(options.workers ?? 1, "workers");
  const rangesAtOnce = checkPositiveInteger(
    options.rangesAtOnce ?? QUEUE_DEFAULTS.rangesAtOnce,
    "rangesAtOnce",
  );
  const polling = options.pollingIntervalSeconds ?? QUEUE_DEFAULTS.pollingIntervalSeconds;
  if (typeof polling !== "number" || !(polling >= 0.5)) {
    throw new InvalidOptionError("pollingIntervalSeconds", "a number of at least 0.5");
  }
  const perRange = rangeOptions(options.backfill ?? {}, workers);
  // Checked here, once, rather than failing every job of the run.
  resolveOptions({ ...perRange, provider, store });

  // pg-boss 12 refuses to work a queue that does not exist yet; a worker may start before the split.
  await ensureQueue(boss, queue.deadLetter);
  await ensureQueue(boss, queue.name, jobSettings(queue));

  const inHand = new Map<string, AbortController>();
  const settled = new Set<Promise<unknown>>();
  const handle = async ([job]: any[]): Promise<RangeJobOutput> => {
    const data = parseRangeJob(job?.data);
    if (!data) {
      throw new RangeFailure(
        new InvalidOptionError(
          "job.data",
          "a range job made by enqueueBackfill() ({ run, index, count, after, through })",
        ),
        1,
        ZERO,
      );
    }
    const previous = parseOutput(job.output);
    const earlier = previous ? addCounters(previous.earlier, previous.report) : ZERO;
    const attempt = Number(job.retryCount ?? 0) + 1;
    const info: RangeInfo = {
      queue: queue.name,
      run: data.run,
      index: data.index,
      count: data.count,
      range: rangeOf(data),
      attempt,
      jobId: String(job.id),
    };
    const controller = new AbortController();
    inHand.set(info.jobId, controller);
    const stopAtExpiry = expiryTimer(job, features, controller);
    const work = runRange(info, controller.signal, job.signal);
    settled.add(work);
    try {
      const report = await work;
      notify(options.onRange, { ...info, status: "done", report });
      return { relayRange: 1, attempt, report: countersOf(report), earlier };
    } catch (error) {
      const failure = new RangeFailure(error, attempt, earlier);
      notify(options.onRange, { ...info, status: "failed", error: failure.output.error! });
      throw failure;
    } finally {
      clearTimeout(stopAtExpiry);
      inHand.delete(info.jobId);
      settled.delete(work);
    }
  };

  const runRange = (info: RangeInfo, stop: AbortSignal, lost: AbortSignal | undefined) =>
    backfill<Id>({
      ...perRange,
      provider,
      store: store.withKeyRange!(info.range),
      signal: lost ? AbortSignal.any([stop, lost]) : stop,
      onProgress: options.onProgress && ((event) => options.onProgress!(event, info)),
    });

  const workOptions = { batchSize: 1, includeMetadata: true, pollingIntervalSeconds: polling };
  const ids: string[] = [];
  for (let i = 0; i < rangesAtOnce; i++) ids.push(await boss.work(queue.name, workOptions, handle));

  let stopping: Promise<void> | undefined;
  return {
    ids,
    get active() {
      return inHand.size;
    },
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        for (const id of ids) await offWork(boss, features, queue.name, id);
      })();
      return stopping.then(async () => {
        if (stopOptions.abort) {
          for (const controller of inHand.values()) {
            controller.abort(new EmbeddingsError("The worker was stopped; the range will be retried."));
          }
        }
        while (settled.size > 0) await Promise.allSettled([...settled]);
      });
    },
  };
}

/** Calls `onRange`; what it throws must not turn a finished range into a failed one. */
function notify<Id>(onRange: ((outcome: RangeOutcome<Id>) => void) | undefined, outcome: RangeOutcome<Id>) {
  try {
    onRange?.(outcome);
  } catch {
    // The job's outcome is settled by pg-boss; a failing callback has nowhere better to go.
  }
}

/**
 * The options of every range: this worker's share of the per-minute limits, as one pacing all its
 * ranges share (a range of its own would start with a fresh burst allowance, and consecutive ranges
 * would burst one after another). A `pacing` the caller gave is used as it is.
 */
function rangeOptions<Id>(options: RangeBackfillOptions<Id>, workers: number): RangeBackfillOptions<Id> {
  if (options.pacing !== undefined) return options;
  const { requestsPerMinute, tokensPerMinute, ...rest } = options;
  const share = (limit: number | undefined) => (limit === undefined ? undefined : limit / workers);
  return {
    ...rest,
    pacing: sharedPacing({
      requestsPerMinute: share(requestsPerMinute),
      tokensPerMinute: share(tokensPerMinute),
    }),
  };
}

/**
 * pg-boss 10 fails a job whose handler runs past `expireInSeconds` and lets another worker retry it,
 * but leaves the handler running. Stop the range a little earlier, so two workers never embed it at
 * once. pg-boss 12 aborts `job.signal` itself.
 */
function expiryTimer(job: any, features: BossFeatures, controller: AbortController) {
  const seconds = Number(job.expireInSeconds);
  if (features.modern || !(seconds > 0)) return undefined;
  const margin = Math.min(seconds * 1000 * EXPIRY_MARGIN, EXPIRY_MARGIN_MAX_MS);
  return setTimeout(
    () =>
      controller.abort(
        new EmbeddingsError(
          `The range did not finish within the queue's expireInSeconds (${seconds} s); what it wrote stays, and a retry resumes it. Use a smaller rangeSize or a longer expireInSeconds.`,
        ),
      ),
    seconds * 1000 - margin,
  );
}
