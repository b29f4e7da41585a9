/*
 * `npm run bench:batch`: the same skills embedded through the realtime endpoint and through the batch
 * API (`backfill({ mode: "batch" })`), for OpenAI and Voyage, on the loopback emulator, which bills
 * every token (batch tokens at the provider's batch price) and counts every HTTP request. Checks that
 * both modes bill the same tokens, that batch mode costs 0.50× (OpenAI) and 0.67× (Voyage) of
 * realtime, and reports the requests each mode sends. Writes its own section of bench/RESULTS.md
 * (between the `bench:batch` markers), leaving the rest of the file as it is.
 *
 *   npm run bench:batch [-- --rows N] [--pg] [--out FILE]
 */
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import pg from "pg";
import { drizzleStore } from "../adapters/drizzle/index.js";
import { openaiProvider } from "../providers/openai/index.js";
import { voyageProvider } from "../providers/voyage/index.js";
import { type BackfillReport, backfill, type EmbeddingProvider } from "../src/index.js";
import { createEmbeddingsEmulator, type EmulatorStats } from "../src/testing/index.js";
import { type DataOptions, type Skill, skillRange, skillText, summarize } from "./data.js";
import type { AnyDb } from "./db.js";
import { DDL, DIMENSIONS, EMBEDDING_VERSION, skillEmbeddings, skills } from "./schema.js";
import { replaceMarkedSection } from "./sections.js";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "2000" },
    pg: { type: "boolean", default: false },
    out: { type: "string", default: "bench/RESULTS.md" },
  },
});
const ROWS = Number(values.rows);
const DATA: DataOptions = { rows: ROWS, seed: 20261124, duplicateRate: 0.05 };
const SERVER = values.pg ? process.env.DATABASE_URL : undefined;
if (values.pg && !SERVER) throw new Error("--pg needs DATABASE_URL");
/** The same request size in both modes, so the lines of a batch are the realtime requests. */
const PER_REQUEST = 128;

interface Run {
  readonly report: BackfillReport;
  readonly stats: EmulatorStats;
  readonly seconds: number;
}

