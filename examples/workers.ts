/*
 * One backfill on several machines through pg-boss. This process splits the skills into ranges and
 * enqueues one job per range, starts three worker processes (as you would start workers on three
 * machines), kills one of them in the middle of a range, and watches the run complete: pg-boss
 * notices the dead worker and another one embeds its range.
 *
 *   npm run example:workers
 *
 * - Needs PostgreSQL (DATABASE_URL, pgvector installed): pg-boss and the workers share one database
 *   across processes. Without it, this says how to start a local server and exits 0. `--seed` adds
 *   the sample skills.
 * - VOYAGE_API_KEY unset: a local Voyage emulator (stand-in vectors, no network). Set: the real API.
 * - It writes to its own table, skill_embeddings_workers, so the other examples' vectors stay as they are.
 *
 * Exits 0 when every skill has a current embedding, 1 otherwise.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { consoleReporter, EmbeddingsError } from "@relay/embeddings";
import { drizzleStore } from "@relay/embeddings/adapters/drizzle";
import { voyageProvider } from "@relay/embeddings/providers/voyage";
import { enqueueBackfill, watchBackfill, workBackfill } from "@relay/embeddings/queue/pg-boss";
import { createEmbeddingsEmulator } from "@relay/embeddings/testing";
import { config } from "dotenv";
import { count, sql } from "drizzle-orm";
import { pgTable, text, vector } from "drizzle-orm/pg-core";
import { SAMPLE_SKILLS } from "./skills/sample-skills.js";
import { createSkillTables, EMBEDDING_DIMENSIONS, skills } from "./skills/schema.js";
import { openDatabase } from "./support/database.js";
import { type Boss, hasHeartbeats, startBoss } from "./support/pg-boss.js";

config({ path: fileURLToPath(new URL("../.env.local", import.meta.url)), quiet: true });

const QUEUE = "embed-skills-example";
const WORKERS = 3;
/** Small ranges, so three workers share the sample skills (a real table: thousands per range). */
const RANGE_SIZE = 10;

/** This example's embeddings: the skill_embeddings shape, in a table of its own. */
const skillEmbeddingsWorkers = pgTable("skill_embeddings_workers", {
  skillId: text("skill_id").primaryKey(),
  embedding: vector("embedding", { dimensions: EMBEDDING_DIMENSIONS }).notNull(),
  modelName: text("model_name").notNull(),
  inputHash: text("input_hash").notNull(),
});
const createWorkersTable = sql`create table if not exists skill_embeddings_workers (
  skill_id text primary key references skills(id) on delete cascade,
  embedding vector(${sql.raw(String(EMBEDDING_DIMENSIONS))}) not null,
  model_name text not null,
  input_hash text not null
)`;

function provider() {
  return voyageProvider({
    model: "voyage-3.5",
    apiKey: process.env.VOYAGE_API_KEY,
    baseURL: process.env.VOYAGE_BASE_URL || undefined,
  });
}

function store(db: Parameters<typeof drizzleStore>[0]["db"]) {
  return drizzleStore({
    db,
    source: {
      table: skills,
      key: skills.id,
      text: (skill) => [skill.name, skill.description, skill.content, ...(skill.tags || [])].join(" "),
    },
    target: {
      table: skillEmbeddingsWorkers,
      key: skillEmbeddingsWorkers.skillId,
      embedding: skillEmbeddingsWorkers.embedding,
      model: skillEmbeddingsWorkers.modelName,
      hash: skillEmbeddingsWorkers.inputHash,
    },
  });
}

/**
 * How pg-boss retries a range: with heartbeats (pg-boss 12) a dead worker is noticed 10 s after it
 * went silent; pg-boss 10 has only the expiry, so a range may take at most 10 s here and a dead
 * worker's range waits that long.
 */
function queueFor(boss: Boss) {
  return hasHeartbeats(boss)
    ? { name: QUEUE, heartbeatSeconds: 10, retryDelay: 1 }
    : { name: QUEUE, expireInSeconds: 10, retryDelay: 1 };
}

/** A worker process: `examples/workers.ts --worker N`. Works ranges until SIGTERM. */
async function worker(index: number): Promise<number> {
  const database = await openDatabase("workers");
  const boss = await startBoss(process.env.DATABASE_URL!);
  const running = await workBackfill({
    boss,
    queue: queueFor(boss),
    provider: provider(),
    store: store(database.db),
    // Small requests, one at a time, so the demo's ranges take a moment each.
    backfill: { maxInputsPerRequest: 5, concurrency: 1 },
    // Three processes share the API key: each takes a third of requestsPerMinute / tokensPerMinute.
    workers: WORKERS,
    onProgress: (event, range) => {
      if (event.type === "start") console.log(`started range ${range.index} (attempt ${range.attempt})`);
    },
    onRange: (outcome) =>
      console.log(
        outcome.status === "done"
          ? `range ${outcome.index} done: ${outcome.report.embedded} rows, ${outcome.report.tokens} tokens`
          : `range ${outcome.index} failed: ${outcome.error.message}`,
      ),
  });
  console.log(`worker ${index} ready`);
  await new Promise((resolve) => process.once("SIGTERM", resolve));
  await running.stop();
  await boss.stop({ graceful: false });
  await database.close();
  return 0;
}

