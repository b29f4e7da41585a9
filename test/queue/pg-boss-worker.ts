/*
 * One pg-boss backfill worker in its own process, for the multi-machine tests:
 *   node --import tsx test/queue/pg-boss-worker.ts
 * It works ranges of W_QUEUE until SIGTERM, then stops (finishing the range in hand) and exits 0.
 * Settings come from the environment (see processes.ts): W_DB is `node-postgres:<url>`, W_QUEUE the
 * queue's settings (JSON), W_OPTIONS the per-range backfill options, W_WORKERS the limit share, the
 * key from VOYAGE_API_KEY. Marker lines for the parent: `@ready`, `@embed n` before each request,
 * `@start index attempt` when a range starts, `@range index done embedded tokens` or
 * `@range index failed <serialized error>` when it ends, `@report {...}` at the end.
 */
import type PgBossType from "pg-boss";
import { voyageProvider } from "../../providers/voyage/index.js";
import { workBackfill } from "../../queue/pg-boss/index.js";
import type { EmbeddingProvider } from "../../src/index.js";
import { DIMENSIONS, itemStore, itemTables, VOYAGE_MODEL } from "../reliability/schema.js";
import type { AnyDb } from "../support/index.js";
import { BOSS_TIMING, loadPgBoss } from "./pg-boss-support.js";

const env = process.env;
const url = env.W_DB!.slice(env.W_DB!.indexOf(":") + 1);
const mark = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const [{ default: pg }, { drizzle }, PgBoss] = await Promise.all([
    import("pg"),
    import("drizzle-orm/node-postgres"),
    loadPgBoss(),
  ]);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const boss: PgBossType = new PgBoss({ connectionString: url, max: 3, ...BOSS_TIMING });
  boss.on("error", (error: Error) => mark(`@boss-error ${error.message}`));
  await boss.start();
  const voyage = voyageProvider({
    model: VOYAGE_MODEL,
    outputDimension: DIMENSIONS,
    baseURL: env.W_VOYAGE_URL,
  });
  let requests = 0;
  const provider: EmbeddingProvider = {
    ...voyage,
    limits: voyage.limits,
    embed: (texts, callOptions) => {
      mark(`@embed ${++requests}`);
      return voyage.embed(texts, callOptions);
    },
  };
  const done: { index: number; embedded: number; tokens: number }[] = [];
  const worker = await workBackfill({
    boss,
    queue: JSON.parse(env.W_QUEUE!),
    provider,
    store: itemStore(drizzle({ client: pool }) as unknown as AnyDb, itemTables(env.W_TABLE!)),
    backfill: JSON.parse(env.W_OPTIONS ?? "{}"),
    workers: Number(env.W_WORKERS ?? 1),
    pollingIntervalSeconds: 0.5,
    onProgress: (event, range) => {
      if (event.type === "start") mark(`@start ${range.index} ${range.attempt}`);
    },
    onRange: (outcome) => {
      if (outcome.status === "done") {
        done.push({ index: outcome.index, embedded: outcome.report.embedded, tokens: outcome.report.tokens });
        mark(`@range ${outcome.index} done ${outcome.report.embedded} ${outcome.report.tokens}`);
      } else mark(`@range ${outcome.index} failed ${JSON.stringify(outcome.error)}`);
    },
  });
  mark("@ready");
  await new Promise<void>((resolve) => process.once("SIGTERM", () => resolve()));
  await worker.stop();
  await boss.stop({ graceful: false, timeout: 2000 } as any);
  await pool.end();
  mark(`@report ${JSON.stringify({ ranges: done })}`);
  return 0;
}

process.exitCode = await main();
