/*
 * The second example: OpenAI embeddings stored on the source row itself (drizzleStore's same-row
 * layout: no second table, `backfill()` UPDATEs the row's embedding columns), then a semantic search.
 *
 *   npm run example:openai
 *
 * - DATABASE_URL unset: an embedded PGlite database in .data/openai-same-row (its own folder; one
 *   process at a time), seeded with the sample skills. Set: that PostgreSQL server; `--seed` seeds it.
 * - OPENAI_API_KEY unset: the local emulator's OpenAI endpoint. Set: the real OpenAI API (or
 *   OPENAI_BASE_URL, e.g. an OpenAI-compatible server).
 */
import { fileURLToPath } from "node:url";
import { backfill, consoleReporter, EmbeddingsError } from "@relay/embeddings";
import { drizzleStore } from "@relay/embeddings/adapters/drizzle";
import { openaiProvider } from "@relay/embeddings/providers/openai";
import { createEmbeddingsEmulator } from "@relay/embeddings/testing";
import { config } from "dotenv";
import { count, inArray, isNull, sql } from "drizzle-orm";
import { pgTable, text, vector } from "drizzle-orm/pg-core";
import { SAMPLE_SKILLS } from "./skills/sample-skills.js";
import { openDatabase } from "./support/database.js";

config({ path: fileURLToPath(new URL("../.env.local", import.meta.url)), quiet: true });

const MODEL = "text-embedding-3-small";
const DIMENSIONS = 1536;
const QUERY = "incident postmortem and status updates";

/** The skills again, each row carrying its own embedding, the model that made it and its text's hash. */
const skillCatalog = pgTable("skill_catalog", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  description: text("description").notNull().default(""),
  content: text("content").notNull().default(""),
  tags: text("tags").array(),
  embedding: vector("embedding", { dimensions: DIMENSIONS }),
  embeddingModel: text("embedding_model"),
  embeddingHash: text("embedding_hash"),
});

const createCatalogTable = [
  sql`create extension if not exists vector`,
  sql.raw(`create table if not exists skill_catalog (
    id text primary key,
    name text not null,
    description text not null default '',
    content text not null default '',
    tags text[],
    embedding vector(${DIMENSIONS}),
    embedding_model text,
    embedding_hash text
  )`),
];

async function main(): Promise<number> {
  const closers: (() => Promise<void>)[] = [];
  try {
    const database = await openDatabase("openai-same-row");
    closers.push(() => database.close());
    const { db } = database;
    console.log(`Database: ${database.description}`);
    for (const statement of createCatalogTable) await db.execute(statement);
    if (database.embedded || process.argv.includes("--seed")) {
      const seeded = await db
        .insert(skillCatalog)
        .values([...SAMPLE_SKILLS])
        .onConflictDoNothing()
        .returning({ id: skillCatalog.id });
      console.log(
        seeded.length > 0 ? `Seeded ${seeded.length} sample skills` : "Sample skills already seeded",
      );
    }

    let provider = process.env.OPENAI_API_KEY ? openaiProvider({ model: MODEL }) : undefined;
    if (!provider) {
      const server = await createEmbeddingsEmulator().listen();
      closers.push(() => server.close());
      console.log(
        `OPENAI_API_KEY is not set: using the local OpenAI emulator at ${server.openaiBaseUrl} (stand-in vectors, not real embeddings)`,
      );
      provider = openaiProvider({ model: MODEL, apiKey: "emulator", baseURL: server.openaiBaseUrl });
    }

    const store = drizzleStore({
      db,
      source: {
        table: skillCatalog,
        key: skillCatalog.id,
        text: (skill) => [skill.name, skill.description, skill.content, ...(skill.tags || [])].join(" "),
      },
      // Same-row layout: no `table`, no `key`: the columns are the source table's own.
      target: {
        embedding: skillCatalog.embedding,
        model: skillCatalog.embeddingModel,
        hash: skillCatalog.embeddingHash,
      },
    });

    await backfill({ provider, store, onProgress: consoleReporter() });

    const [unembedded] = await db
      .select({ rows: count() })
      .from(skillCatalog)
      .where(isNull(skillCatalog.embedding));
    console.log(`Verification (skill_catalog WHERE embedding IS NULL): ${unembedded?.rows ?? "?"} rows`);
    const coverage = await store.coverage(provider);
    const complete = coverage.embedded === coverage.total;
    console.log(
      coverage.total === 0
        ? "Coverage: nothing to cover, the skill_catalog table is empty (--seed adds the sample skills)"
        : `Coverage: ${coverage.embedded}/${coverage.total} current, ${coverage.stale} stale, ${coverage.missing} missing` +
            (complete ? " (complete)" : " (INCOMPLETE)"),
    );
    if (unembedded?.rows !== 0 || !complete) return 1;

    // Nearest neighbours of a query: embed it as a query, then search the rows' vectors.
    const { embeddings } = await provider.embed([QUERY], { inputType: "query" });
    const hits = await store.nearest(embeddings[0]!, { limit: 5, model: provider.model });
    const names = await db
      .select({ id: skillCatalog.id, name: skillCatalog.name })
      .from(skillCatalog)
      .where(
        inArray(
          skillCatalog.id,
          hits.map((hit) => hit.id),
        ),
      );
    console.log(`Skills nearest to "${QUERY}":`);
    for (const hit of hits) {
      console.log(`  ${hit.similarity.toFixed(3)}  ${names.find((n) => n.id === hit.id)?.name ?? hit.id}`);
    }
    return 0;
  } finally {
    for (const close of closers.reverse()) await close();
  }
}

main()
  .then((code) => process.exit(code))
  .catch((error) => {
    // The library's errors say what failed and what to do (and never hold the API key): their message
    // is enough. Anything else is unexpected: show all of it.
    console.error("Backfill failed:", EmbeddingsError.isInstance(error) ? error.message : error);
    process.exit(1);
  });
