import type { EmbeddingStore, KeyBound } from "../../src/contracts/embedding-store.js";
import { QUEUE_DEFAULTS } from "../../src/defaults.js";
import { InvalidOptionError } from "../../src/errors/index.js";
import { ensureQueue, featuresOf, jobById, type PgBossLike } from "./boss.js";
import { jobSettings, type RangeQueueOptions, resolveQueue } from "./queue-options.js";
import { parseRangeJob, type RangeJobData, rangeJobId } from "./range-job.js";

/** Options of {@link enqueueBackfill}. */
export interface EnqueueBackfillOptions {
  /** A started `PgBoss` (pg-boss 10.4+ or 12.12+). */
  boss: PgBossLike;
  /** The queue (created with its dead-letter queue if missing): a name, or its settings. */
  queue: string | RangeQueueOptions;
  /** The store to split; it must implement `keyBoundaries` (drizzleStore and memoryStore do). */
  store: EmbeddingStore<any>;
  /**
   * The run's name (a date, a deploy id…): the ranges' jobs are named by it, so enqueuing the same run
   * again adds nothing. A new name starts a new run.
   */
  run: string;
  /**
   * Rows per range (one job each). A range should take well under `queue.expireInSeconds`.
   * @default 10000
   */
  rangeSize?: number;
  /** Stops the split. */
  signal?: AbortSignal;
}

/** What {@link enqueueBackfill} did. */
export interface EnqueueResult {
  readonly queue: string;
  readonly run: string;
  /** Ranges in the run. */
  readonly ranges: number;
  /** Jobs this call added (0 when the run was enqueued before). */
  readonly enqueued: number;
}

const SEND_CONCURRENCY = 8;

/**
 * Splits the store's rows into ranges of about `rangeSize` rows (boundaries read from the key's
 * index, never the rows) and enqueues one pg-boss job per range, for any number of
 * {@link workBackfill} processes to take. Idempotent per run: each job's id is derived from the queue,
 * the run and the range, and the first range's job is sent last, so a run that exists is left as it
 * is, and a split interrupted halfway is completed by calling again.
 *
 * @example
 * ```ts
 * await enqueueBackfill({ boss, queue: "embed-skills", store, run: "2026-05-01", rangeSize: 5_000 });
 * ```
 */
export async function enqueueBackfill(options: EnqueueBackfillOptions): Promise<EnqueueResult> {
  if (typeof options !== "object" || options === null) throw new InvalidOptionError("options", "an object");
  const { boss, store, run, signal } = options;
  const features = featuresOf(boss);
  const queue = resolveQueue(options.queue, features);
  if (typeof run !== "string" || run === "") throw new InvalidOptionError("run", "a non-empty string");
  const rangeSize = options.rangeSize ?? QUEUE_DEFAULTS.rangeSize;
  if (!Number.isSafeInteger(rangeSize) || rangeSize < 1) {
    throw new InvalidOptionError("rangeSize", "a positive integer");
  }
  if (typeof store?.keyBoundaries !== "function" || typeof store.withKeyRange !== "function") {
    throw new InvalidOptionError("store", "a store with key ranges (`keyBoundaries` and `withKeyRange`)");
  }
  // A store that cannot be split (drizzleStore with `partition`) says so before any job exists.
  store.withKeyRange({});
  signal?.throwIfAborted();

  const settings = jobSettings(queue);
  await ensureQueue(boss, queue.deadLetter);
  await ensureQueue(boss, queue.name, settings);

  const first = await jobById(boss, features, queue.name, rangeJobId(queue.name, run, 0));
  const existing = first && parseRangeJob(first.data);
  if (existing) return { queue: queue.name, run, ranges: existing.count, enqueued: 0 };

  const bounds = await store.keyBoundaries({ every: rangeSize, signal });
  const count = bounds.length + 1;
  const jobs: RangeJobData[] = Array.from({ length: count }, (_, index) => ({
    run,
    index,
    count,
    after: (bounds[index - 1] as KeyBound | undefined) ?? null,
    through: (bounds[index] as KeyBound | undefined) ?? null,
  }));
  let enqueued = 0;
  const send = async (job: RangeJobData) => {
    signal?.throwIfAborted();
    const id = await boss.send(queue.name, job, {
      ...settings,
      id: rangeJobId(queue.name, run, job.index),
      singletonKey: `${run}:${job.index}`,
    });
    if (id !== null) enqueued++;
  };
  // Range 0 last: once it exists, every range does (a later call relies on it).
  const rest = jobs.slice(1);
  for (let i = 0; i < rest.length; i += SEND_CONCURRENCY) {
    await Promise.all(rest.slice(i, i + SEND_CONCURRENCY).map(send));
  }
  await send(jobs[0]!);
  return { queue: queue.name, run, ranges: count, enqueued };
}
