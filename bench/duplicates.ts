/*
 * Near-duplicates and HNSW tuning on the real server (not run in CI: a few minutes of CPU).
 *
 *   DATABASE_URL=… npm run bench:duplicates -- [--rows 100000] [--dims 64] [--planted 500]
 *       [--all-pairs-rows N]   (all-pairs join on the first N rows only; default: every row)
 *       [--queries 50]         (filtered searches per setting)
 *
 * Seeds, in SQL, `rows` random vectors of which `planted` are near-copies of other rows (a little noise
 * on each component), then measures side by side:
 * 1. `store.findDuplicates({ threshold: 0.95 })` (keyset pages, a LATERAL nearest-neighbour lookup per
 *    row through the HNSW index) against the all-pairs SQL join (`a.id < b.id and a.e <=> b.e <= 0.05`),
 *    with the recall of the planted pairs for both;
 * 2. a search filtered to 1% of the rows (`limit 10`), by `efSearch` and `iterativeScan`: rows returned,
 *    recall@10 against the exact answer, and time per query.
 * Prints a Markdown report (for bench/RESULTS.md) with the command and `uptime`.
 */
import { execSync } from "node:child_process";
import { parseArgs } from "node:util";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import { integer, pgTable, text, vector } from "drizzle-orm/pg-core";
import { drizzleStore } from "../adapters/drizzle/index.js";
import { scratchDatabase } from "./db.js";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "100000" },
    dims: { type: "string", default: "64" },
    planted: { type: "string", default: "500" },
    "all-pairs-rows": { type: "string" },
    queries: { type: "string", default: "50" },
  },
});
const ROWS = Number(args.rows);
const DIMS = Number(args.dims);
const PLANTED = Number(args.planted);
const ALL_PAIRS_ROWS = Number(args["all-pairs-rows"] ?? ROWS);
const QUERIES = Number(args.queries);
const THRESHOLD = 0.95;
const MODEL = "bench";

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) {
  console.error("bench/duplicates.ts needs DATABASE_URL (a PostgreSQL server with pgvector)");
  process.exit(2);
}

const items = pgTable("dup_items", {
  id: integer("id").primaryKey(),
  body: text("body").notNull(),
  embedding: vector("embedding", { dimensions: DIMS }),
  model: text("embedding_model"),
  hash: text("embedding_hash"),
});

const uptime = () => execSync("uptime").toString().trim();
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

