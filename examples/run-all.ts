/*
 * `npm run examples`: every example end to end, twice, on the emulator, in a fresh temporary data
 * folder for the embedded database whatever the environment says, so runs are deterministic. When
 * DATABASE_URL is set (CI starts a PostgreSQL + pgvector server), each also runs on that server, in a
 * throwaway database created here and dropped after. Fails when a run exits non-zero, when coverage
 * is not complete, or when a second run embeds anything. `--keep` keeps the data folder.
 *
 * workers.ts (pg-boss, several processes) needs PostgreSQL: it runs on the server only, and under CI
 * a missing DATABASE_URL fails the run rather than skipping it.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { runExample } from "./support/run-example.js";

const EXAMPLES = [
  "backfill-skills.ts",
  "openai-same-row.ts",
  "batch-backfill.ts",
  "switch-model.ts",
  "workers.ts",
];
/** Examples that need a PostgreSQL server (several processes on one database). */
const SERVER_ONLY = new Set(["workers.ts"]);

interface Target {
  readonly label: string;
  readonly env: Record<string, string>;
  readonly args: string[];
}

async function admin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

const server = process.env.DATABASE_URL;
const dataDir = mkdtempSync(join(tmpdir(), "relay-examples-"));
const database = `relay_examples_${randomBytes(4).toString("hex")}`;
const targets: Target[] = [{ label: "PGlite", env: {}, args: [] }];
const failures: string[] = [];
try {
  if (!server) {
    const skipped = [...SERVER_ONLY].join(", ");
    console.log(`DATABASE_URL is not set: ${skipped} not run (needs PostgreSQL).`);
    if (process.env.CI) failures.push(`${skipped}: not run, CI must set DATABASE_URL`);
  }
  if (server) {
    await admin(server, `create database ${database}`);
    const url = new URL(server);
    url.pathname = `/${database}`;
    targets.push({ label: "PostgreSQL", env: { DATABASE_URL: url.toString() }, args: ["--seed"] });
  }
  for (const target of targets) {
    for (const script of EXAMPLES) {
      if (SERVER_ONLY.has(script) && !target.env.DATABASE_URL) continue;
      for (const pass of ["first run", "second run"] as const) {
        const name = `${script} on ${target.label}, ${pass}`;
        console.log(`\n--- ${name} ---`);
        const run = await runExample(script, { dataDir, ...target, echo: true, timeoutMs: 120_000 });
        const problems: string[] = [];
        if (run.code !== 0) problems.push(`exited with ${run.code ?? run.signal}`);
        if (!/^Coverage: .*\(complete\)$/m.test(run.output)) problems.push("coverage is not complete");
        if (pass === "second run" && !/^Backfill complete: 0 embedded, .* 0 requests in /m.test(run.output)) {
          problems.push("the second run embedded something");
        }
        const verdict = problems.length === 0 ? "ok" : `FAILED: ${problems.join("; ")}`;
        console.log(`--- ${name}: ${verdict} (${(run.durationMs / 1000).toFixed(1)}s) ---`);
        if (problems.length > 0) failures.push(`${name}: ${problems.join("; ")}`);
      }
    }
  }
} finally {
  if (process.argv.includes("--keep")) console.log(`\nData kept in ${dataDir}`);
  else rmSync(dataDir, { recursive: true, force: true });
  if (server) await admin(server, `drop database if exists ${database} with (force)`);
}

const where = targets.map((target) => target.label).join(" and ");
console.log(
  failures.length === 0
    ? `\nAll ${EXAMPLES.length} examples passed on ${where} (${[...SERVER_ONLY].join(", ")} on PostgreSQL only), first run and re-run.`
    : `\n${failures.length} failed:\n  ${failures.join("\n  ")}`,
);
process.exitCode = failures.length === 0 ? 0 : 1;
