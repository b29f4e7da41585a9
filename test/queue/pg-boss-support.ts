/*
 * pg-boss for the tests, whichever major is installed: 10 on the Node 20 leg, the newest 12 on the
 * Node 24 leg. Without test-runner imports: the worker process loads this too.
 */
import type { PgBossLike } from "../../queue/pg-boss/index.js";

/** A started PgBoss of either major, as the tests use it (typed here, not by the installed major). */
export interface TestBoss extends PgBossLike {
  start(): Promise<unknown>;
  stop(options?: object): Promise<void>;
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/** The PgBoss class: pg-boss 10 is CommonJS (`module.exports = PgBoss`), 12 exports `{ PgBoss }`. */
export async function loadPgBoss(): Promise<new (options: object) => TestBoss> {
  const mod: any = await import("pg-boss");
  return mod.PgBoss ?? mod.default?.PgBoss ?? mod.default;
}

/**
 * Supervision every second (expiry and missed heartbeats are noticed within a second of happening):
 * pg-boss 10 expires jobs in its maintenance pass, 12 in its supervise/monitor pass.
 */
export const BOSS_TIMING = {
  maintenanceIntervalSeconds: 1,
  superviseIntervalSeconds: 1,
  monitorIntervalSeconds: 1,
} as const;

/** Whether `boss` is pg-boss 12 (heartbeats, findJobs). */
export function isModern(boss: unknown): boolean {
  return typeof (boss as { findJobs?: unknown }).findJobs === "function";
}

/**
 * Short settings so a dead worker's range comes back quickly: heartbeats of 10 s (pg-boss 12's
 * minimum), or on pg-boss 10 an expiry of 10 s (a range here takes well under a second on a quiet
 * machine, a few seconds on a loaded one).
 */
export function fastQueue(boss: unknown, name: string, extra: Record<string, unknown> = {}) {
  const timing = isModern(boss) ? { heartbeatSeconds: 10 } : { expireInSeconds: 10 };
  return { name, retryLimit: 2, retryDelay: 0, retryBackoff: false, ...timing, ...extra };
}

/** The jobs in a dead-letter queue, with the error each carries (12: `sourceOutput`, 10: `output`). */
export async function deadLetters(boss: any, queue: string): Promise<{ data: any; error: any }[]> {
  if (isModern(boss)) {
    const jobs = await boss.findJobs(queue, {});
    return jobs.map((job: any) => ({ data: job.data, error: job.sourceOutput }));
  }
  // pg-boss 10 has no query by queue: fetching claims them, which a test may do.
  const jobs = await boss.fetch(queue, { batchSize: 100, includeMetadata: true });
  return (jobs ?? []).map((job: any) => ({ data: job.data, error: job.output }));
}
