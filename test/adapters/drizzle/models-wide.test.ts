/*
 * A model wider than pgvector indexes in a `vector` (2,000 dimensions) beside a narrow one, in one
 * column of no declared size (`anyVector`): voyage-4 at 2,048 dimensions next to voyage-3.5's 1,024.
 * Its partial HNSW index is built on a `halfvec` cast (pgvector's advice for larger vectors), and every
 * search of it casts the same way, so the index serves it; the narrow model keeps its `vector` index.
 */
import type { PGlite } from "@electric-sql/pglite";
import { type Logger, sql } from "drizzle-orm";
import { pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { drizzle } from "drizzle-orm/pglite";
import { afterAll, beforeAll, expect, it } from "vitest";
import { anyVector, drizzleStore } from "../../../adapters/drizzle/index.js";
import { backfill } from "../../../src/index.js";
import { deterministicEmbedding } from "../../../src/testing/deterministic-embedding.js";
import { scriptedProvider } from "../../../src/testing/scripted-provider.js";
import { describeEachDatabase, rowsOf, type TestDatabase } from "../../support/index.js";
import { WORDS } from "./fixtures.js";

const docs = pgTable("docs_wide", { id: text("id").primaryKey(), body: text("body").notNull() });
const docVectors = pgTable(
  "doc_vectors_wide",
  {
    docId: text("doc_id").notNull(),
    embedding: anyVector("embedding").notNull(),
    modelName: text("model_name").notNull(),
    inputHash: text("input_hash").notNull(),
  },
  (t) => [uniqueIndex("doc_vectors_wide_key").on(t.docId, t.modelName)],
);
const DDL = `
  create table docs_wide (id text primary key, body text not null);
  create table doc_vectors_wide (
    doc_id text not null references docs_wide(id) on delete cascade,
    embedding vector not null,
    model_name text not null,
    input_hash text not null
  );
  create unique index doc_vectors_wide_key on doc_vectors_wide (doc_id, model_name);`;

const NARROW = { model: "narrow-1024", dimensions: 1024 };
const WIDE = { model: "wide-2048", dimensions: 2048 };
const ROWS = 24;
const body = (i: number) => `${WORDS[i % WORDS.length]} ${WORDS[(i * 5 + 1) % WORDS.length]} ${i}`;

describeEachDatabase(
  "a model over 2,000 dimensions beside a narrow one (perModel, anyVector)",
  (database) => {
    let t: TestDatabase;
    const store = (db = t.db) =>
      drizzleStore({
        db,
        source: { table: docs, key: docs.id, text: (doc) => doc.body },
        target: {
          table: docVectors,
          key: docVectors.docId,
          embedding: docVectors.embedding,
          model: docVectors.modelName,
          hash: docVectors.inputHash,
          perModel: true,
        },
        active: { table: "relay_models_wide" },
      });
    const provider = (m: { model: string; dimensions: number }) =>
      scriptedProvider({ provider: "test", model: m.model, dimensions: m.dimensions });

    beforeAll(async () => {
      t = await database.create();
      await t.exec(DDL);
      await t.db
        .insert(docs)
        .values(Array.from({ length: ROWS }, (_, i) => ({ id: `d${i}`, body: body(i) })));
      const narrow = provider(NARROW);
      const wide = provider(WIDE);
      await backfill({ provider: narrow, store: store() });
      await store().cutover({ model: NARROW.model });
      await backfill({ provider: wide, store: store() });
    });
    afterAll(() => t?.close());

    it("indexes each model as pgvector can: vector(1024), and halfvec(2048) beyond the 2,000-dimension limit", async () => {
      const narrowIndex = await store().createIndex({ model: NARROW.model });
      const wideIndex = await store().createIndex({ model: WIDE.model });
      const definitions = rowsOf<{ indexname: string; indexdef: string }>(
        await t.db.execute(
          sql`select indexname, indexdef from pg_indexes where tablename = 'doc_vectors_wide'`,
        ),
      );
      const definition = (name: string) => definitions.find((row) => row.indexname === name)?.indexdef;
      expect(definition(narrowIndex)).toMatch(/\(\(embedding\)::vector\(1024\)\) vector_cosine_ops\)/);
      expect(definition(narrowIndex)).toMatch(/WHERE \(model_name = 'narrow-1024'::text\)/);
      expect(definition(wideIndex)).toMatch(/\(\(embedding\)::halfvec\(2048\)\) halfvec_cosine_ops\)/);
      expect(definition(wideIndex)).toMatch(/WHERE \(model_name = 'wide-2048'::text\)/);
    });

    it("searches the wide model once it is active: nearest, search, findSimilar and findDuplicates", async () => {
      expect((await store().cutover({ model: WIDE.model })).active).toMatchObject({
        model: WIDE.model,
        dimensions: WIDE.dimensions,
      });
      const select = { model: docVectors.modelName };
      const near = await store().nearest(deterministicEmbedding(body(7), WIDE.dimensions), {
        limit: 5,
        select,
      });
      expect(near[0]?.id).toBe("d7");
      // Half precision: the exact vector scores 1 to about three decimals.
      expect(near[0]?.similarity).toBeGreaterThan(0.999);
      const hits = await store().search(body(3), {
        provider: [provider(NARROW), provider(WIDE)],
        limit: 5,
        select,
      });
      expect(hits[0]?.id).toBe("d3");
      const similar = await store().findSimilar("d5", { limit: 3, select });
      expect(similar).toHaveLength(3);
      for (const hit of [...near, ...hits, ...similar]) expect(hit.row.model).toBe(WIDE.model);
      const pairs = [];
      for await (const pair of store().findDuplicates({ threshold: -1, neighbors: 2 })) pairs.push(pair);
      expect(pairs.length).toBeGreaterThan(0);
      // Back to the narrow model: its own vectors and index, untouched.
      await store().cutover({ model: NARROW.model });
      const back = await store().nearest(deterministicEmbedding(body(9), NARROW.dimensions), {
        limit: 1,
        select,
      });
      expect(back[0]).toMatchObject({ id: "d9", row: { model: NARROW.model } });
    });

    if (database.driver === "pglite") {
      it("a search of the wide model is served by its halfvec index", async () => {
        await store().cutover({ model: WIDE.model });
        await store().createIndex({ model: WIDE.model });
        // The statements the store sends, through a second Drizzle over the same PGlite connection.
        const sent: { query: string; params: unknown[] }[] = [];
        const logger: Logger = { logQuery: (query, params) => sent.push({ query, params }) };
        const logged = drizzle({ client: t.client as PGlite, logger });
        await t.exec("set enable_seqscan = off");
        try {
          await store(logged).nearest(deterministicEmbedding(body(2), WIDE.dimensions), { limit: 3 });
          const search = sent.find((statement) => /order by/i.test(statement.query));
          expect(search, JSON.stringify(sent.map((s) => s.query))).toBeDefined();
          const plan = await (t.client as PGlite).query<{ "QUERY PLAN": string }>(
            `explain ${search!.query}`,
            search!.params as unknown[],
          );
          const text = plan.rows.map((row) => row["QUERY PLAN"]).join("\n");
          expect(text).toContain("Index Scan using doc_vectors_wide_embedding_wide_2048_hnsw_idx");
        } finally {
          await t.exec("reset enable_seqscan");
        }
      });
    }
  },
);
