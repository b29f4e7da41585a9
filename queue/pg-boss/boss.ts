/*
 * The one file that knows pg-boss's API and how it differs between majors. The functions take the
 * application's own started `PgBoss` instance, so this package never imports pg-boss: it works with
 * whichever copy and major the application has.
 *
 *                       pg-boss 10 (Node 20)            pg-boss 12 (Node ≥ 22.12)
 * a dead worker        noticed when the job expires     noticed by missed heartbeats (12.12+)
 * a job that overruns  the handler is left running      job.signal aborts the handler
 * reading jobs         getJobById (archive included)    findJobs by data
 * offWork by id        offWork({ id })                  offWork(name, { id })
 */
import { sleep } from "../../src/backfill/abortable.js";
import { InvalidOptionError } from "../../src/errors/index.js";

/**
 * A started `PgBoss` instance, as these functions use it: pg-boss 10.4+ (Node 20) or 12.12+ (Node
 * ≥ 22.12). Declared structurally so any copy of either major fits.
 */
export interface PgBossLike {
  createQueue(name: string, options?: any): Promise<unknown>;
  getQueue(name: string): Promise<unknown>;
  send(name: string, data: object, options: any): Promise<string | null>;
  work(name: string, options: any, handler: (jobs: any[]) => Promise<unknown>): Promise<string>;
  offWork(...args: any[]): Promise<unknown>;
  getJobById(name: string, id: string, options?: any): Promise<any>;
  /** pg-boss 12. */
  findJobs?(name: string, options?: any): Promise<any[]>;
  /** pg-boss 12.12+: present where queues support heartbeats. */
  touch?(...args: any[]): Promise<unknown>;
}

/** What the instance's major supports. */
export interface BossFeatures {
  /** pg-boss 12: `findJobs`, `job.signal`, `offWork(name, { id })`. */
  readonly modern: boolean;
  /** pg-boss 12.12+: queue and job `heartbeatSeconds`. */
  readonly heartbeats: boolean;
}

/** Checks `boss` and tells its major's features apart (10 and 11 behave alike here). */
export function featuresOf(boss: unknown): BossFeatures {
  const b = boss as Partial<PgBossLike> | null;
  const methods = ["createQueue", "getQueue", "send", "work", "offWork", "getJobById"] as const;
  if (typeof b !== "object" || b === null || methods.some((m) => typeof b[m] !== "function")) {
    throw new InvalidOptionError("boss", "a started PgBoss instance (pg-boss 10.4+ or 12.12+)");
  }
  const modern = typeof b.findJobs === "function";
  return { modern, heartbeats: modern && typeof b.touch === "function" };
}

/** A job as pg-boss returns it with its metadata (the fields used here). */
export interface BossJob {
  readonly id: string;
  readonly data: unknown;
  readonly state: "created" | "retry" | "active" | "completed" | "cancelled" | "failed";
  readonly retryCount: number;
  readonly output: unknown;
}

function toJob(row: any): BossJob {
  return {
    id: String(row.id),
    data: row.data,
    state: row.state,
    retryCount: Number(row.retryCount ?? 0),
    output: row.output ?? null,
  };
}

/** One job by id, or `undefined`; on pg-boss 10 also from the archive (completed jobs move there). */
export async function jobById(
  boss: PgBossLike,
  features: BossFeatures,
  queue: string,
  id: string,
): Promise<BossJob | undefined> {
  if (features.modern) {
    const [row] = await boss.findJobs!(queue, { id });
    return row ? toJob(row) : undefined;
  }
  const row = await boss.getJobById(queue, id, { includeArchive: true });
  return row ? toJob(row) : undefined;
}

const PAGE = 1000;

/** pg-boss 12: every job of `queue` whose data contains `data`, a page at a time. */
export async function jobsByData(boss: PgBossLike, queue: string, data: object): Promise<BossJob[]> {
  const jobs: BossJob[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await boss.findJobs!(queue, { data, limit: PAGE, ...(after ? { after } : {}) });
    const last = page.at(-1);
    // A version that ignores `after` would hand back the same page: stop rather than loop.
    if (!last || String(last.id) === after) break;
    jobs.push(...page.map(toJob));
    if (page.length < PAGE) break;
    after = String(last.id);
  }
  return jobs;
}

/*
 * pg-boss 10 creates a queue's table without a lock of its own: processes creating one queue at once
 * (workers starting side by side) can deadlock (40P01) or collide (23505, 42P07). One of them made it,
 * so look again.
 */
const CONCURRENT_CREATE = new Set(["40P01", "23505", "42P07"]);
const CREATE_ATTEMPTS = 5;

/** Creates queue `name` unless it exists; safe when several processes do it at once. */
export async function ensureQueue(boss: PgBossLike, name: string, options: object = {}): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    if (await boss.getQueue(name)) return;
    try {
      await boss.createQueue(name, options);
      return;
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (attempt >= CREATE_ATTEMPTS || typeof code !== "string" || !CONCURRENT_CREATE.has(code)) throw error;
      await sleep(50 + Math.random() * 200 * attempt);
    }
  }
}

/** Stops the worker `id` of `queue` from fetching more jobs. */
export async function offWork(
  boss: PgBossLike,
  features: BossFeatures,
  queue: string,
  id: string,
): Promise<void> {
  if (features.modern) await boss.offWork(queue, { id });
  else await boss.offWork({ id });
}
