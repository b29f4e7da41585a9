import { QUEUE_DEFAULTS } from "../../src/defaults.js";
import { InvalidOptionError } from "../../src/errors/index.js";
import type { BossFeatures } from "./boss.js";

/**
 * The pg-boss queue the ranges of a run go through, and how pg-boss retries them. Give the same
 * settings (or the same name) to `enqueueBackfill()` and every `workBackfill()`.
 *
 * @example
 * ```ts
 * const queue = { name: "embed-skills", retryLimit: 5, heartbeatSeconds: 60 };
 * ```
 */
export interface RangeQueueOptions {
  /** The queue's name: letters, digits, `_`, `-`, `.` and `/`. */
  readonly name: string;
  /**
   * The dead-letter queue: a range that failed `retryLimit + 1` times is copied there, with its last
   * error (a `SerializedError`, never an API key) as the job's output.
   * @default `${name}.dead`
   */
  readonly deadLetter?: string;
  /**
   * Retries of a failed range. Each retry resumes: rows written by earlier attempts stay written.
   * @default 3
   */
  readonly retryLimit?: number;
  /**
   * Seconds before a failed range is retried; with `retryBackoff` the first of growing delays.
   * @default 30
   */
  readonly retryDelay?: number;
  /**
   * Doubles the delay between retries, with jitter.
   * @default true
   */
  readonly retryBackoff?: boolean;
  /**
   * pg-boss 12.12+ only: how often a worker must show it is alive, in seconds (at least 10). A range
   * whose worker died is retried by another about this long after it went silent. pg-boss 10 has no
   * heartbeats: there `expireInSeconds` does this job.
   * @default 30 (pg-boss 12); not available on pg-boss 10
   */
  readonly heartbeatSeconds?: number;
  /**
   * The longest one range may take, in seconds: then it fails and is retried. On pg-boss 10 it is also
   * how long a dead worker's range waits before it is retried, so pick `rangeSize` to finish well
   * within it. The worker stops a range shortly before it expires, so two workers never embed the same
   * range at once.
   * @default 3600 with heartbeats (pg-boss 12), 900 without (pg-boss 10)
   */
  readonly expireInSeconds?: number;
}

/** The queue settings with defaults applied and checked. */
export interface ResolvedQueue {
  readonly name: string;
  readonly deadLetter: string;
  readonly retryLimit: number;
  readonly retryDelay: number;
  readonly retryBackoff: boolean;
  readonly heartbeatSeconds: number | undefined;
  readonly expireInSeconds: number;
}

const NAME = /^[\w.\-/]+$/;

function checkName(value: unknown, option: string): string {
  if (typeof value !== "string" || !NAME.test(value)) {
    throw new InvalidOptionError(option, "a queue name of letters, digits, `_`, `-`, `.` and `/`");
  }
  return value;
}

function checkInteger(value: unknown, option: string, min: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new InvalidOptionError(option, `an integer of at least ${min}`);
  }
  return value as number;
}

/** Applies the defaults to `queue` (a name or settings) for this pg-boss major and checks them. */
export function resolveQueue(queue: string | RangeQueueOptions, features: BossFeatures): ResolvedQueue {
  const options: RangeQueueOptions = typeof queue === "string" ? { name: queue } : queue;
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError("queue", "a queue name or { name, retryLimit?, … }");
  }
  const prefix = typeof queue === "string" ? "queue" : "queue.name";
  const name = checkName(options.name, prefix);
  const d = QUEUE_DEFAULTS;
  const deadLetter = checkName(options.deadLetter ?? `${name}${d.deadLetterSuffix}`, "queue.deadLetter");
  if (deadLetter === name)
    throw new InvalidOptionError("queue.deadLetter", "another queue than `queue.name`");
  const retryBackoff = options.retryBackoff ?? d.retryBackoff;
  if (typeof retryBackoff !== "boolean") throw new InvalidOptionError("queue.retryBackoff", "a boolean");
  let heartbeatSeconds: number | undefined;
  if (features.heartbeats) {
    heartbeatSeconds = checkInteger(
      options.heartbeatSeconds ?? d.heartbeatSeconds,
      "queue.heartbeatSeconds",
      10,
    );
  } else if (options.heartbeatSeconds !== undefined) {
    throw new InvalidOptionError(
      "queue.heartbeatSeconds",
      "omitted with pg-boss 10, which has no heartbeats (`expireInSeconds` bounds a range and notices a dead worker there)",
    );
  }
  const expireDefault = heartbeatSeconds ? d.expireInSecondsWithHeartbeat : d.expireInSeconds;
  return {
    name,
    deadLetter,
    retryLimit: checkInteger(options.retryLimit ?? d.retryLimit, "queue.retryLimit", 0),
    retryDelay: checkInteger(options.retryDelay ?? d.retryDelay, "queue.retryDelay", 0),
    retryBackoff,
    heartbeatSeconds,
    expireInSeconds: checkInteger(options.expireInSeconds ?? expireDefault, "queue.expireInSeconds", 1),
  };
}

/** The settings pg-boss takes on `createQueue()` and on each job, for this major. */
export function jobSettings(queue: ResolvedQueue): Record<string, unknown> {
  return {
    deadLetter: queue.deadLetter,
    retryLimit: queue.retryLimit,
    retryDelay: queue.retryDelay,
    retryBackoff: queue.retryBackoff,
    expireInSeconds: queue.expireInSeconds,
    ...(queue.heartbeatSeconds === undefined ? {} : { heartbeatSeconds: queue.heartbeatSeconds }),
  };
}
