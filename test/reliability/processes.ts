/*
 * Runs worker.ts in a child process and, when told, kills it with SIGKILL at a chosen point: on the
 * n-th `@embed` (a request in flight) or `@write` (a batch being written) marker plus a delay, or a
 * time after the start. The promise settles only once the child has exited, so two processes never
 * open one PGlite directory.
 */
import { type ChildProcess, spawn } from "node:child_process";
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
  /** Another worker script than worker.ts (same markers), e.g. the pg-boss worker. */
  readonly script?: string;
  /** More environment, applied last (it may replace VOYAGE_API_KEY). */
  readonly env?: Readonly<Record<string, string>>;
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

/**
 * Starts the worker; the promise settles once it has exited. `child` is there to signal it (a
 * long-running worker is told to stop with SIGTERM).
 */
export function runWorker(
  settings: WorkerSettings,
  kill?: KillPoint,
): Promise<WorkerResult> & { readonly child: ChildProcess } {
  const started = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", settings.script ?? WORKER], {
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
      ...settings.env,
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
  const exited = new Promise<WorkerResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      workerOutput.push(output);
      const line = output.split("\n").find((l) => l.startsWith("@report "));
      const report = line ? JSON.parse(line.slice(8)) : undefined;
      resolve({ code, killed, output, report, elapsedMs: Date.now() - started });
    });
  });
  return Object.assign(exited, { child });
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
