/*
 * Two processes with one API key share its limits. Each runs backfill() against the same emulator
 * (token buckets holding one second of the limits), either told its share of the limits or told the
 * whole limits and left to find out from 429s: in real processes over the loopback server (real
 * time: the assertions count answers, never time), and as two runs with their own limiters in one
 * process in virtual time, where what each way costs is deterministic.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test, vi } from "vitest";
import { voyageProvider } from "../../providers/voyage/index.js";
import { backfill } from "../../src/index.js";
import { createEmbeddingsEmulator, type EmulatorServer, memoryStore } from "../../src/testing/index.js";
import { emulatorFetch } from "../support/emulator-fetch.js";
import { longText } from "./helpers.js";

const WORKER = fileURLToPath(new URL("./shared-key-worker.ts", import.meta.url));
const LIMITS = { requestsPerMinute: 600, tokensPerMinute: 3_000_000 } as const;
const ROWS = 120; // ~48,000 tokens a process: the two together need about two buckets
const HALF = { requestsPerMinute: LIMITS.requestsPerMinute / 2, tokensPerMinute: LIMITS.tokensPerMinute / 2 };
const LATENCY = { baseMs: 50, perTokenMs: 0.01 } as const;
/** The rows of the process called `name`. */
function rowsOf(name: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({ id: i + 1, text: longText(i, name) }));
}

interface Report {
  readonly embedded: number;
  readonly requests: number;
  readonly rateLimited: number;
  readonly lowestConcurrency: number;
}

function worker(name: string, url: string, limits: object): Promise<Report> {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER], {
    env: {
      ...process.env,
      SK_NAME: name,
      SK_URL: url,
      SK_ROWS: String(ROWS),
      SK_LIMITS: JSON.stringify(limits),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      const line = output.split("\n").find((l) => l.startsWith("@report "));
      if (code !== 0 || !line) reject(new Error(`worker ${name} exited ${code}: ${output.slice(-2000)}`));
      else resolve(JSON.parse(line.slice(8)));
    });
  });
}

let server: EmulatorServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function twoProcesses(limitsOfEach: object) {
  const emulator = createEmbeddingsEmulator({
    latency: LATENCY,
    rateLimits: { ...LIMITS, enforcement: "token-bucket", burstSeconds: 1 },
    maxRecordedCalls: 0,
  });
  server = await emulator.listen();
  const reports = await Promise.all([
    worker("first", server.voyageBaseUrl, limitsOfEach),
    worker("second", server.voyageBaseUrl, limitsOfEach),
  ]);
  return { reports, stats: emulator.stats };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("two processes sharing one key", () => {
  test.each([
    ["told its share of the limits", HALF],
    ["told the whole limits", LIMITS],
  ])(
    "each %s: both finish, without a collapse",
    async (_name, limits) => {
      const { reports, stats } = await twoProcesses(limits);
      for (const r of reports) {
        expect(r.embedded).toBe(ROWS);
        expect(r.lowestConcurrency).toBeGreaterThan(1);
      }
      expect(stats.inputs).toBe(2 * ROWS);
      // A collapse retries the same requests over and over; learning keeps refusals a minority.
      expect(stats.rateLimited / stats.requests).toBeLessThan(0.35);
    },
    120_000,
  );

  test("in virtual time: shares cost a 429 or so each while the burst is learned; the whole limits cost more, until each has learned its rate", async () => {
    const run = async (limits: object) => {
      vi.useFakeTimers();
      const emulator = createEmbeddingsEmulator({
        latency: LATENCY,
        rateLimits: { ...LIMITS, enforcement: "token-bucket", burstSeconds: 1 },
      });
      const provider = voyageProvider({
        model: "voyage-3.5",
        apiKey: "pa-shared-key",
        outputDimension: 256,
        fetch: emulatorFetch(emulator, "voyage"),
      });
      const runs = ["first", "second"].map((name) =>
        backfill({ provider, store: memoryStore({ rows: rowsOf(name, 300) }), ...limits }),
      );
      let settled = false;
      const all = Promise.all(runs).finally(() => {
        settled = true;
      });
      while (!settled) await vi.advanceTimersByTimeAsync(100);
      const reports = await all;
      vi.useRealTimers();
      const tokens = emulator.stats.tokensBilled;
      const perMs = LIMITS.tokensPerMinute / 60_000;
      const bound = (tokens - perMs * 1_000) / perMs;
      return {
        refused: emulator.stats.rateLimited,
        requests: emulator.stats.requests,
        ratio: Math.max(...reports.map((r) => r.durationMs)) / bound,
        embedded: reports.map((r) => r.embedded),
      };
    };
    const shares = await run(HALF);
    const whole = await run(LIMITS);
    expect(shares.embedded).toEqual([300, 300]);
    expect(whole.embedded).toEqual([300, 300]);
    expect(shares.refused).toBeLessThan(whole.refused);
    expect(shares.refused / shares.requests).toBeLessThan(0.15);
    expect(shares.ratio).toBeLessThan(1.5);
    // Finding the rate out costs refusals and some time, but no collapse.
    expect(whole.refused / whole.requests).toBeLessThan(0.3);
    expect(whole.ratio).toBeLessThan(2);
  });
});
