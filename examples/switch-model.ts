/*
 * The skills table moves from voyage-3.5 (1,024 dimensions) to voyage-4 at 2,048, with no downtime and
 * no mixed answers: the new model is embedded beside the old one while the application keeps
 * searching, the switch is one step once every skill has a voyage-4 vector, and the old vectors are
 * deleted afterwards.
 *
 *   npm run example:switch-model
 *
 * - DATABASE_URL unset: an embedded PGlite database in .data/switch-model, seeded with the sample
 *   skills. One process per folder. Set: that PostgreSQL server (pgvector 0.7+); `--seed` seeds it.
 * - VOYAGE_API_KEY unset: a local Voyage emulator on 127.0.0.1 (stand-in vectors, no network).
 *   Set: the real Voyage API (or VOYAGE_BASE_URL).
 *
 * The story: the application searches the skills with voyage-3.5 (the first run sets that up), and a
 * loop of searches keeps running, as the live application would, all through the migration. Every
 * answer is checked: all its rows must be vectors of the model that was active when it was asked (the
 * model column is selected with each row); one mixed or wrong answer fails the run. The voyage-4
 * backfill is interrupted halfway (as a deploy would), the cutover is refused then (coverage
 * incomplete), the backfill resumes where it stopped, the cutover succeeds, the searches are answered
 * by voyage-4 from then on, and voyage-3.5's vectors are pruned.
 *
 * Exits 0 when voyage-4 is active with every skill covered and every answer was of the active model,
 * 1 otherwise. A re-run finds voyage-4 active: it embeds only skills added or edited since.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import {
  type BackfillProgress,
  backfill,
  type Coverage,
  consoleReporter,
  EmbeddingsError,
  StoreError,
} from "@relay/embeddings";
import { anyVector, drizzleStore } from "@relay/embeddings/adapters/drizzle";
import { voyageProvider } from "@relay/embeddings/providers/voyage";
import { config } from "dotenv";
import { sql } from "drizzle-orm";
import { pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { createSkillTables, skills } from "./skills/schema.js";
import { seedSampleSkills } from "./skills/seed.js";
import { openDatabase } from "./support/database.js";
import { voyageEndpoint } from "./support/voyage.js";

config({ path: fileURLToPath(new URL("../.env.local", import.meta.url)), quiet: true });

const OLD = { model: "voyage-3.5", dimensions: 1024 } as const;
const NEW = { model: "voyage-4", dimensions: 2048 } as const;
const VERSION = "1";
/** What the application searches for, in turn. */
const QUERIES = [
  "find near-duplicate documents",
  "write a database migration",
  "retry failed http requests",
  "review a pull request",
  "rotate api keys safely",
];

/**
 * The skills' embeddings, several models side by side: one row per (skill, model, version). The
 * `embedding` column has no declared size (`anyVector`), so voyage-3.5's 1,024 dimensions and
 * voyage-4's 2,048 share it; each model gets its own partial HNSW index. Its own table, so that the
 * other examples' `skill_embeddings` (one vector per skill) is left alone.
 */
const skillEmbeddingsByModel = pgTable(
  "skill_embeddings_by_model",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    skillId: text("skill_id")
      .notNull()
      .references(() => skills.id, { onDelete: "cascade" }),
    embedding: anyVector("embedding").notNull(),
    modelName: text("model_name").notNull(),
    modelVersion: text("model_version").notNull(),
    inputHash: text("input_hash").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("skill_embeddings_by_model_key").on(t.skillId, t.modelName, t.modelVersion)],
);
const createTargetTable = [
  sql`create table if not exists skill_embeddings_by_model (
    id uuid primary key default gen_random_uuid(),
    skill_id text not null references skills(id) on delete cascade,
    embedding vector not null,
    model_name text not null,
    model_version text not null,
    input_hash text not null,
    created_at timestamptz not null default now()
  )`,
  sql`create unique index if not exists skill_embeddings_by_model_key
    on skill_embeddings_by_model (skill_id, model_name, model_version)`,
];

/** An answer that is not all of the active model's vectors: what this example exists to rule out. */
class WrongModelError extends Error {
  override name = "WrongModelError";
}

const shown = (c: Coverage) => `${c.embedded}/${c.total}`;
const plural = (n: number, noun: string) =>
  `${n.toLocaleString("en-US")} ${noun}${n === 1 ? "" : noun.endsWith("h") ? "es" : "s"}`;

