import { sleep } from "../../src/backfill/abortable.js";
import type { BackfillProgress, RangeProgress } from "../../src/backfill/report.js";
import type {
  Coverage,
  EmbeddingStore,
  EmbeddingTarget,
  KeyRange,
} from "../../src/contracts/embedding-store.js";
import { QUEUE_DEFAULTS } from "../../src/defaults.js";
import { InvalidOptionError, type SerializedError } from "../../src/errors/index.js";
import { type BossFeatures, type BossJob, featuresOf, jobById, jobsByData, type PgBossLike } from "./boss.js";
import { type RangeQueueOptions, resolveQueue } from "./queue-options.js";
import {
  addCounters,
  parseOutput,
  parseRangeJob,
  type RangeCounters,
  type RangeJobData,
  rangeJobId,
  rangeOf,
  ZERO,
} from "./range-job.js";

/** Options of {@link backfillStatus}. */
export interface BackfillStatusOptions {
  /** A started `PgBoss` on the run's database (any process may ask). */
  boss: PgBossLike;
  /** The run's queue: its name or settings. */
  queue: string | RangeQueueOptions;
  /** The run's name, as given to `enqueueBackfill()`. */
  run: string;
  /**
   * With `target`: also report the store's `coverage()` (rows embedded, stale and missing now,
   * including the writes of ranges still running). On drizzleStore this reads every source row.
   */
  store?: EmbeddingStore<any>;
  /** The model whose coverage to count: the provider itself works. */
  target?: EmbeddingTarget;
  /**
   * Stops the status read: the store's coverage count is abandoned (cancelled on the server where
   * the store can) and the promise rejects with `signal.reason`.
   * @default undefined
   */
  signal?: AbortSignal;
}

/** A range that failed every retry. Its job was copied to the dead-letter queue. */
export interface DeadRange {
  readonly index: number;
  readonly range: KeyRange;
  /** Attempts made. */
  readonly attempts: number;
  /** The last attempt's error, redacted (`undefined` when pg-boss failed it, e.g. on expiry). */
  readonly error: SerializedError | undefined;
  /** The job's id in the run's queue. */
  readonly jobId: string;
}

/** The ranges of a run by state. */
export interface RangeCounts extends RangeProgress {
  /** Ranges cancelled in pg-boss. */
  readonly cancelled: number;
  /** Ranges whose job pg-boss no longer keeps (deleted after its retention). */
  readonly unknown: number;
}

/**
 * A run across all its workers, as {@link backfillStatus} reads it from pg-boss. The counters add up
 * what every attempt that ended reported (done or failed); a range in progress counts once it ends, and
 * a worker killed mid-range reports nothing (`coverage` still shows the rows it wrote).
 */
export interface BackfillRunStatus extends RangeCounters {
  readonly queue: string;
  readonly run: string;
  readonly ranges: RangeCounts;
  /** The store's coverage now, when `store` and `target` were given. */
  readonly coverage: Coverage | undefined;
  /** The ranges in the dead-letter queue, with their errors. */
  readonly dead: readonly DeadRange[];
  /** No range is queued, running or waiting for a retry (every range is done, dead or cancelled). */
  readonly finished: boolean;
}

interface RangeJob {
  readonly job: BossJob;
  readonly data: RangeJobData;
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  });
  await Promise.all(lanes);
  return out;
}

/** The run's range jobs: one query on pg-boss 12; on 10, range 0 (which tells the count), then each. */
async function runJobs(
  boss: PgBossLike,
  features: BossFeatures,
  queue: string,
  run: string,
): Promise<{ count: number; jobs: RangeJob[] }> {
  const withData = (job: BossJob | undefined): RangeJob[] => {
    const data = job && parseRangeJob(job.data);
    return data && data.run === run ? [{ job: job!, data }] : [];
  };
  if (features.modern) {
    const jobs = (await jobsByData(boss, queue, { run })).flatMap(withData);
    return { count: Math.max(0, ...jobs.map((j) => j.data.count)), jobs };
  }
  const [first] = withData(await jobById(boss, features, queue, rangeJobId(queue, run, 0)));
  if (!first) return { count: 0, jobs: [] };
  const indexes = Array.from({ length: first.data.count - 1 }, (_, i) => i + 1);
  const rest = await mapLimit(indexes, QUEUE_DEFAULTS.lookupConcurrency, (index) =>
    jobById(boss, features, queue, rangeJobId(queue, run, index)),
  );
  return { count: first.data.count, jobs: [first, ...rest.flatMap(withData)] };
}

/**
 * Reads how a run stands across every worker, from any process: ranges done, running, queued, failed
 * (waiting for a retry) and dead, the rows, tokens and requests the workers reported, the dead ranges
 * with their errors, and (with `store` and `target`) the store's coverage now.
 *
 * @example
 * ```ts
 * const status = await backfillStatus({ boss, queue: "embed-skills", run: "2026-05-01", store, target: provider });
 * console.log(`${status.ranges.done}/${status.ranges.total} ranges, ${status.tokens} tokens`);
 * ```
 */
