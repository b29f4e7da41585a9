/*
 * The README's "Changing models" recipe, as written: its SQL for the target table and for the table of
 * active models (run by your migrations, `active.create: false`) are what the store works with, and
 * the one-vector-per-row migration it gives keeps the existing vectors as the current model's.
 */
import { readFileSync } from "node:fs";
import { integer, pgTable, serial, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { anyVector, drizzleStore } from "../../../adapters/drizzle/index.js";
import { backfill, StoreError } from "../../../src/index.js";
import { activeModelsDdl, tableName } from "../../../src/postgres/index.js";
import { scriptedProvider } from "../../../src/testing/scripted-provider.js";
import { describeEachDatabase, rejectionOf, type TestDatabase } from "../../support/index.js";

const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
const section = readme.slice(
  readme.indexOf("\n## Changing models"),
  readme.indexOf("\n## Running on many machines"),
);
/** The SQL blocks of the section, in order. */
const sqlBlocks = [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((match) => match[1]!);

const skills = pgTable("skills", {
  id: serial("id").primaryKey(),
  name: text("name").notNull(),
});
// The README's Drizzle schema.
const skillEmbeddings = pgTable(
  "skill_embeddings",
  {
    id: serial("id").primaryKey(),
    skillId: integer("skill_id")
      .notNull()
      .references(() => skills.id, { onDelete: "cascade" }),
    embedding: anyVector("embedding").notNull(),
    modelName: text("model_name").notNull(),
    modelVersion: text("model_version").notNull(),
    inputHash: text("input_hash").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("skill_embeddings_skill_model_key").on(t.skillId, t.modelName, t.modelVersion)],
);

const OLD = { model: "old-1024", dimensions: 1024 };
const NEW = { model: "new-2048", dimensions: 2048 };
const provider = (m: typeof OLD) =>
  scriptedProvider({ provider: "test", model: m.model, dimensions: m.dimensions });

describeEachDatabase(
  "README: Changing models",
  (database) => {
    let t: TestDatabase;
    /** The README's store (`perModel`, the active models' table made by migrations), or today's one vector per row. */
    const store = (perModel = true) =>
      drizzleStore({
        db: t.db,
        version: "1",
        source: { table: skills, key: skills.id, text: (skill) => skill.name },
        target: {
          table: skillEmbeddings,
          key: skillEmbeddings.skillId,
          embedding: skillEmbeddings.embedding,
          model: skillEmbeddings.modelName,
          version: skillEmbeddings.modelVersion,
          hash: skillEmbeddings.inputHash,
          perModel,
        },
        active: { create: false },
      });

    beforeAll(async () => {
      t = await database.create();
      await t.exec("create table skills (id serial primary key, name text not null)");
      await t.exec("insert into skills (name) select 'skill ' || i from generate_series(1, 12) i");
    });
    afterAll(() => t?.close());

    it("quotes activeModelsDdl() as the table of active models", () => {
      const ddl = sqlBlocks.find((block) => block.includes("relay_embedding_models"));
      const words = (s: string) =>
        s
          .replace(/--.*$/gm, "")
          .replaceAll('"', "")
          .replace(/\s+/g, " ")
          .replace(/\s*;\s*$/, "")
          .trim();
      expect(words(ddl!)).toBe(words(activeModelsDdl(tableName("relay_embedding_models"))));
    });

    it("migrates a one-vector-per-row table with its SQL, then switches models on the tables it creates", async () => {
      // Today's table, one vector(1024) per skill, as the storage section's schema makes it.
      await t.exec(`create table skill_embeddings (
        id serial primary key,
        skill_id integer not null references skills(id) on delete cascade,
        embedding vector(1024) not null,
        model_name text not null, model_version text not null, input_hash text not null,
        created_at timestamptz not null default now());
        create unique index skill_embeddings_skill_id_key on skill_embeddings (skill_id);
        create index skill_embeddings_embedding_hnsw_idx on skill_embeddings using hnsw (embedding vector_cosine_ops);`);
      const old = provider(OLD);
      await backfill({ provider: old, store: store(false) });

      const [create, migrate] = sqlBlocks[0]!.split("-- or, from the one-vector-per-row table:");
      expect(create).toContain("create table skill_embeddings");
      await t.exec(create!.replaceAll("skill_embeddings", "skill_embeddings_fresh")); // valid SQL too
      await t.exec(migrate!);
      // The active models' table does not exist and may not be created: the README's DDL makes it.
      const missing = await rejectionOf(store().cutover({ model: OLD.model }));
      expect(StoreError.isInstance(missing) && missing.reason).toBe("schema");
      await t.exec(sqlBlocks.find((block) => block.includes("relay_embedding_models"))!);

      // The existing vectors are the old model's: nothing re-embedded, the first cutover is allowed.
      expect((await backfill({ provider: old, store: store() })).embedded).toBe(0);
      expect((await store().cutover({ model: OLD.model })).active.model).toBe(OLD.model);
      const next = provider(NEW);
      await backfill({ provider: next, store: store() });
      await store().createIndex({ model: NEW.model });
      const { previous, active } = await store().cutover({ model: NEW.model });
      expect([previous?.model, active]).toEqual([
        OLD.model,
        expect.objectContaining({ model: NEW.model, dimensions: 2048 }),
      ]);
      const hits = await store().search("skill 3", {
        provider: [old, next],
        limit: 3,
        select: { model: skillEmbeddings.modelName },
      });
      expect(hits.map((hit) => hit.row.model)).toEqual([NEW.model, NEW.model, NEW.model]);
      expect(await store().prune({ model: OLD.model })).toBe(12);
    });
  },
  { drivers: ["pglite"] },
);
