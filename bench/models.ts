/*
 * Several models side by side (`target.perModel`) on the real server (not run in CI: a minute of CPU).
 *
 *   DATABASE_URL=… npm run bench:models -- [--rows 20000] [--old-dims 256] [--new-dims 512] [--queries 200]
 *
 * Seeds, in SQL, `rows` skills and two models' vectors of each in ONE table whose column has no size
 * (`anyVector`): "old" at `old-dims`, "new" at `new-dims`, one partial HNSW index per model
 * (`createIndex({ model })`). Beside it, the baseline: the same "new" vectors alone in a `vector(n)`
 * table of one model with a plain HNSW index (what a team would have without side-by-side models).
 * Measures, side by side on the same query vectors:
 * 1. `nearest()` of the active model on the side-by-side table vs the one-model table: time per query
 *    (ratio) and recall@10 against the exact answer; and which index the planner uses;
 * 2. `cutover()` (the whole-table coverage count in SQL plus the switch) against `coverage()` alone,
 *    the count it must make, and a bare `count(*)` of the source.
 * Prints a Markdown report with the command and `uptime`.
 */
import { execSync } from "node:child_process";
import { parseArgs } from "node:util";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import { integer, pgTable, text, uniqueIndex, vector } from "drizzle-orm/pg-core";
import { anyVector, drizzleStore } from "../adapters/drizzle/index.js";
import { scratchDatabase } from "./db.js";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "20000" },
    "old-dims": { type: "string", default: "256" },
    "new-dims": { type: "string", default: "512" },
    queries: { type: "string", default: "200" },
  },
});
const ROWS = Number(args.rows);
const OLD = { model: "old", dims: Number(args["old-dims"]) };
const NEW = { model: "new", dims: Number(args["new-dims"]) };
const QUERIES = Number(args.queries);
const K = 10;

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) {
  console.error("bench/models.ts needs DATABASE_URL (a PostgreSQL server with pgvector)");
  process.exit(2);
}

const skills = pgTable("mm_skills", { id: integer("id").primaryKey(), name: text("name").notNull() });
const sideBySide = pgTable(
  "mm_embeddings",
  {
    skillId: integer("skill_id").notNull(),
    embedding: anyVector("embedding").notNull(),
    modelName: text("model_name").notNull(),
    modelVersion: text("model_version").notNull(),
    inputHash: text("input_hash").notNull(),
  },
  (t) => [uniqueIndex("mm_embeddings_key").on(t.skillId, t.modelName, t.modelVersion)],
);
const oneModel = pgTable("mm_one", {
  skillId: integer("skill_id").notNull().unique(),
  embedding: vector("embedding", { dimensions: NEW.dims }).notNull(),
  modelName: text("model_name").notNull(),
  inputHash: text("input_hash").notNull(),
});

const uptime = () => execSync("uptime").toString().trim();
const ms = (value: number) => `${value.toFixed(2)} ms`;

/** A random unit-free vector literal of `dims` components, made in SQL from `seed`. */
const randomVector = (dims: number, seed: string) =>
  `(select array_agg(sin(${seed} * 7919 + g * 104729.0 + ${dims}))::vector from generate_series(1, ${dims}) g)`;