export async function backfillStatus(options: BackfillStatusOptions): Promise<BackfillRunStatus> {
  if (typeof options !== "object" || options === null) throw new InvalidOptionError("options", "an object");
  const { boss, run, store, target } = options;
  const features = featuresOf(boss);
  const queue = resolveQueue(options.queue, features).name;
  if (typeof run !== "string" || run === "") throw new InvalidOptionError("run", "a non-empty string");
  if ((store === undefined) !== (target === undefined)) {
    throw new InvalidOptionError(store ? "target" : "store", "given together with `store` and `target`");
  }

  // The jobs first, then the coverage, never both at once: a range seen done has written its rows
  // before the coverage is read, so a row is never counted both as embedded and as left.
  const { count, jobs } = await runJobs(boss, features, queue, run);
  const coverage =
    store && target ? await store.coverage({ model: target.model, signal: options.signal }) : undefined;
  const ranges = {
    total: count,
    queued: 0,
    running: 0,
    failed: 0,
    dead: 0,
    done: 0,
    cancelled: 0,
    unknown: 0,
  };
  let counters: RangeCounters = ZERO;
  const dead: DeadRange[] = [];
  for (const { job, data } of jobs) {
    const output = parseOutput(job.output);
    if (output) counters = addCounters(counters, addCounters(output.report, output.earlier));
    switch (job.state) {
      case "created":
        ranges.queued++;
        break;
      case "retry":
        ranges.failed++;
        break;
      case "active":
        ranges.running++;
        break;
      case "completed":
        ranges.done++;
        break;
      case "cancelled":
        ranges.cancelled++;
        break;
      case "failed":
        ranges.dead++;
        dead.push({
          index: data.index,
          range: rangeOf(data),
          attempts: job.retryCount + 1,
          error: output?.error,
          jobId: job.id,
        });
        break;
    }
  }
  ranges.unknown = Math.max(0, count - jobs.length);
  dead.sort((a, b) => a.index - b.index);
  return {
    queue,
    run,
    ranges,
    ...counters,
    coverage,
    dead,
    finished: count > 0 && ranges.queued + ranges.running + ranges.failed === 0,
  };
}

/** Options of {@link watchBackfill}. */
export interface WatchBackfillOptions extends BackfillStatusOptions {
  /**
   * Progress of the whole run, as `backfill()` reports its own: `consoleReporter()` renders it, with
   * the ranges. `pending` is the rows the run had left when watching began plus those it had embedded;
   * with `store` and `target`, `embedded` follows the coverage (also writes of ranges still running).
   */
  onProgress?: (event: BackfillProgress) => void;
  /**
   * Time between two status reads, in ms.
   * @default 2000
   */
  intervalMs?: number;
  /** Stops watching (rejects with `signal.reason`); the run itself goes on. */
  signal?: AbortSignal;
}

/**
 * Follows a run until it is finished (every range done, dead or cancelled), reporting its progress,
 * and resolves to its final status. Any process can watch; the workers are not affected.
 *
 * @example
 * ```ts
 * const status = await watchBackfill({
 *   boss, queue: "embed-skills", run: "2026-05-01", store, target: provider,
 *   onProgress: consoleReporter(),
 * });
 * if (status.dead.length > 0) process.exitCode = 1;
 * ```
 */
export async function watchBackfill(options: WatchBackfillOptions): Promise<BackfillRunStatus> {
  const { onProgress, signal } = options;
  const intervalMs = options.intervalMs ?? QUEUE_DEFAULTS.watchIntervalMs;
  if (typeof intervalMs !== "number" || !(intervalMs > 0)) {
    throw new InvalidOptionError("intervalMs", "a positive number");
  }
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new InvalidOptionError("onProgress", "a function");
  }
  const started = Date.now();
  let first: { embedded: number; left: number | undefined } | undefined;
  let last = "";
  for (;;) {
    signal?.throwIfAborted();
    const status = await backfillStatus(options);
    const left = status.coverage ? status.coverage.missing + status.coverage.stale : undefined;
    first ??= { embedded: status.embedded, left };
    const event = progressOf(status, first, left, Date.now() - started);
    const type = status.finished ? "done" : last === "" ? "start" : "batch";
    const key = JSON.stringify([event.embedded, event.skipped, event.ranges, event.tokens]);
    if (type !== "batch" || key !== last) onProgress?.(Object.freeze({ ...event, type }));
    last = key;
    if (status.finished) return status;
    await sleep(intervalMs, signal);
  }
}

function progressOf(
  status: BackfillRunStatus,
  first: { embedded: number; left: number | undefined },
  left: number | undefined,
  elapsedMs: number,
): Omit<BackfillProgress, "type"> {
  const pending = first.left === undefined ? undefined : first.embedded + first.left;
  const embedded =
    pending === undefined || left === undefined ? status.embedded : Math.max(0, pending - left);
  const since = embedded - Math.min(embedded, first.embedded);
  const rowsPerSecond = elapsedMs > 0 ? (since * 1000) / elapsedMs : 0;
  const remaining = left ?? (pending === undefined ? undefined : Math.max(0, pending - embedded));
  return {
    pending,
    scanned: embedded + status.skipped,
    embedded,
    deduplicated: 0,
    skipped: status.skipped,
    failed: status.failed,
    tokens: status.tokens,
    requests: status.requests,
    retries: status.retries,
    rateLimited: status.rateLimited,
    elapsedMs,
    rowsPerSecond,
    etaMs: remaining !== undefined && rowsPerSecond > 0 ? (remaining * 1000) / rowsPerSecond : undefined,
    concurrency: status.ranges.running,
    ranges: {
      total: status.ranges.total,
      done: status.ranges.done,
      running: status.ranges.running,
      queued: status.ranges.queued,
      failed: status.ranges.failed,
      dead: status.ranges.dead,
    },
  };
}
