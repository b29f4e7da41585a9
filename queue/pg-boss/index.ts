export { QUEUE_DEFAULTS } from "../../src/defaults.js";
export type { PgBossLike } from "./boss.js";
export { type EnqueueBackfillOptions, type EnqueueResult, enqueueBackfill } from "./enqueue.js";
export type { RangeQueueOptions } from "./queue-options.js";
export type { RangeCounters, RangeJobData, RangeJobOutput } from "./range-job.js";
export {
  type BackfillRunStatus,
  type BackfillStatusOptions,
  backfillStatus,
  type DeadRange,
  type RangeCounts,
  type WatchBackfillOptions,
  watchBackfill,
} from "./status.js";
export {
  type BackfillWorker,
  type RangeBackfillOptions,
  type RangeInfo,
  type RangeOutcome,
  type WorkBackfillOptions,
  workBackfill,
} from "./worker.js";
