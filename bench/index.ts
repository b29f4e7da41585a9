/*
 * `npm run bench`: `backfill()` against the original plan's script and the Vercel AI SDK, on the same
 * skills, against the loopback Voyage emulator (latency model, tier limits, 429s), on PGlite and
 * optionally a real PostgreSQL. Each contender runs in its own process. See bench/RESULTS.md.
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, relative } from "node:path";
import { parseArgs } from "node:util";
import { createEmbeddingsEmulator } from "../src/testing/index.js";
import { lowerBound } from "./bounds.js";
import { type DataOptions, summarize } from "./data.js";
import { type DatabaseKind, dropSeed, prepareSeed, type SeedHandle } from "./db.js";
import { emulatorComputeMs } from "./floors.js";
import type { ContenderJob, ContenderName } from "./protocol.js";
import { type Measured, renderReport, type WritePathMeasured } from "./report.js";
import { runContender, runWritePath } from "./runner.js";
import {
  DEFAULT_ROWS,
  DUPLICATE_RATE,
  LATENCY,
  librarySettings,
  REQUEST_CAPS,
  type Scenario,
  SEED,
  SHAPES,
  type ShapeName,
  scenarios,
  TIERS,
} from "./scenarios.js";
import { keepMarkedSections } from "./sections.js";

const HELP = `npm run bench [-- options]

  --rows N           rows of the tier scenarios (default ${DEFAULT_ROWS})
  --scenario a,b     scenarios to run: tier1, tier3 (default both), tier1-40k, tier3-40k (40,000
                     rows, ~10 min for both shapes and databases), rss (peak RSS at 10,000 and
                     100,000 rows, ~2 min; with --pg on the real server only), all
  --shape a,b        how the emulator enforces the limits: bucket (token buckets of 1 s), window
                     (sliding 60 s window); default both
  --pg               also run on the real PostgreSQL server of DATABASE_URL (else PGlite only)
  --pg-only          only the real server
  --driver NAME      real-server driver: node-postgres (default) or postgres.js
  --smoke            the CI subset (~30 s): 500 rows, tier 1, real server if DATABASE_URL is set;
                     exits non-zero if a correctness target fails
  --out FILE         where to write the Markdown report (default bench/RESULTS.md; bench/.out/smoke.md
                     with --smoke)
  --help`;

const CHILD_TIMEOUT_MS = 30 * 60_000;
/** Rows per drizzleStore.write() in the write-path test. */
const WRITE_PATH_BATCH = 128;
const API_KEY = "pa-bench-emulator";

interface Options {
  readonly rows: number;
  readonly scenarios: readonly string[];
  readonly shapes: readonly ShapeName[];
  readonly databases: readonly DatabaseKind[];
  readonly serverUrl: string | undefined;
  readonly smoke: boolean;
  readonly out: string;
  readonly notes: readonly string[];
  readonly argv: readonly string[];
}

function options(): Options {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: "string" },
      scenario: { type: "string" },
      shape: { type: "string" },
      pg: { type: "boolean", default: false },
      "pg-only": { type: "boolean", default: false },
      driver: { type: "string", default: "node-postgres" },
      smoke: { type: "boolean", default: false },
      out: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const smoke = values.smoke;
  const rows = values.rows ? Number(values.rows) : smoke ? 500 : DEFAULT_ROWS;
  if (!Number.isSafeInteger(rows) || rows < 100) throw new Error("--rows: expected an integer ≥ 100");
  const known = Object.keys(scenarios(rows));
  const requested = (values.scenario ?? (smoke ? "tier1" : "tier1,tier3")).split(",").filter(Boolean);
  const chosen = requested.includes("all") ? known : requested;
  for (const name of chosen) {
    if (!known.includes(name))
      throw new Error(`--scenario: unknown '${name}' (known: ${known.join(", ")}, all)`);
  }
  const shapes = (values.shape ?? "bucket,window").split(",").filter(Boolean) as ShapeName[];
  for (const shape of shapes) {
    if (!(shape in SHAPES)) throw new Error(`--shape: unknown '${shape}' (known: bucket, window)`);
  }
  const driver = values.driver as DatabaseKind;
  if (driver !== "node-postgres" && driver !== "postgres.js") {
    throw new Error("--driver: expected node-postgres or postgres.js");
  }
  const serverUrl = process.env.DATABASE_URL || undefined;
  const notes: string[] = [];
  let databases: DatabaseKind[] = ["pglite"];
  const wantServer = values.pg || values["pg-only"] || smoke;
  if (wantServer && serverUrl) {
    databases = values["pg-only"] || smoke ? [driver] : ["pglite", driver];
  } else if (wantServer) {
    notes.push("DATABASE_URL is not set: PGlite only (`source .ci/postgres.sh start` gives a real server).");
  } else {
    notes.push(
      "PGlite only: add `--pg` with DATABASE_URL set for the real server and the write-path target.",
    );
  }
  const out = values.out ?? (smoke ? "bench/.out/smoke.md" : "bench/RESULTS.md");
  return { rows, scenarios: chosen, shapes, databases, serverUrl, smoke, out, notes, argv };
}

