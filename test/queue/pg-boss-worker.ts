/*
 * A pg-boss backfill worker process for the multi-machine tests:
 *   node --import tsx test/queue/pg-boss-worker.ts
 * It works the ranges of one or more queues (W_RUNS, a JSON list of { queue, table, voyageURL?,
 * apiKey?, workers?, paused?, hangAt?, backfill? }) until SIGTERM, then stops (finishing the ranges in hand) and exits 0.
 * Paused entries start working on SIGUSR2: a worker that joins a run midway, without the seconds a
 * process takes to load while the run goes on. W_DB is `node-postgres:<url>`, W_OPTIONS the per-range
 * backfill options; the key is VOYAGE_API_KEY unless an entry names its own.
 *
 * Marker lines for the parent: `@ready` (the unpaused entries work), `@resumed`, and per queue
 * `@embed <queue> n` before each request, `@start <queue> <index> <attempt>` when a range starts,
 * `@range <queue> <index> done <embedded> <tokens>` or `@range <queue> <index> failed <error JSON>`.
 */
import { voyageProvider } from "../../providers/voyage/index.js";
import { type BackfillWorker, workBackfill } from "../../queue/pg-boss/index.js";
import type { EmbeddingProvider } from "../../src/index.js";
import { DIMENSIONS, itemStore, itemTables, VOYAGE_MODEL } from "../reliability/schema.js";
import type { AnyDb } from "../support/index.js";
import { BOSS_TIMING, loadPgBoss } from "./pg-boss-support.js";

/** One queue this process works. */
export interface WorkerRun {
  readonly queue: { readonly name: string } & Record<string, unknown>;
  readonly table: string;
  readonly voyageURL?: string;
  readonly apiKey?: string;
  readonly workers?: number;
  readonly paused?: boolean;
  /** From this request on, the request never returns: a worker stuck with a request in flight. */
  readonly hangAt?: number;
  /** `backfill()` options of this queue's ranges, over W_OPTIONS. */
  readonly backfill?: Record<string, unknown>;
}

const env = process.env;
const url = env.W_DB!.slice(env.W_DB!.indexOf(":") + 1);
const runs = JSON.parse(env.W_RUNS!) as WorkerRun[];
const mark = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const [{ default: pg }, { drizzle }, PgBoss] = await Promise.all([
    import("pg"),
    import("drizzle-orm/node-postgres"),
    loadPgBoss(),
  ]);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const db = drizzle({ client: pool }) as unknown as AnyDb;
  const boss = new PgBoss({ connectionString: url, max: 3, ...BOSS_TIMING });
  boss.on("error", (error: Error) => mark(`@boss-error ${error.message}`));
  await boss.start();

  const start = (run: WorkerRun) => {
    const name = run.queue.name;
    const voyage = voyageProvider({
      model: VOYAGE_MODEL,
      outputDimension: DIMENSIONS,
      baseURL: run.voyageURL ?? env.W_VOYAGE_URL,
      apiKey: run.apiKey,
    });
    let requests = 0;
    const provider: EmbeddingProvider = {
      ...voyage,
      limits: voyage.limits,
      embed: (texts, callOptions) => {
        mark(`@embed ${name} ${++requests}`);
        if (run.hangAt !== undefined && requests >= run.hangAt) return new Promise(() => {});
        return voyage.embed(texts, callOptions);
      },
    };
    return workBackfill({
      boss,
      queue: run.queue,
      provider,
      store: itemStore(db, itemTables(run.table)),
      backfill: { ...JSON.parse(env.W_OPTIONS ?? "{}"), ...run.backfill },
      workers: run.workers ?? 1,
      pollingIntervalSeconds: 0.5,
      onProgress: (event, range) => {
        if (event.type === "start") mark(`@start ${name} ${range.index} ${range.attempt}`);
      },
      onRange: (outcome) => {
        if (outcome.status === "done") {
          mark(`@range ${name} ${outcome.index} done ${outcome.report.embedded} ${outcome.report.tokens}`);
        } else mark(`@range ${name} ${outcome.index} failed ${JSON.stringify(outcome.error)}`);
      },
    });
  };

  const workers: BackfillWorker[] = [];
  const resumed = new Promise<void>((resolve) => process.once("SIGUSR2", () => resolve()));
  const stopped = new Promise<void>((resolve) => process.once("SIGTERM", () => resolve()));
  for (const run of runs.filter((r) => !r.paused)) workers.push(await start(run));
  mark("@ready");
  const paused = runs.filter((r) => r.paused);
  if (paused.length > 0 && (await Promise.race([resumed.then(() => true), stopped.then(() => false)]))) {
    for (const run of paused) workers.push(await start(run));
    mark("@resumed");
  }
  await stopped;
  for (const worker of workers) await worker.stop();
  await boss.stop({ graceful: false, timeout: 2000 });
  await pool.end();
  return 0;
}

process.exitCode = await main();