async function main() {
  const scratch = await scratchDatabase(serverUrl!, "relay_bench_dup");
  const { pool } = scratch;
  const lines: string[] = [];
  const log = (line = "") => {
    lines.push(line);
    console.log(line);
  };
  try {
    const db = drizzle({ client: pool });
    const startLoad = uptime();
    await pool.query(`create extension if not exists vector;
      create table dup_items (id integer primary key, body text not null, embedding vector(${DIMS}),
        embedding_model text, embedding_hash text)`);
    // Every `step`-th row is a near-copy of the row before it, so any prefix of the ids (the all-pairs
    // subset) holds its share of the planted pairs.
    const step = Math.floor(ROWS / PLANTED);
    const [, seedMs] = await timed(async () => {
      // `where i > 0` makes the subquery correlated: one random vector per row.
      await pool.query(
        `insert into dup_items select i, 'item ' || i,
           (select array_agg(random() - 0.5) from generate_series(1, $2) where i > 0)::vector, $3, 'h'
         from generate_series(1, $1) i where i % $4 <> 0`,
        [ROWS, DIMS, MODEL, step],
      );
      // The near-copies: each component of the row before moved by at most ±0.005.
      await pool.query(
        `insert into dup_items select src.id + 1, 'copy of ' || src.id,
           (select array_agg(e + (random() - 0.5) * 0.01) from unnest(src.embedding::real[]) e)::vector, $2, 'h'
         from dup_items src where (src.id + 1) % $1 = 0`,
        [step, MODEL],
      );
      await pool.query("analyze dup_items");
    });
    const planted = new Set(
      Array.from({ length: Math.floor(ROWS / step) }, (_, k) => `${(k + 1) * step - 1}-${(k + 1) * step}`),
    );
    const store = drizzleStore({
      db,
      source: { table: items, key: items.id, text: (row) => row.body },
      target: { embedding: items.embedding, model: items.model, hash: items.hash },
    });
    const [, indexMs] = await timed(() => store.createIndex());

    log(`## Near-duplicates: LATERAL through the HNSW index vs the all-pairs join`);
    log();
    log(
      `\`DATABASE_URL=… npm run bench:duplicates -- --rows ${ROWS} --dims ${DIMS} --planted ${PLANTED}${args["all-pairs-rows"] ? ` --all-pairs-rows ${ALL_PAIRS_ROWS}` : ""} --queries ${QUERIES}\` — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, PostgreSQL ${(await pool.query("show server_version")).rows[0].server_version}, pgvector ${(await pool.query("select extversion from pg_extension where extname = 'vector'")).rows[0].extversion}.`,
    );
    log();
    log(`Load at the start: \`${startLoad}\``);
    log();
    log(
      `${ROWS.toLocaleString("en")} rows of random ${DIMS}-dimension vectors (seeded in SQL in ${seconds(seedMs)}), ${planted.size} of them near-copies of the row before (every ${step}th); HNSW index (m 16, ef_construction 64) built in ${seconds(indexMs)}. Threshold ${THRESHOLD}.`,
    );
    log();

    const [lateral, lateralMs] = await timed(async () => {
      const found = new Set<string>();
      let pairs = 0;
      for await (const pair of store.findDuplicates({ threshold: THRESHOLD, model: MODEL })) {
        pairs++;
        found.add(`${pair.a}-${pair.b}`);
      }
      return { pairs, found };
    });
    const lateralRecall = [...planted].filter((p) => lateral.found.has(p)).length / planted.size;

    const [allPairs, allPairsMs] = await timed(async () => {
      const { rows } = await pool.query(
        `select a.id as a, b.id as b from dup_items a join dup_items b on a.id < b.id
          where a.id <= $1 and b.id <= $1 and a.embedding <=> b.embedding <= $2`,
        [ALL_PAIRS_ROWS, 1 - THRESHOLD],
      );
      return new Set(rows.map((row: { a: number; b: number }) => `${row.a}-${row.b}`));
    });
    const inSubset = [...planted].filter((p) => p.split("-").every((id) => Number(id) <= ALL_PAIRS_ROWS));
    const allPairsRecall =
      inSubset.length === 0 ? 1 : inSubset.filter((p) => allPairs.has(p)).length / inSubset.length;
    const scale = (ROWS * (ROWS - 1)) / (ALL_PAIRS_ROWS * (ALL_PAIRS_ROWS - 1));

    log(`| Method | Rows compared | Time | Pairs found | Planted pairs found |`);
    log(`| --- | --- | --- | --- | --- |`);
    log(
      `| \`findDuplicates()\` (LATERAL, 10 neighbours per row, HNSW) | ${ROWS.toLocaleString("en")} | ${seconds(lateralMs)} | ${lateral.pairs} | ${(lateralRecall * 100).toFixed(1)}% |`,
    );
    log(
      `| all-pairs join | ${ALL_PAIRS_ROWS.toLocaleString("en")} | ${seconds(allPairsMs)} | ${allPairs.size} | ${(allPairsRecall * 100).toFixed(1)}% of ${inSubset.length} |`,
    );
    if (ALL_PAIRS_ROWS < ROWS) {
      log(
        `| all-pairs join, scaled to ${ROWS.toLocaleString("en")} rows (× ${scale.toFixed(1)}: pairs grow as n²) | ${ROWS.toLocaleString("en")} | ≈ ${seconds(allPairsMs * scale)} | | |`,
      );
    }
    log();
    log(
      `Ratio: the all-pairs join takes ${((allPairsMs * scale) / lateralMs).toFixed(1)}× the time of \`findDuplicates()\` at ${ROWS.toLocaleString("en")} rows${ALL_PAIRS_ROWS < ROWS ? " (all-pairs scaled from its measured subset)" : ""}.`,
    );
    log();

    // 2. A search filtered to 1% of the rows: what ef_search and iterative scans change.
    const queries = (
      await pool.query(
        `select id, embedding::text as v from dup_items where id % 997 = 1 order by id limit $1`,
        [QUERIES],
      )
    ).rows.map((row: { v: string }) => JSON.parse(row.v) as number[]);
    const filter = sql`${items.id} % 100 = 0`;
    const exact = await Promise.all(
      queries.map(async (q) => {
        const { rows } = await pool.query(
          // `+ 0` keeps the index out: the exact answer.
          `select id from dup_items where id % 100 = 0 order by (embedding <=> $1::vector) + 0 limit 10`,
          [JSON.stringify(q)],
        );
        return new Set(rows.map((row: { id: number }) => row.id));
      }),
    );
    log(`## HNSW tuning: a search filtered to 1% of the rows (limit 10, ${queries.length} queries)`);
    log();
    log(`| \`iterativeScan\` | \`efSearch\` | Rows returned (mean of 10) | Recall@10 | Time per query |`);
    log(`| --- | --- | --- | --- | --- |`);
    for (const iterativeScan of ["off", "relaxed_order", "strict_order"] as const) {
      for (const efSearch of [40, 100, 400]) {
        let returned = 0;
        let hits = 0;
        const [, ms] = await timed(async () => {
          for (const [i, q] of queries.entries()) {
            const rows = await store.nearest(q, { limit: 10, model: MODEL, filter, efSearch, iterativeScan });
            returned += rows.length;
            hits += rows.filter((row) => exact[i]!.has(row.id)).length;
          }
        });
        log(
          `| ${iterativeScan} | ${efSearch} | ${(returned / queries.length).toFixed(1)} | ${((hits / (queries.length * 10)) * 100).toFixed(1)}% | ${(ms / queries.length).toFixed(1)} ms |`,
        );
      }
    }
    log();
    log(`Load at the end: \`${uptime()}\``);
  } finally {
    await scratch.drop();
  }
  return lines;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
