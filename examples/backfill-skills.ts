/*
 * The Relay monorepo's one-off script (packages/db/src/scripts/backfill-embeddings.ts), now a thin
 * call of backfill(): gives every skill a current Voyage embedding, then verifies it as the plan did.
 *
 *   npm run example
 *
 * - DATABASE_URL unset: an embedded PGlite database in .data/backfill-skills, created and seeded with
 *   sample skills. One process per folder: do not run two at once (a lock file refuses the second).
 *   DATABASE_URL set: that PostgreSQL server (pgvector installed); `--seed` adds the sample skills.
 * - VOYAGE_API_KEY unset: a local Voyage emulator on 127.0.0.1 (stand-in vectors, no network).
 *   VOYAGE_API_KEY set: the real Voyage API (or VOYAGE_BASE_URL).
 * Both are read from the environment or from .env.local at the repository root.
 *
 * Exits 0 when every skill has a current embedding, 1 on any failure (fail-fast: the first
 * unrecoverable error stops the run). A re-run embeds only what is missing or changed.
 */
import { fileURLToPath } from "node:url";
import { backfill, consoleReporter, EmbeddingsError } from "@relay/embeddings";
import { drizzleStore } from "@relay/embeddings/adapters/drizzle";
import { voyageProvider } from "@relay/embeddings/providers/voyage";
import { config } from "dotenv";
import { desc, eq, isNull, sql } from "drizzle-orm";
import { createSkillTables, skillEmbeddings, skills } from "./skills/schema.js";
import { seedSampleSkills } from "./skills/seed.js";
import { openDatabase } from "./support/database.js";
import { voyageEndpoint } from "./support/voyage.js";

config({ path: fileURLToPath(new URL("../.env.local", import.meta.url)), quiet: true });

const EMBEDDING_MODEL = "voyage-3.5";
const EMBEDDING_VERSION = "1";
/** "Skills most like X": X is this skill when it exists, else the first skill. */
const SIMILAR_TO = "semantic-search";
/** What the example searches for by text. */
const SEARCH_TEXT = "find near-duplicate documents";
/**
 * Pairs at least this similar are reported as near-duplicates: 0.9 for real Voyage embeddings; the
 * emulator's stand-in vectors (words hashed to random directions) are far less alike, so 0.5 there.
 */
const DUPLICATE_THRESHOLD = { real: 0.9, emulator: 0.5 };

async function backfillEmbeddings(): Promise<number> {
  const closers: (() => Promise<void>)[] = [];
  try {
    const database = await openDatabase("backfill-skills");
    closers.push(() => database.close());
    const { db } = database;
    console.log(`Database: ${database.description}`);
    for (const statement of createSkillTables) await db.execute(statement);
    await seedSampleSkills(database);

    const { apiKey, baseURL, emulated } = await voyageEndpoint(closers);
    const threshold = emulated ? DUPLICATE_THRESHOLD.emulator : DUPLICATE_THRESHOLD.real;
    const provider = voyageProvider({ model: EMBEDDING_MODEL, apiKey, baseURL });

    const store = drizzleStore({
      db,
      version: EMBEDDING_VERSION,
      source: {
        table: skills,
        key: skills.id,
        // The plan's `[name, description, content, ...(tags || [])].join(" ")`, built and hashed by
        // PostgreSQL: a run with nothing to do reads no text (same hashes, so nothing re-embeds).
        text: sql`array_to_string(array[${skills.name}, ${skills.description}, ${skills.content}] || ${skills.tags}, ' ', '')`,
      },
      target: {
        table: skillEmbeddings,
        key: skillEmbeddings.skillId,
        embedding: skillEmbeddings.embedding,
        model: skillEmbeddings.modelName,
        version: skillEmbeddings.modelVersion,
        hash: skillEmbeddings.inputHash,
      },
    });

    // Ctrl-C during the run cancels it cleanly: requests in flight are aborted, no batch is half-written.
    const interrupted = new AbortController();
    const interrupt = () => interrupted.abort(new Error("Interrupted (Ctrl-C): written batches are kept"));
    process.once("SIGINT", interrupt);
    await backfill({
      provider,
      store,
      minIntervalMs: 150,
      // The plan wrapped every write in one transaction; `atomic: true` does that. The default commits
      // each batch, so a failed run keeps its work and the next run resumes.
      onProgress: consoleReporter(),
      signal: interrupted.signal,
    }).finally(() => process.off("SIGINT", interrupt));

    // The plan's verification: every skill has an embedding...
    const withoutEmbedding = await db
      .select({ id: skills.id })
      .from(skills)
      .leftJoin(skillEmbeddings, eq(skills.id, skillEmbeddings.skillId))
      .where(isNull(skillEmbeddings.id));
    console.log(
      `Verification (skills LEFT JOIN skill_embeddings WHERE se.id IS NULL): ${withoutEmbedding.length} rows`,
    );
    // ...and, stricter, every embedding is of the skill's current text, model and version.
    const coverage = await store.coverage(provider);
    const complete = coverage.embedded === coverage.total;
    console.log(
      coverage.total === 0
        ? "Coverage: nothing to cover, the skills table is empty (--seed adds the sample skills)"
        : `Coverage: ${coverage.embedded}/${coverage.total} current, ${coverage.stale} stale, ${coverage.missing} missing` +
            (complete ? " (complete)" : " (INCOMPLETE)"),
    );
    if (withoutEmbedding.length > 0 || !complete) return 1;

    const [like] = await db
      .select({ id: skills.id, name: skills.name })
      .from(skills)
      .orderBy(desc(eq(skills.id, SIMILAR_TO)), skills.id)
      .limit(1);
    if (like) {
      // The rows come back with the columns selected: no second query for the names.
      const similar = await store.findSimilar(like.id, { limit: 5, select: { name: skills.name } });
      console.log(`Skills most like "${like.name}":`);
      for (const row of similar) console.log(`  ${row.similarity.toFixed(3)}  ${row.row.name}`);
    }

    // Search by text: the text is embedded as a query by the same provider, and only that provider's
    // vectors (model and version) are searched, whatever else the table holds.
    const hits = await store.search(SEARCH_TEXT, { provider, limit: 5, select: { name: skills.name } });
    console.log(`Search "${SEARCH_TEXT}":`);
    for (const hit of hits) console.log(`  ${hit.similarity.toFixed(3)}  ${hit.row.name}`);

    // Near-duplicate pairs of the whole table, each pair once, through the HNSW index (built once).
    await store.createIndex();
    const names = new Map<string, string>();
    for (const skill of await db.select({ id: skills.id, name: skills.name }).from(skills)) {
      names.set(skill.id, skill.name);
    }
    const pairs = [];
    for await (const pair of store.findDuplicates({ threshold })) pairs.push(pair);
    console.log(`Near-duplicate skills (similarity ≥ ${threshold}): ${pairs.length} pairs`);
    for (const pair of pairs.sort((x, y) => y.similarity - x.similarity)) {
      console.log(`  ${pair.similarity.toFixed(3)}  ${names.get(pair.a)}  ~  ${names.get(pair.b)}`);
    }
    return 0;
  } finally {
    for (const close of closers.reverse()) await close();
  }
}

backfillEmbeddings()
  .then((code) => process.exit(code))
  .catch((error) => {
    // The library's errors say what failed and what to do (and never hold the API key): their message
    // is enough. Anything else is unexpected: show all of it.
    console.error("Backfill failed:", EmbeddingsError.isInstance(error) ? error.message : error);
    process.exit(1);
  });