async function openDb(): Promise<{ db: AnyDb; close(): Promise<void> }> {
  if (!SERVER) {
    const client = await PGlite.create({ extensions: { vector } });
    await client.exec(DDL);
    return { db: drizzlePglite({ client }) as unknown as AnyDb, close: () => client.close() };
  }
  const name = `relay_bench_batch_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(SERVER);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString() });
  await pool.query(DDL);
  return {
    db: drizzleNodePg({ client: pool }) as unknown as AnyDb,
    close: async () => {
      await pool.end();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

async function seed(db: AnyDb): Promise<void> {
  let chunk: Skill[] = [];
  const flush = async () => {
    if (chunk.length > 0) await db.insert(skills).values(chunk.map((s) => ({ ...s, tags: [...s.tags] })));
    chunk = [];
  };
  for (const skill of skillRange(DATA)) {
    chunk.push(skill);
    if (chunk.length === 500) await flush();
  }
  await flush();
}

async function run(api: "openai" | "voyage", mode: "realtime" | "batch"): Promise<Run> {
  const { db, close } = await openDb();
  const emulator = createEmbeddingsEmulator({ maxRecordedCalls: 0 });
  const server = await emulator.listen();
  try {
    await seed(db);
    const provider: EmbeddingProvider =
      api === "openai"
        ? openaiProvider({
            model: "text-embedding-3-small",
            dimensions: DIMENSIONS,
            apiKey: "bench",
            baseURL: server.openaiBaseUrl,
          })
        : voyageProvider({ model: "voyage-3.5", apiKey: "bench", baseURL: server.voyageBaseUrl });
    const store = drizzleStore({
      db,
      version: EMBEDDING_VERSION,
      source: { table: skills, key: skills.id, text: skillText },
      target: {
        table: skillEmbeddings,
        key: skillEmbeddings.skillId,
        embedding: skillEmbeddings.embedding,
        model: skillEmbeddings.modelName,
        version: skillEmbeddings.modelVersion,
        hash: skillEmbeddings.inputHash,
      },
    });
    const started = performance.now();
    const report = await backfill({
      provider,
      store,
      mode,
      maxInputsPerRequest: PER_REQUEST,
      concurrency: 8,
      dedupeCacheSize: ROWS,
      pollIntervalMs: 20,
      maxPollIntervalMs: 200,
    });
    const seconds = (performance.now() - started) / 1000;
    const coverage = await store.coverage(provider);
    if (coverage.embedded !== ROWS)
      throw new Error(`${api} ${mode}: ${coverage.embedded}/${ROWS} rows embedded`);
    return { report, stats: emulator.stats, seconds };
  } finally {
    await server.close();
    await close();
  }
}

const number = new Intl.NumberFormat("en-US");
const RATIO = { openai: 0.5, voyage: 0.67 } as const;
const rowsOut: string[] = [];
const failures: string[] = [];
for (const api of ["openai", "voyage"] as const) {
  const realtime = await run(api, "realtime");
  const batch = await run(api, "batch");
  const realtimeCost = realtime.stats.tokensBilled + realtime.stats.batch.cost;
  const batchCost = batch.stats.tokensBilled + batch.stats.batch.cost;
  const ratio = batchCost / realtimeCost;
  const sameTokens =
    realtime.stats.tokensBilled === batch.stats.batch.tokensBilled && batch.stats.tokensBilled === 0;
  if (!sameTokens) failures.push(`${api}: tokens billed differ`);
  if (Math.abs(ratio - RATIO[api]) > 0.005)
    failures.push(`${api}: cost ratio ${ratio.toFixed(3)}, expected ${RATIO[api]}`);
  const b = batch.stats.batch;
  const label = api === "openai" ? "OpenAI text-embedding-3-small" : "Voyage voyage-3.5";
  rowsOut.push(
    `| ${label} | realtime | ${number.format(realtime.stats.tokensBilled)} | ${number.format(realtimeCost)} | 1.00× | ${realtime.stats.requests} (${realtime.stats.requests} embeddings) | ${realtime.seconds.toFixed(1)} |`,
    `| ${label} | batch | ${number.format(b.tokensBilled)} | ${number.format(Math.round(batchCost))} | **${ratio.toFixed(2)}×** | ${batch.stats.requests} (${b.uploads} upload, ${b.batchesCreated} create, ${b.polls} poll, ${b.downloads} download, ${b.filesDeleted} delete) | ${batch.seconds.toFixed(1)} |`,
  );
  console.log(
    `${api}: realtime ${realtimeCost} vs batch ${batchCost} → ${ratio.toFixed(3)}×; requests ${realtime.stats.requests} vs ${batch.stats.requests}`,
  );
}

const summary = summarize(DATA);
const section = `## Batch mode (\`npm run bench:batch\`)

${number.format(ROWS)} skills (${number.format(summary.distinct)} distinct texts) embedded once through the realtime endpoint and once through the batch API (\`backfill({ mode: "batch" })\`), on ${SERVER ? "PostgreSQL (node-postgres)" : "PGlite"}, against the loopback emulator: ${PER_REQUEST} inputs per request (the lines of a batch file are the same requests), emulator batches finishing at the first poll. Cost is in realtime-token units: a realtime token costs 1, a batch token the provider's batch ratio (OpenAI 0.5, Voyage 0.67, as the emulator bills them).

| Provider | Mode | Tokens billed | Cost (token units) | Cost vs realtime | HTTP requests | Wall s |
| --- | --- | --- | --- | --- | --- | --- |
${rowsOut.join("\n")}

Targets: tokens billed equal in both modes (${failures.some((f) => f.includes("tokens")) ? "**missed**" : "met"}); cost 0.50× (OpenAI) and 0.67× (Voyage) of realtime (${failures.some((f) => f.includes("ratio")) ? "**missed**" : "met"}). Batch mode sends a handful of requests whatever the size (an upload, a create, the polls, a download per output file, deletes); wall time here is the emulator's instant turnaround, where the real APIs take up to 24 h (OpenAI) and 12 h (Voyage). Machine: ${cpus().length} cores, load ${loadavg()
  .map((l) => l.toFixed(1))
  .join(" / ")} while it ran.`;

const out = values.out!;
writeFileSync(out, replaceMarkedSection(out, "batch", section));
console.log(`Wrote the batch section of ${out}`);
if (failures.length > 0) {
  console.error(`Targets missed: ${failures.join("; ")}`);
  process.exitCode = 1;
}
