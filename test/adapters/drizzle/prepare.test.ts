import { integer, pgTable, text, vector } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import { DimensionMismatchError, StoreError } from "../../../src/errors/index.js";
import { describeEachDatabase, type TestDatabase } from "../../support/index.js";
import { MODEL, skillTables, skillText } from "./fixtures.js";

const { skills, skillEmbeddings, ddl } = skillTables("integer", "prep");

const plain = pgTable("plain", { id: integer("id").primaryKey(), body: text("body").notNull() });
const plainDdl = "create table plain (id integer primary key, body text not null);";

// Tables whose database shape differs from what the store needs.
const loose = pgTable("loose", {
  id: integer("id").primaryKey(),
  body: text("body").notNull(),
  embedding: vector("embedding", { dimensions: 8 }),
  model: text("model"),
  hash: text("hash"),
});
// Declared as a vector in Drizzle, created as real[] in the database.
const wrongType = pgTable("wrong_type", {
  id: integer("id").primaryKey(),
  embedding: vector("embedding", { dimensions: 8 }),
  model: text("model"),
  hash: text("hash"),
});
const noUnique = pgTable("no_unique", {
  skillId: integer("skill_id"),
  embedding: vector("embedding", { dimensions: 8 }),
  model: text("model"),
  hash: text("hash"),
});
const shapesDdl = `
  create table loose (id integer primary key, body text not null, embedding vector, model text, hash text);
  create table wrong_type (id integer primary key, embedding real[], model text, hash text);
  create table no_unique (skill_id integer, embedding vector(8), model text, hash text);`;

// Keyed by (tenant_id, id), as multi-tenant tables often are: id is not unique on its own.
const tenantItems = pgTable("tenant_items", {
  tenantId: integer("tenant_id").notNull(),
  id: integer("id").notNull(),
  body: text("body").notNull(),
  embedding: vector("embedding", { dimensions: 8 }),
  model: text("model"),
  hash: text("hash"),
});
const tenantDdl = `
  create table tenant_items (tenant_id integer not null, id integer not null, body text not null,
    embedding vector(8), model text, hash text, primary key (tenant_id, id));`;

const ghost = pgTable("ghost", {
  skillId: integer("skill_id").unique(),
  embedding: vector("embedding", { dimensions: 8 }),
  model: text("model"),
  hash: text("hash"),
});