async function switchModel(): Promise<number> {
  const closers: (() => Promise<void>)[] = [];
  try {
    const database = await openDatabase("switch-model");
    closers.push(() => database.close());
    const { db } = database;
    console.log(`Database: ${database.description}`);
    for (const statement of [...createSkillTables, ...createTargetTable]) await db.execute(statement);
    await seedSampleSkills(database);

    const { apiKey, baseURL } = await voyageEndpoint(closers);
    const voyage35 = voyageProvider({ model: OLD.model, apiKey, baseURL });
    const voyage4 = voyageProvider({ model: NEW.model, outputDimension: NEW.dimensions, apiKey, baseURL });

    const store = () =>
      drizzleStore({
        db,
        version: VERSION,
        source: {
          table: skills,
          key: skills.id,
          text: sql`array_to_string(array[${skills.name}, ${skills.description}, ${skills.content}] || ${skills.tags}, ' ', '')`,
        },
        target: {
          table: skillEmbeddingsByModel,
          key: skillEmbeddingsByModel.skillId,
          embedding: skillEmbeddingsByModel.embedding,
          model: skillEmbeddingsByModel.modelName,
          version: skillEmbeddingsByModel.modelVersion,
          hash: skillEmbeddingsByModel.inputHash,
          // One vector per (skill, model, version): a new model is embedded beside the current one.
          perModel: true,
        },
        // The active model lives in this table (created by the first cutover): every search reads it,
        // so running applications follow a cutover without a deploy.
        active: { table: "relay_embedding_models" },
      });
    /** The store the migration uses (backfill, cutover, prune)... */
    const migration = store();
    /** ...and the one the running application searches with, as another process would. */
    const app = store();

    // Ctrl-C cancels a backfill cleanly: written batches are kept, the next run resumes.
    const interrupted = new AbortController();
    const interrupt = () => interrupted.abort(new Error("Interrupted (Ctrl-C): written batches are kept"));
    process.once("SIGINT", interrupt);
    closers.push(async () => {
      process.off("SIGINT", interrupt);
    });

    // 1. Where the application stands today: searching voyage-3.5 (the first run sets it up).
    let active = await migration.activeModel();
    console.log(
      `Active model: ${active ? `${active.model} (${plural(active.dimensions ?? 0, "dimension")})` : "none yet"}`,
    );
    if (!active) {
      console.log(
        `\n1. Today: every skill embedded with ${OLD.model} (${plural(OLD.dimensions, "dimension")})`,
      );
      await backfill({
        provider: voyage35,
        store: migration,
        onProgress: consoleReporter(),
        signal: interrupted.signal,
      });
      ({ active } = await migration.cutover({ model: OLD.model }));
      const index = await migration.createIndex({ model: OLD.model });
      console.log(`Active model: ${active.model}; its index: ${index}`);
    }

    // 2. The application keeps searching all through the migration; every answer is checked.
    /** The models an answer may come from right now: the active one, and during a cutover both. */
    let allowed = new Set([active.model]);
    const answered = new Map<string, number>();
    const stopQueries = new AbortController();
    const queries = (async () => {
      for (let n = 0; !stopQueries.signal.aborted; n++) {
        const query = QUERIES[n % QUERIES.length]!;
        const before = allowed;
        const hits = await app.search(query, {
          // During a migration the application passes both providers: the active model's embeds the query.
          provider: [voyage35, voyage4],
          limit: 5,
          select: { name: skills.name, model: skillEmbeddingsByModel.modelName },
        });
        const may = new Set([...before, ...allowed]);
        const models = new Set(hits.map((hit) => hit.row.model));
        if (hits.length === 0 || models.size !== 1 || !may.has(hits[0]!.row.model)) {
          throw new WrongModelError(
            `Search "${query}" was answered by ${[...models].join(" + ") || "no row"}; the active model was ${[...may].join(" or ")}`,
          );
        }
        const model = hits[0]!.row.model;
        answered.set(model, (answered.get(model) ?? 0) + 1);
        await sleep(20); // an application's pace, not a tight loop
      }
    })();
    // A failed query stops the run at once, whatever it is doing.
    const queriesFailed = queries.then(
      () => new Promise<never>(() => {}),
      (error: unknown) => Promise.reject(error),
    );
    queriesFailed.catch(() => {}); // handled by the races below
    const guarded = <T>(work: Promise<T>) => Promise.race([work, queriesFailed]);
    const answeredSoFar = () =>
      [...answered].map(([model, count]) => `${plural(count, "search")} by ${model}`).join(", ") ||
      "none yet";

    /** One line of both models' coverage and of the searches answered, after each written batch. */
    let lines = Promise.resolve();
    const watch = (event: BackfillProgress) => {
      if (event.type !== "batch") return;
      lines = lines.then(async () => {
        const [old, next] = [
          await migration.coverage({ model: OLD.model }),
          await migration.coverage({ model: NEW.model }),
        ];
        console.log(
          `  coverage: ${OLD.model} ${shown(old)}, ${NEW.model} ${shown(next)}; answered: ${answeredSoFar()}`,
        );
      });
    };

    if (active.model === NEW.model) {
      console.log(`\n${NEW.model} is active already: embedding only skills added or edited since`);
      await guarded(
        backfill({
          provider: voyage4,
          store: migration,
          onProgress: consoleReporter(),
          signal: interrupted.signal,
        }),
      );
    } else {
      const start = await migration.coverage({ model: NEW.model });
      console.log(
        `\n2. Embedding ${NEW.model} (${plural(NEW.dimensions, "dimension")}) beside ${active.model}, while the application searches` +
          (start.embedded > 0 ? ` (resuming: ${shown(start)} done)` : ""),
      );
      // The first attempt stops halfway, as a deploy or a crash would (only when starting from zero).
      const halfway = new AbortController();
      const stopAt = start.embedded === 0 ? Math.ceil(start.total / 2) : Number.POSITIVE_INFINITY;
      const report = consoleReporter();
      const run = (signal: AbortSignal) =>
        guarded(
          backfill({
            provider: voyage4,
            store: migration,
            // Small requests, paced: a few seconds of migration for the searches to run beside.
            maxInputsPerRequest: 8,
            concurrency: 1,
            minIntervalMs: 100,
            signal,
            onProgress: (event) => {
              report(event);
              watch(event);
              if (event.type === "batch" && event.embedded >= stopAt) {
                halfway.abort(new Error("stopped halfway"));
              }
            },
          }),
        ).finally(() => lines);
      try {
        await run(AbortSignal.any([interrupted.signal, halfway.signal]));
      } catch (error) {
        if (error !== halfway.signal.reason || interrupted.signal.aborted) throw error;
        await lines;
        console.log(`The ${NEW.model} backfill stopped halfway (as a deploy would stop it)`);
        // 3. Not every skill has a voyage-4 vector: the cutover is refused, and says how far it got.
        try {
          await guarded(migration.cutover({ model: NEW.model }));
          throw new WrongModelError(`The cutover to ${NEW.model} was not refused below full coverage`);
        } catch (refusal) {
          if (!(StoreError.isInstance(refusal) && refusal.reason === "coverage_incomplete")) throw refusal;
          const c = refusal.coverage!;
          console.log(
            `Cutover to ${NEW.model} refused (${refusal.reason}): coverage ${c.embedded}/${c.total} current, ${c.stale} stale, ${c.missing} missing`,
          );
        }
        console.log(`Resuming the ${NEW.model} backfill: only the skills still missing are embedded`);
        await run(interrupted.signal);
      }

      // 4. Complete: index the new model first (searches are fast from the first one), then switch.
      const index = await guarded(migration.createIndex({ model: NEW.model }));
      console.log(`Index for ${NEW.model}: ${index}`);
      const searchesBefore = answeredSoFar();
      allowed = new Set([active.model, NEW.model]);
      const switched = await guarded(migration.cutover({ model: NEW.model }));
      allowed = new Set([NEW.model]);
      console.log(
        `Cut over from ${switched.previous?.model} to ${switched.active.model} (${plural(switched.active.dimensions ?? 0, "dimension")}) at coverage ${shown(switched.coverage)}; searches answered before: ${searchesBefore}`,
      );
      active = switched.active;
    }

    // 5. The old model's vectors are no longer searched: delete them (the active model's are refused).
    const pruned = await guarded(migration.prune({ model: OLD.model }));
    console.log(`Pruned ${OLD.model}: ${plural(pruned, "vector")} deleted`);
    // A few more searches after the prune, then the loop stops.
    const after = answered.get(NEW.model) ?? 0;
    while ((answered.get(NEW.model) ?? 0) < after + 3) await guarded(sleep(10));
    stopQueries.abort();
    await queries;
    console.log(`Searches while the example ran: ${answeredSoFar()}; every answer was of the active model`);

    const hits = await app.search(QUERIES[0]!, {
      provider: [voyage35, voyage4],
      limit: 5,
      select: { name: skills.name, model: skillEmbeddingsByModel.modelName },
    });
    console.log(`Search "${QUERIES[0]}" now:`);
    for (const hit of hits)
      console.log(`  ${hit.similarity.toFixed(3)}  ${hit.row.name}  (${hit.row.model})`);
    if (hits.some((hit) => hit.row.model !== NEW.model)) {
      throw new WrongModelError(`A search after the cutover was answered by another model than ${NEW.model}`);
    }

    const coverage = await migration.coverage({ model: NEW.model });
    const complete = coverage.total > 0 && coverage.embedded === coverage.total;
    console.log(
      `Coverage: ${coverage.embedded}/${coverage.total} current, ${coverage.stale} stale, ${coverage.missing} missing` +
        (complete ? " (complete)" : " (INCOMPLETE)"),
    );
    return complete && active.model === NEW.model ? 0 : 1;
  } finally {
    for (const close of closers.reverse()) await close();
  }
}

switchModel()
  .then((code) => process.exit(code))
  .catch((error) => {
    // The library's errors say what failed and what to do (and never hold the API key).
    const known = EmbeddingsError.isInstance(error) || error instanceof WrongModelError;
    console.error("Switching models failed:", known ? error.message : error);
    process.exit(1);
  });