const t0 = performance.now();
function log(line: string): void {
  process.stderr.write(`${`[${((performance.now() - t0) / 1000).toFixed(0)}s]`.padEnd(6)} ${line}\n`);
}

const int = (n: number) => n.toLocaleString("en-US");

function dataFor(rows: number): DataOptions {
  return { rows, seed: SEED, duplicateRate: DUPLICATE_RATE };
}

/**
 * A baseline's run that stands for this one: (b) and (c) take no limit settings, so a run of theirs
 * that met no 429 stands for the same scenario under higher limits (tier 3 for tier 1) with the same
 * shape; and a run that met no 429 under the buckets while sending less than a minute's figures in
 * all stands for the sliding window (which refuses nothing until a minute's figures are used up).
 */
function reusable(
  scenario: Scenario,
  shape: ShapeName,
  contender: ContenderName,
  rows: number,
  database: DatabaseKind,
  done: readonly Measured[],
): Measured | undefined {
  if (contender === "library") return undefined;
  const limits = TIERS[scenario.tier];
  const clean = (m: Measured) => !m.run.first.error && m.run.firstStats.rateLimited === 0;
  const candidates = done.filter(
    (m) =>
      m.contender === contender && m.rows === rows && m.database === database && !m.reusedFrom && clean(m),
  );
  const lower = (m: Measured) => {
    const other = TIERS[scenarioTier(m.scenario)];
    return (
      other.requestsPerMinute <= limits.requestsPerMinute && other.tokensPerMinute <= limits.tokensPerMinute
    );
  };
  const fitsOneMinute = (m: Measured) =>
    m.run.firstStats.tokensBilled <= limits.tokensPerMinute &&
    m.run.firstStats.requests <= limits.requestsPerMinute;
  const earlier =
    candidates.find((m) => m.shape === shape && lower(m)) ??
    (shape === "window"
      ? candidates.find((m) => m.shape === "bucket" && lower(m) && fitsOneMinute(m))
      : undefined);
  if (!earlier) return undefined;
  return {
    ...earlier,
    scenario: scenario.name,
    shape,
    reusedFrom: `${earlier.scenario}, ${SHAPES[earlier.shape].label}`,
  };
}

function scenarioTier(name: string): 1 | 3 {
  return scenarios(DEFAULT_ROWS)[name]!.tier;
}

async function runScenario(
  scenario: Scenario,
  shape: ShapeName,
  rows: number,
  database: DatabaseKind,
  seed: SeedHandle,
  o: Options,
  done: readonly Measured[],
): Promise<Measured[]> {
  const limits = TIERS[scenario.tier];
  const emulator = createEmbeddingsEmulator({
    latency: LATENCY,
    rateLimits: { ...limits, ...SHAPES[shape] },
    maxRecordedCalls: 0,
  });
  const server = await emulator.listen();
  const out: Measured[] = [];
  const where = `${scenario.name} · ${shape} · ${database} · ${rows} rows`;
  try {
    for (const contender of scenario.contenders) {
      const reused = reusable(scenario, shape, contender, rows, database, [...done, ...out]);
      if (reused) {
        log(`  ${where} · ${contender}: its run under ${reused.reusedFrom} stands (no 429s there)`);
        out.push(reused);
        continue;
      }
      const job: ContenderJob = {
        kind: "contender",
        contender,
        database,
        serverUrl: o.serverUrl,
        seed,
        data: dataFor(rows),
        voyageBaseUrl: server.voyageBaseUrl,
        apiKey: API_KEY,
        library: librarySettings(scenario.tier),
        rerun: contender === "library" && scenario.rerun,
      };
      log(`  ${where} · ${contender} …`);
      const cpu = process.cpuUsage();
      const run = await runContender(job, emulator, CHILD_TIMEOUT_MS);
      const used = process.cpuUsage(cpu);
      const m: Measured = {
        scenario: scenario.name,
        shape,
        database,
        rows,
        contender,
        run,
        emulatorCpuMs: (used.user + used.system) / 1000,
      };
      log(
        `    ${(run.first.wallMs / 1000).toFixed(2)} s, ${run.firstStats.requests} requests, ` +
          `${run.firstStats.rateLimited} × 429, ${Math.round(run.first.peakRssKb / 1024)} MB` +
          (run.first.error ? `, FAILED: ${run.first.error}` : ""),
      );
      out.push(m);
    }
  } finally {
    await server.close();
  }
  return out;
}

function gitCommit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    return "?";
  }
}

