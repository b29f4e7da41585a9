/*
 * The skills table embedded through Voyage's Batch API (33% cheaper than realtime, answers within
 * 12 hours) the way a nightly job would: a dry run prices the work, a run with `wait: false`
 * submits the batches and returns, and the next run collects what finished (here it waits for it).
 *
 *   npm run example:batch
 *
 * - DATABASE_URL unset: an embedded PGlite database in .data/batch-backfill, seeded with the sample
 *   skills. Set: that PostgreSQL server; `--seed` seeds it.
 * - VOYAGE_API_KEY unset: the local emulator's batch endpoints, whose batches finish in two seconds.
 *   Set: the real Voyage API, where a batch takes minutes to hours: the collecting run then only
 *   collects what finished (`wait: false`); run the example again later for the rest.
 *
 * The batches' state lives in the database (table relay_embedding_batches): the process can be
 * killed at any point, and the next run re-attaches to the batches in flight.
 */
import { fileURLToPath } from "node:url";
import { backfill, consoleReporter, EmbeddingsError } from "@relay/embeddings";
import { drizzleStore } from "@relay/embeddings/adapters/drizzle";
import { voyageProvider } from "@relay/embeddings/providers/voyage";
import { createEmbeddingsEmulator } from "@relay/embeddings/testing";
import { config } from "dotenv";
import { sql } from "drizzle-orm";
import { pgTable, text, uuid, vector } from "drizzle-orm/pg-core";
import { SAMPLE_SKILLS } from "./skills/sample-skills.js";
import { createSkillTables, EMBEDDING_DIMENSIONS, skills } from "./skills/schema.js";
import { openDatabase } from "./support/database.js";

config({ path: fileURLToPath(new URL("../.env.local", import.meta.url)), quiet: true });

const MODEL = "voyage-3.5";
/** voyage-3.5's realtime list price in USD per million tokens (check your plan's). */
const PRICE_PER_MILLION_TOKENS = 0.06;

/** The batch example's own embeddings table, so it never touches the other examples' vectors. */
const skillEmbeddingsBatch = pgTable("skill_embeddings_batch", {
  id: uuid("id").primaryKey().defaultRandom(),
  skillId: text("skill_id").notNull().unique(),
  embedding: vector("embedding", { dimensions: EMBEDDING_DIMENSIONS }).notNull(),
  modelName: text("model_name").notNull(),
  inputHash: text("input_hash").notNull(),
});

const money = (usd: number | undefined) => (usd === undefined ? "?" : `$${usd.toFixed(6)}`);
const count = (n: number | undefined, noun: string) =>
  `${n ?? 0} ${n === 1 ? noun : noun.endsWith("h") ? `${noun}es` : `${noun}s`}`;

async function main(): Promise<number> {
  const closers: (() => Promise<void>)[] = [];
  try {
    const database = await openDatabase("batch-backfill");
    closers.push(() => database.close());
    const { db } = database;
    console.log(`Database: ${database.description}`);
    for (const statement of createSkillTables) await db.execute(statement);
    await db.execute(
      sql.raw(`create table if not exists skill_embeddings_batch (
      id uuid primary key default gen_random_uuid(),
      skill_id text not null unique references skills(id) on delete cascade,
      embedding vector(${EMBEDDING_DIMENSIONS}) not null,
      model_name text not null,
      input_hash text not null
    )`),
    );
    if (database.embedded || process.argv.includes("--seed")) {
      await db
        .insert(skills)
        .values([...SAMPLE_SKILLS])
        .onConflictDoNothing();
    }

    let apiKey = process.env.VOYAGE_API_KEY;
    let baseURL = process.env.VOYAGE_BASE_URL || undefined;
    const emulated = !apiKey;
    if (emulated) {
      const server = await createEmbeddingsEmulator({ batches: { turnaroundMs: 2000 } }).listen();
      closers.push(() => server.close());
      apiKey = "emulator";
      baseURL = server.voyageBaseUrl;
      console.log(`VOYAGE_API_KEY is not set: using the local Voyage emulator's batch API at ${baseURL}`);
    }
    const provider = voyageProvider({ model: MODEL, apiKey, baseURL });
    const store = drizzleStore({
      db,
      source: {
        table: skills,
        key: skills.id,
        text: (skill) => [skill.name, skill.description, skill.content, ...(skill.tags || [])].join(" "),
      },
      target: {
        table: skillEmbeddingsBatch,
        key: skillEmbeddingsBatch.skillId,
        embedding: skillEmbeddingsBatch.embedding,
        model: skillEmbeddingsBatch.modelName,
        hash: skillEmbeddingsBatch.inputHash,
      },
      // The jobs table is created on the first batch run; name it (and create it yourself) with
      // `batchJobs: { table, schema, create: false }`.
    });
    const batch = { provider, store, mode: "batch" } as const;

    // 1. What would it cost? A dry run scans and plans, and sends nothing.
    const plan = await backfill({ ...batch, dryRun: true, pricePerMillionTokens: PRICE_PER_MILLION_TOKENS });
    console.log(
      `Plan: ${count(plan.batch?.submitted.rows, "row")}, ~${plan.estimatedTokens} tokens, ${count(plan.batch?.submitted.lines, "request")} in ${count(plan.batch?.submitted.batches, "batch")}; ` +
        `cost ${money(plan.cost?.realtime)} realtime, ${money(plan.cost?.batch)} in batch mode`,
    );

    // 2. The nightly job: collect what finished, submit what is pending, return at once.
    const submitted = await backfill({ ...batch, wait: false, onProgress: consoleReporter() });
    const inFlight = submitted.batch?.inFlight;
    console.log(
      `Submitted ${submitted.batch?.submitted.batches ?? 0} batches; in flight: ${inFlight?.batches ?? 0} batches, ${inFlight?.rows ?? 0} rows`,
    );

    // 3. The next run collects. With the emulator it waits (the batches take two seconds); against the
    // real API a batch can take hours, so it only collects what already finished.
    const collected = await backfill({
      ...batch,
      wait: emulated,
      pollIntervalMs: emulated ? 250 : undefined,
      onProgress: consoleReporter(),
    });
    console.log(
      `Collected ${collected.batch?.collected.batches ?? 0} batches (${collected.batch?.collected.rows ?? 0} rows); still in flight: ${collected.batch?.inFlight.batches ?? 0}`,
    );

    const coverage = await store.coverage(provider);
    const complete = coverage.embedded === coverage.total;
    console.log(
      `Coverage: ${coverage.embedded}/${coverage.total} current, ${coverage.stale} stale, ${coverage.missing} missing` +
        (complete
          ? " (complete)"
          : emulated
            ? " (INCOMPLETE)"
            : " (batches still in flight: run again later)"),
    );
    return complete || !emulated ? 0 : 1;
  } finally {
    for (const close of closers.reverse()) await close();
  }
}

main()
  .then((code) => process.exit(code))
  .catch((error) => {
    console.error("Batch backfill failed:", EmbeddingsError.isInstance(error) ? error.message : error);
    process.exit(1);
  });
