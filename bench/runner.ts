/* Runs one job in a child process and collects its messages, with the emulator's counters. */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { EmbeddingsEmulator, EmulatorStats } from "../src/testing/index.js";
import type {
  ChildMessage,
  ContenderJob,
  ParentMessage,
  PhaseResult,
  Verification,
  WritePathJob,
  WritePathResult,
} from "./protocol.js";

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));

export interface ContenderRun {
  readonly first: PhaseResult;
  readonly firstStats: EmulatorStats;
  readonly verification?: Verification;
  readonly rerun?: PhaseResult;
  readonly rerunStats?: EmulatorStats;
}

interface Child {
  next(): Promise<ChildMessage>;
  send(message: ParentMessage): void;
  done: Promise<number>;
}

function start(job: ContenderJob | WritePathJob, timeoutMs: number): Child {
  const child = fork(CHILD, [JSON.stringify(job)], {
    execArgv: [
      "--import",
      "tsx",
      "--expose-gc",
      ...(process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
    ],
    // The plan's script prints a line per row: keep it off the benchmark's output.
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const queue: ChildMessage[] = [];
  let waiting: ((m: ChildMessage) => void) | undefined;
  child.on("message", (message: ChildMessage) => {
    if (waiting) {
      const w = waiting;
      waiting = undefined;
      w(message);
    } else queue.push(message);
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = new Promise<number>((resolve) =>
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 128 : 1));
      waiting?.({ type: "fatal", error: `child exited (${code ?? signal}) ${stderr.trim().slice(-1500)}` });
    }),
  );
  return {
    next: () => {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      if (child.exitCode !== null || child.signalCode !== null) {
        return Promise.resolve({ type: "fatal", error: `child exited ${stderr.trim().slice(-1500)}` });
      }
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    send: (message) => child.send(message),
    done,
  };
}

async function expect<T extends ChildMessage["type"]>(
  child: Child,
  type: T,
): Promise<Extract<ChildMessage, { type: T }>> {
  const message = await child.next();
  if (message.type === "fatal") throw new Error(message.error);
  if (message.type !== type) throw new Error(`expected '${type}' from the child, got '${message.type}'`);
  return message as Extract<ChildMessage, { type: T }>;
}

/** Runs a contender against a fresh emulator window, reading the emulator's counters per phase. */
export async function runContender(
  job: ContenderJob,
  emulator: EmbeddingsEmulator,
  timeoutMs: number,
): Promise<ContenderRun> {
  const child = start(job, timeoutMs);
  await expect(child, "ready");
  emulator.reset();
  child.send({ type: "go" });
  const first = (await expect(child, "phase")).result;
  const firstStats = emulator.stats;
  const verification = (await expect(child, "verified")).verification;
  let rerun: PhaseResult | undefined;
  let rerunStats: EmulatorStats | undefined;
  if (job.rerun) {
    emulator.reset();
    child.send({ type: "go" });
    rerun = (await expect(child, "phase")).result;
    rerunStats = emulator.stats;
  }
  await child.done;
  return { first, firstStats, verification, rerun, rerunStats };
}

export async function runWritePath(job: WritePathJob, timeoutMs: number): Promise<WritePathResult> {
  const child = start(job, timeoutMs);
  const result = (await expect(child, "write-path")).result;
  await child.done;
  return result;
}