async function main(): Promise<void> {
  const o = options();
  const started = performance.now();
  const load = loadavg().map((x) => x.toFixed(1));
  log(
    `bench: ${o.databases.join(", ")}; scenarios ${o.scenarios.join(", ")}; load average ${load.join(" ")}`,
  );
  for (const note of o.notes) log(`bench: ${note}`);

  const all = scenarios(o.rows);
  const measured: Measured[] = [];
  const writePaths: WritePathMeasured[] = [];
  const rowCounts = new Set<number>();
  const elapsed = new Map<DatabaseKind, number>();
  const seeds = new Map<string, SeedHandle>();
  const seedFor = async (database: DatabaseKind, rows: number) => {
    // One seed per row count and server: the real-server drivers share their template database.
    const key = `${database === "pglite" ? "pglite" : "server"}:${rows}`;
    let seed = seeds.get(key);
    if (!seed) {
      log(`  seeding ${int(rows)} skills (${database === "pglite" ? "PGlite" : "server"}) …`);
      seed = await prepareSeed(database, dataFor(rows), o.serverUrl);
      seeds.set(key, seed);
    }
    return seed;
  };
  try {
    for (const database of o.databases) {
      const databaseStarted = performance.now();
      // The write path on this database: drizzleStore.write() against a raw binary COPY, in batches
      // of what `backfill()` writes with the scenarios' settings.
      // PGlite is a few times slower: fewer rows keep the default run short (the floor is per row).
      const writeRows = Math.min(o.rows, database === "pglite" ? 2_500 : 5_000);
      const batch = WRITE_PATH_BATCH;
      log(`  write path · ${database} · ${int(writeRows)} rows · write() batches of ${batch} …`);
      const result = await runWritePath(
        {
          kind: "write-path",
          database,
          serverUrl: o.serverUrl,
          seed: await seedFor(database, o.rows),
          data: dataFor(o.rows),
          rows: writeRows,
          batch,
          repeats: o.smoke || database === "pglite" ? 2 : 3,
        },
        CHILD_TIMEOUT_MS,
      );
      writePaths.push({ database, result });
      for (const name of o.scenarios) {
        const scenario = all[name]!;
        if (scenario.serverOnly && database === "pglite" && o.databases.length > 1) {
          log(`  ${name}: on the real server only`);
          continue;
        }
        const rowsList = name === "rss" ? [10_000, 100_000] : [scenario.rows];
        for (const rows of rowsList) {
          rowCounts.add(rows);
          const seed = await seedFor(database, rows);
          for (const shape of scenario.shapes.filter((s) => o.shapes.includes(s))) {
            measured.push(...(await runScenario(scenario, shape, rows, database, seed, o, measured)));
          }
        }
      }
      elapsed.set(database, performance.now() - databaseStarted);
    }
  } finally {
    for (const seed of seeds.values()) await dropSeed(seed, o.serverUrl).catch(() => {});
  }

  const summaries = new Map([...rowCounts].map((rows) => [rows, summarize(dataFor(rows))]));
  const emulatorFloors = new Map<number, number>();
  for (const rows of rowCounts) {
    // The rss scenario has no speed target: its 100,000-row floor would only cost time.
    if (rows > 50_000) continue;
    log(`  measuring the emulator's own time for ${int(rows)} skills …`);
    emulatorFloors.set(rows, await emulatorComputeMs(dataFor(rows)));
  }

  const report = renderReport({
    command: `npm run bench${o.argv.length ? ` -- ${o.argv.join(" ")}` : ""}`,
    commit: gitCommit(),
    date: new Date().toISOString().slice(0, 10),
    machine: `Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), load average at start ${load.join(" / ")}`,
    notes: o.notes,
    elapsed,
    scenarios: all,
    measured,
    writePaths,
    summaries,
    emulatorFloors,
    bound: (scenario, shape, rows, database) => {
      const s = summaries.get(rows)!;
      const copy = writePaths.find((w) => w.database === database);
      const copyMsPerRow = copy ? copy.result.copyMs / copy.result.rows : 0;
      const b = lowerBound({
        inputs: s.distinct,
        tokens: s.distinctTokens,
        maxInputTokens: s.maxTokens,
        ...TIERS[scenario.tier],
        shape: SHAPES[shape],
        latency: LATENCY,
        ...REQUEST_CAPS,
        writeFloorMs: copyMsPerRow * rows,
        emulatorComputeMs: emulatorFloors.get(rows),
      });
      return b;
    },
  });
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, keepMarkedSections(o.out, report.markdown));
  log("");
  log(report.console);
  log(
    `bench: wrote ${relative(process.cwd(), o.out)} in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  if (o.smoke && report.correctnessFailures.length > 0) {
    log(`bench: FAILED: ${report.correctnessFailures.join("; ")}`);
    process.exitCode = 1;
  }
  if (o.smoke && report.grossFailures.length > 0) {
    log(`bench: FAILED (off by a wide margin): ${report.grossFailures.join("; ")}`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  // An option error says what to change; anything else gets its stack.
  const option = error instanceof Error && error.message.startsWith("--");
  log(
    `bench: ${error instanceof Error ? (option ? error.message : (error.stack ?? error.message)) : String(error)}`,
  );
  process.exit(1);
});