/** Starts worker `index` as a child process, its lines prefixed, and calls `onLine` with each. */
function startWorker(index: number, onLine: (line: string) => void): ChildProcess {
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), "--worker", String(index)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  createInterface({ input: child.stdout! }).on("line", (line) => {
    console.log(`  worker ${index} (pid ${child.pid}) | ${line}`);
    onLine(line);
  });
  return child;
}

async function coordinator(): Promise<number> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.log(
      "examples/workers.ts needs PostgreSQL: pg-boss and the workers share one database across processes.\n" +
        "Start a throwaway PostgreSQL + pgvector server and run it there:\n\n" +
        "  bash .ci/postgres.sh run npm run example:workers -- --seed\n\n" +
        "or set DATABASE_URL to a server of yours (pgvector installed). Not run.",
    );
    return 0;
  }
  const closers: (() => Promise<void>)[] = [];
  const children: ChildProcess[] = [];
  try {
    const database = await openDatabase("workers");
    closers.push(() => database.close());
    const { db } = database;
    console.log(`Database: ${database.description}`);
    for (const statement of [...createSkillTables, createWorkersTable]) await db.execute(statement);
    if (process.argv.includes("--seed"))
      await db
        .insert(skills)
        .values([...SAMPLE_SKILLS])
        .onConflictDoNothing();
    const [{ rows } = { rows: 0 }] = await db.select({ rows: count() }).from(skills);
    if (rows === 0) {
      console.log("The skills table is empty: run with --seed to add the sample skills.");
      return 1;
    }

    if (!process.env.VOYAGE_API_KEY) {
      // Each request takes a quarter of a second, as a busy API would, so the kill lands mid-range.
      const server = await createEmbeddingsEmulator({ latency: { baseMs: 250 } }).listen();
      closers.push(() => server.close());
      process.env.VOYAGE_API_KEY = "emulator";
      process.env.VOYAGE_BASE_URL = server.voyageBaseUrl;
      console.log(`VOYAGE_API_KEY is not set: using the local Voyage emulator at ${server.voyageBaseUrl}`);
    }
    const boss = await startBoss(url);
    closers.push(() => boss.stop({ graceful: false }));
    const skillStore = store(db);

    const target = provider();
    const before = await skillStore.coverage(target);
    // A new run each time: its ranges embed only what is missing or stale, so a re-run has nothing to do
    // (and then no worker is killed: there is no range in the middle of being embedded).
    const killOne = before.missing + before.stale > 0;
    const run = `example-${Date.now()}`;
    const split = await enqueueBackfill({
      boss,
      queue: queueFor(boss),
      store: skillStore,
      run,
      rangeSize: RANGE_SIZE,
    });
    console.log(
      `Split ${rows} skills into ${split.ranges} ranges of up to ${RANGE_SIZE} rows (queue ${QUEUE}, run ${run})`,
    );

    let rangesDone = 0;
    let killed: { index: number; range: string } | undefined;
    for (let index = 1; index <= WORKERS; index++) {
      const child = startWorker(index, (line) => {
        if (/^range \d+ done/.test(line)) rangesDone++;
        const started = /^started range (\d+)/.exec(line);
        // Worker 1 dies in the middle of a range once the run is under way, as a machine can.
        if (killOne && index === 1 && started && rangesDone > 0 && !killed) {
          killed = { index, range: started[1]! };
          console.log(
            `Killing worker 1 (SIGKILL) while it embeds range ${killed.range}: pg-boss retries that range on another worker once it notices (${hasHeartbeats(boss) ? "missed heartbeats" : "the job's expiry"}).`,
          );
          child.kill("SIGKILL");
        }
      });
      children.push(child);
    }

    const status = await watchBackfill({
      boss,
      queue: QUEUE,
      run,
      store: skillStore,
      target,
      intervalMs: 1000,
      onProgress: consoleReporter(),
    });
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(
      children.map((child) =>
        child.exitCode !== null || child.signalCode !== null
          ? undefined
          : new Promise((resolve) => child.once("exit", resolve)),
      ),
    );

    console.log(
      `Ranges: ${status.ranges.done} done, ${status.ranges.dead} dead` +
        (killed ? `; range ${killed.range} was retried after worker ${killed.index} was killed` : ""),
    );
    for (const dead of status.dead)
      console.log(`  range ${dead.index} failed: ${dead.error?.message ?? "(no error)"}`);
    const coverage = status.coverage!;
    const complete = coverage.embedded === coverage.total;
    console.log(
      `Coverage: ${coverage.embedded}/${coverage.total} current, ${coverage.stale} stale, ${coverage.missing} missing` +
        (complete ? " (complete)" : " (INCOMPLETE)"),
    );
    return complete ? 0 : 1;
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    for (const close of closers.reverse()) await close();
  }
}

const at = process.argv.indexOf("--worker");
(at >= 0 ? worker(Number(process.argv[at + 1])) : coordinator())
  .then((code) => process.exit(code))
  .catch((error) => {
    console.error("Failed:", EmbeddingsError.isInstance(error) ? error.message : error);
    process.exit(1);
  });