async function main() {
  const scratch = await scratchDatabase(serverUrl!, "relay_bench_mm");
  const { pool } = scratch;
  const lines: string[] = [];
  const log = (line = "") => {
    lines.push(line);
    console.log(line);
  };
  try {
    const db = drizzle(pool);
    const exec = (text: string) => pool.query(text);
    await exec("create extension if not exists vector");
    await exec(`create table mm_skills (id integer primary key, name text not null);
      create table mm_embeddings (skill_id integer not null, embedding vector not null, model_name text not null,
        model_version text not null, input_hash text not null);
      create unique index mm_embeddings_key on mm_embeddings (skill_id, model_name, model_version);
      create table mm_one (skill_id integer not null unique, embedding vector(${NEW.dims}) not null,
        model_name text not null, input_hash text not null);`);
    const seedStarted = performance.now();
    await exec(`insert into mm_skills select g, 'skill ' || g from generate_series(1, ${ROWS}) g`);
    const hash = "encode(sha256(convert_to(s.name, 'UTF8')), 'hex')";
    for (const m of [OLD, NEW]) {
      await exec(`insert into mm_embeddings select s.id, ${randomVector(m.dims, "s.id")}, '${m.model}', '1', ${hash}
        from mm_skills s`);
    }
    await exec(`insert into mm_one select skill_id, embedding::vector(${NEW.dims}), model_name, input_hash
      from mm_embeddings where model_name = 'new'`);
    await exec("analyze");
    const seeded = performance.now() - seedStarted;

    const store = drizzleStore({
      db,
      version: "1",
      source: { table: skills, key: skills.id, text: sql`${skills.name}` },
      target: {
        table: sideBySide,
        key: sideBySide.skillId,
        embedding: sideBySide.embedding,
        model: sideBySide.modelName,
        version: sideBySide.modelVersion,
        hash: sideBySide.inputHash,
        perModel: true,
      },
    });
    const single = drizzleStore({
      db,
      source: { table: skills, key: skills.id, text: sql`${skills.name}` },
      target: {
        table: oneModel,
        key: oneModel.skillId,
        embedding: oneModel.embedding,
        model: oneModel.modelName,
        hash: oneModel.inputHash,
      },
    });

    // 2. cutover: the whole-table coverage count and the switch, against a bare count of the source.
    const countStarted = performance.now();
    await exec("select count(*) from mm_skills");
    const counted = performance.now() - countStarted;
    const coverageStarted = performance.now();
    await store.coverage({ model: NEW.model });
    const coverageMs = performance.now() - coverageStarted;
    const cutStarted = performance.now();
    const cut = await store.cutover({ model: NEW.model });
    const cutMs = performance.now() - cutStarted;

    const indexStarted = performance.now();
    const indexes = [
      await store.createIndex({ model: OLD.model }),
      await store.createIndex({ model: NEW.model }),
      await single.createIndex(),
    ];
    const indexed = performance.now() - indexStarted;

    // 1. nearest(): the same query vectors on both tables.
    const queries: number[][] = [];
    for (let q = 0; q < QUERIES; q++) {
      queries.push(Array.from({ length: NEW.dims }, (_, i) => Math.sin((q + 0.5) * 31 + i * 0.37)));
    }
    const exact = async (query: number[]) => {
      const client = await pool.connect();
      try {
        await client.query("begin; set local enable_indexscan = off; set local enable_bitmapscan = off");
        const { rows } = await client.query<{ id: number }>(
          `select skill_id as id from mm_one order by embedding <=> $1 limit ${K}`,
          [JSON.stringify(query)],
        );
        await client.query("commit");
        return new Set(rows.map((row) => row.id));
      } finally {
        client.release();
      }
    };
    const recall = (hits: { id: unknown }[], truth: Set<number>) =>
      hits.filter((hit) => truth.has(Number(hit.id))).length / K;
    const results = { side: { ms: 0, recall: 0 }, one: { ms: 0, recall: 0 } };
    // One warm-up query each, then the two alternate so that neither gets a warmer cache.
    await store.nearest(queries[0]!, { limit: K });
    await single.nearest(queries[0]!, { limit: K, model: NEW.model });
    for (const query of queries) {
      const truth = await exact(query);
      let started = performance.now();
      const side = await store.nearest(query, { limit: K });
      results.side.ms += performance.now() - started;
      started = performance.now();
      const one = await single.nearest(query, { limit: K, model: NEW.model });
      results.one.ms += performance.now() - started;
      results.side.recall += recall(side, truth);
      results.one.recall += recall(one, truth);
    }
    const plan = await pool.query(
      `explain select skill_id from mm_embeddings where embedding is not null and model_name = 'new' and model_version = '1'
       order by (embedding::vector(${NEW.dims})) <=> $1 limit ${K}`,
      [JSON.stringify(queries[0])],
    );
    const planText = plan.rows.map((row: Record<string, string>) => Object.values(row)[0]).join(" ");
    const usedIndex = /Index Scan using (\S+)/.exec(planText)?.[1] ?? "none (sequential scan)";

    const per = (total: number) => total / QUERIES;
    log(
      `## Several models side by side (\`npm run bench:models -- --rows ${ROWS} --old-dims ${OLD.dims} --new-dims ${NEW.dims} --queries ${QUERIES}\`)`,
    );
    log();
    log(
      `${new Date().toISOString()}, Node ${process.version}, \`${uptime()}\`. Seeding ${ROWS.toLocaleString("en-US")} rows × 2 models: ${(seeded / 1000).toFixed(1)} s; three HNSW indexes: ${(indexed / 1000).toFixed(1)} s (${indexes.join(", ")}).`,
    );
    log();
    log(
      "| Measure | Side by side (`perModel`, partial index of the active model) | One model per table (plain index) | Ratio |",
    );
    log("| --- | --- | --- | --- |");
    log(
      `| nearest(), limit ${K}, per query | ${ms(per(results.side.ms))} | ${ms(per(results.one.ms))} | ${(results.side.ms / results.one.ms).toFixed(2)}× |`,
    );
    log(
      `| recall@${K} against the exact answer | ${(results.side.recall / QUERIES).toFixed(3)} | ${(results.one.recall / QUERIES).toFixed(3)} | |`,
    );
    log();
    log(`The planner's choice for the active model's search: \`${usedIndex}\`.`);
    log(
      `cutover() to "${NEW.model}" (coverage of ${cut.coverage.total.toLocaleString("en-US")} rows counted in SQL, then the switch): ${ms(cutMs)}; \`coverage()\` alone (the count a cutover must make: every row's text hashed in SQL and joined): ${ms(coverageMs)} (${(cutMs / coverageMs).toFixed(2)}×); a bare \`count(*)\` of the source: ${ms(counted)}.`,
    );
  } finally {
    await scratch.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
