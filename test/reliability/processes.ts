/*
 * Runs worker.ts in a child process and, when told, kills it with SIGKILL at a chosen point: on the
 * n-th `@embed` (a request in flight) or `@write` (a batch being written) marker plus a delay, or a
 * time after the start. The promise settles only once the child has exited, so two processes never
 * open one PGlite directory.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { tally, VOYAGE_KEY } from "./harness.js";

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));

export interface WorkerSettings {
  /** `pglite:<dir>`, `node-postgres:<url>` or `postgres.js:<url>`. */
  readonly db: string;
  /** Suffix of the item tables. */
  readonly table: string;
  /** The emulator's Voyage base URL (loopback). */
  readonly voyageURL: string;
  /** Backfill options (JSON-serialisable). */
  readonly options?: Record<string, unknown>;
  readonly partition?: { index: number; count: number };
  /** Batch mode: a pause after each output line read, so a kill lands mid-download. */
  readonly lineDelayMs?: number;
}

/** Where to kill the worker. */
export type KillPoint =
  | {
      readonly on: "embed" | "write" | "upload" | "recorded" | "line";
      readonly n: number;
      readonly delayMs: number;
    }
  | { readonly on: "time"; readonly ms: number };

export interface WorkerResult {
  readonly code: number | null;
  readonly killed: boolean;
  /** Everything the worker printed, stdout and stderr. */
  readonly output: string;
  readonly report: Record<string, unknown> | undefined;
  /** From spawn to exit. */
  readonly elapsedMs: number;
}

/** Every line any worker printed in this file, for the secret search. */
export const workerOutput: string[] = [];

export function runWorker(settings: WorkerSettings, kill?: KillPoint): Promise<WorkerResult> {
  const started = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", WORKER], {
    env: {
      ...process.env,
      VOYAGE_API_KEY: VOYAGE_KEY,
      W_DB: settings.db,
      W_TABLE: settings.table,
      W_VOYAGE_URL: settings.voyageURL,
      W_OPTIONS: JSON.stringify(settings.options ?? {}),
      W_PARTITION: settings.partition ? `${settings.partition.index}/${settings.partition.count}` : "",
      W_LINE_DELAY_MS: String(settings.lineDelayMs ?? 0),
      // Plain lines from the reporter, as in a CI log.
      CI: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let killed = false;
  const killNow = () => {
    if (killed || child.exitCode !== null) return;
    killed = child.kill("SIGKILL");
    if (killed) tally.sigkills++;
  };
  const timer = kill?.on === "time" ? setTimeout(killNow, kill.ms) : undefined;
  let pending = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (kill && kill.on !== "time" && line === `@${kill.on} ${kill.n}`) {
        if (kill.delayMs > 0) setTimeout(killNow, kill.delayMs);
        else killNow();
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      workerOutput.push(output);
      const line = output.split("\n").find((l) => l.startsWith("@report "));
      const report = line ? JSON.parse(line.slice(8)) : undefined;
      resolve({ code, killed, output, report, elapsedMs: Date.now() - started });
    });
  });
}

/** mulberry32: the suite's seeded choices (kill points, edits) are the same on every run. */
export function seeded(seed: number): (min: number, max: number) => number {
  let a = seed | 0;
  return (min, max) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return min + Math.floor(u * (max - min + 1));
  };
}

/** The seed of the suite's random choices: RELIABILITY_SEED, or a fixed one. */
export const SEED = Number(process.env.RELIABILITY_SEED ?? 20261124);