function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describeEachDatabase("drizzleStore prepare()", (database) => {
  let t: TestDatabase;
  let bare: TestDatabase;

  const store = (db = t.db) =>
    drizzleStore({
      db,
      version: "1",
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

  beforeAll(async () => {
    [t, bare] = await Promise.all([database.create(), database.create({ vector: false })]);
    await t.exec(ddl + plainDdl + shapesDdl + tenantDdl);
    await bare.exec(plainDdl);
  });
  afterAll(async () => {
    await Promise.all([t?.close(), bare?.close()]);
  });

  it("passes on a correct schema and can run twice", async () => {
    const s = store();
    await s.prepare(MODEL);
    await s.prepare(MODEL);
    await s.release();
    await s.release();
  });

  it("says how to install the vector extension when it is missing", async () => {
    const s = drizzleStore({
      db: bare.db,
      source: { table: plain, key: plain.id, text: (row) => row.body },
      target: {
        table: loose,
        key: loose.id,
        embedding: loose.embedding,
        model: loose.model,
        hash: loose.hash,
      },
    });
    const error = await errorOf(s.prepare(MODEL));
    expect(StoreError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ reason: "extension_missing" });
    expect((error as Error).message).toContain("CREATE EXTENSION IF NOT EXISTS vector");
  });

  it("refuses a provider whose dimensions differ from the column's, naming both", async () => {
    const error = await errorOf(store().prepare({ ...MODEL, dimensions: 1024 }));
    expect(DimensionMismatchError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ expected: 8, actual: 1024, source: "store" });
    expect((error as Error).message).toContain("skill_embeddings_prep.embedding");
    expect((error as Error).message).toContain("vector(8)");
    expect((error as Error).message).toContain("1024");
  });

  it("falls back to the Drizzle column's dimensions when the database column has none", async () => {
    const s = drizzleStore({
      db: t.db,
      source: { table: loose, key: loose.id, text: (row) => row.body },
      target: { embedding: loose.embedding, model: loose.model, hash: loose.hash },
    });
    await s.prepare(MODEL);
    await s.release();
    const error = await errorOf(s.prepare({ ...MODEL, dimensions: 16 }));
    expect(error).toMatchObject({ name: "DimensionMismatchError", expected: 8, actual: 16 });
    expect((error as Error).message).toContain("Drizzle schema");
  });

  it("reports missing tables, missing columns, wrong types and missing unique indexes as schema errors", async () => {
    const ghostStore = drizzleStore({
      db: t.db,
      source: { table: plain, key: plain.id, text: (row) => row.body },
      target: {
        table: ghost,
        key: ghost.skillId,
        embedding: ghost.embedding,
        model: ghost.model,
        hash: ghost.hash,
      },
    });
    const missingTable = await errorOf(ghostStore.prepare(MODEL));
    expect(missingTable).toMatchObject({ name: "StoreError", reason: "schema" });
    expect((missingTable as Error).message).toContain("Table ghost does not exist");

    const wrong = drizzleStore({
      db: t.db,
      source: { table: wrongType, key: wrongType.id, text: () => "x" },
      target: { embedding: wrongType.embedding, model: wrongType.model, hash: wrongType.hash },
    });
    const type = await errorOf(wrong.prepare(MODEL));
    expect(type).toMatchObject({ name: "StoreError", reason: "schema" });
    expect((type as Error).message).toContain("wrong_type.embedding is of type _float4");

    const noIndex = drizzleStore({
      db: t.db,
      source: { table: plain, key: plain.id, text: (row) => row.body },
      target: {
        table: noUnique,
        key: noUnique.skillId,
        embedding: noUnique.embedding,
        model: noUnique.model,
        hash: noUnique.hash,
      },
    });
    const index = await errorOf(noIndex.prepare(MODEL));
    expect(index).toMatchObject({ name: "StoreError", reason: "schema" });
    expect((index as Error).message).toContain("no_unique.skill_id needs a unique index");
  });

  it("explains why a column of a composite key cannot be the key, and takes one unique on its own", async () => {
    const tenantStore = (key: typeof tenantItems.id) =>
      drizzleStore({
        db: t.db,
        source: { table: tenantItems, key, text: (row) => row.body },
        target: { embedding: tenantItems.embedding, model: tenantItems.model, hash: tenantItems.hash },
      });
    // One of them: refused by prepare(), saying which composite key it belongs to and what to do.
    const error = await errorOf(tenantStore(tenantItems.id).prepare(MODEL));
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ reason: "schema" });
    expect((error as Error).message).toContain(
      "tenant_items.id is unique only together with other columns (tenant_id, id), not alone",
    );
    expect((error as Error).message).toContain("Composite keys are not supported");
    expect((error as Error).message).toContain(".unique()");

    // Declared unique on its own, as the message suggests: accepted.
    await t.exec("alter table tenant_items add constraint tenant_items_id_key unique (id)");
    const unique = tenantStore(tenantItems.id);
    try {
      await expect(unique.prepare(MODEL)).resolves.toBeUndefined();
    } finally {
      await unique.release();
      await t.exec("alter table tenant_items drop constraint tenant_items_id_key");
    }
  });

  it("reports a column that the database lacks", async () => {
    const drifted = pgTable("plain", {
      id: integer("id").primaryKey(),
      body: text("body").notNull(),
      embedding: vector("embedding", { dimensions: 8 }),
      model: text("model"),
      hash: text("hash"),
    });
    const s = drizzleStore({
      db: t.db,
      source: { table: drifted, key: drifted.id, text: (row) => row.body },
      target: { embedding: drifted.embedding, model: drifted.model, hash: drifted.hash },
    });
    const error = await errorOf(s.prepare(MODEL));
    expect(error).toMatchObject({ name: "StoreError", reason: "schema" });
    expect((error as Error).message).toContain("plain.embedding, plain.model, plain.hash");
  });
});
