/*
 * pg-boss for the workers example, whichever major is installed. An application imports the one it
 * has: `import { PgBoss } from "pg-boss"` (12, ESM) or `import PgBoss from "pg-boss"` (10, CommonJS).
 */
import type { PgBossLike } from "@relay/embeddings/queue/pg-boss";

/** A PgBoss instance, as the example uses it. */
export interface Boss extends PgBossLike {
  start(): Promise<unknown>;
  stop(options?: { graceful?: boolean; timeout?: number }): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/**
 * A started PgBoss on `url`. Supervision every 2 s (pg-boss's defaults are a minute or two), so a
 * killed worker's range comes back within seconds in the demo.
 */
export async function startBoss(url: string): Promise<Boss> {
  const mod: any = await import("pg-boss");
  const PgBoss = mod.PgBoss ?? mod.default?.PgBoss ?? mod.default;
  const boss: Boss = new PgBoss({
    connectionString: url,
    max: 4,
    superviseIntervalSeconds: 2,
    monitorIntervalSeconds: 2,
    maintenanceIntervalSeconds: 2,
  });
  // pg-boss reports database hiccups here; without a listener an 'error' event ends the process.
  boss.on("error", (error) => console.error(`pg-boss: ${error.message}`));
  await boss.start();
  return boss;
}

/** Whether this pg-boss has heartbeats (12.12+): it then notices a dead worker within seconds. */
export function hasHeartbeats(boss: Boss): boolean {
  return typeof boss.touch === "function";
}
