/*
 * drizzleStore()'s options, checked twice: by the types (each `@ts-expect-error` below must stay an
 * error, or `npm run typecheck` fails) and at run time (for JavaScript callers, and for casts).
 */
import { drizzle } from "drizzle-orm/node-postgres";
import { bigint, integer, pgTable, serial, text, uuid, vector } from "drizzle-orm/pg-core";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  type DrizzleStore,
  type DrizzleStoreOptions,
  drizzleStore,
} from "../../../adapters/drizzle/index.js";
import { InvalidOptionError } from "../../../src/errors/index.js";

const db = drizzle.mock();

const skills = pgTable("skills", {
  id: serial("id").primaryKey(),
  slug: uuid("slug").notNull().unique(),
  name: text("name").notNull(),
});
const skillEmbeddings = pgTable("skill_embeddings", {
  skillId: integer("skill_id").primaryKey(),
  skillSlug: uuid("skill_slug"),
  embedding: vector("embedding", { dimensions: 8 }).notNull(),
  modelName: text("model_name").notNull(),
  modelVersion: text("model_version").notNull(),
  inputHash: text("input_hash").notNull(),
  rank: integer("rank"),
});
const otherEmbeddings = pgTable("other_embeddings", {
  skillId: integer("skill_id").primaryKey(),
  embedding: vector("embedding", { dimensions: 8 }),
  model: text("model"),
});
const docs = pgTable("docs", {
  id: bigint("id", { mode: "bigint" }).primaryKey(),
  title: text("title").notNull(),
  embedding: vector("embedding", { dimensions: 8 }),
  model: text("model"),
  hash: text("hash"),
  version: text("version"),
});

const source = { table: skills, key: skills.id, text: (s: { name: string }) => s.name };
const target = {
  table: skillEmbeddings,
  key: skillEmbeddings.skillId,
  embedding: skillEmbeddings.embedding,
  model: skillEmbeddings.modelName,
  version: skillEmbeddings.modelVersion,
  hash: skillEmbeddings.inputHash,
};
const { version: _unversioned, ...unversionedTarget } = target;
const valid = { db, version: "1", source, target };

/** The option an `InvalidOptionError` thrown by `make` names (`undefined` when nothing is thrown). */
function optionOf(make: () => unknown): string | undefined {
  try {
    make();
  } catch (error) {
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    return (error as InvalidOptionError).option;
  }
  return undefined;
}

describe("drizzleStore options", () => {
  it("accepts the separate-table and the same-row shapes, with and without a version", () => {
    expect(() => drizzleStore(valid)).not.toThrow();
    expect(() => drizzleStore({ db, source, target: unversionedTarget })).not.toThrow();
    expect(() =>
      drizzleStore({
        db,
        source: { table: docs, key: docs.id, text: (d) => d.title },
        target: { embedding: docs.embedding, model: docs.model, hash: docs.hash },
      }),
    ).not.toThrow();
    expect(() =>
      drizzleStore({
        db,
        version: "2",
        source: { table: docs, key: docs.id, text: (d) => d.title },
        target: {
          table: docs,
          embedding: docs.embedding,
          model: docs.model,
          hash: docs.hash,
          version: docs.version,
        },
      }),
    ).not.toThrow();
  });

  it("infers Id from the source key and the row type of text() from the source table", () => {
    expectTypeOf(drizzleStore(valid)).toEqualTypeOf<DrizzleStore<number>>();
    expectTypeOf(
      drizzleStore({
        db,
        source: { table: skills, key: skills.slug, text: (s) => s.name },
        target: { ...unversionedTarget, key: skillEmbeddings.skillSlug },
      }),
    ).toEqualTypeOf<DrizzleStore<string>>();
    expectTypeOf(
      drizzleStore({
        db,
        source: {
          table: docs,
          key: docs.id,
          text: (d) => {
            expectTypeOf(d).toEqualTypeOf<typeof docs.$inferSelect>();
            return d.title;
          },
        },
        target: { embedding: docs.embedding, model: docs.model, hash: docs.hash },
      }),
    ).toEqualTypeOf<DrizzleStore<bigint>>();
  });

  it("still types options declared on their own, without type arguments", () => {
    const separate: DrizzleStoreOptions = { ...valid, source: { ...source, text: (s) => String(s.name) } };
    const sameRow: DrizzleStoreOptions = {
      db,
      source: { table: docs, key: docs.id, text: (d) => String(d.title) },
      target: { embedding: docs.embedding, model: docs.model, hash: docs.hash },
    };
    expect(() => drizzleStore(separate)).not.toThrow();
    expect(() => drizzleStore(sameRow)).not.toThrow();
  });

  it("refuses wrong wiring at compile time, and at run time naming the option", () => {
    const sameRowOnDocs = { table: docs, embedding: docs.embedding, model: docs.model, hash: docs.hash };
    const wrong = {
      sourceKeyOfAnotherTable: { ...valid, source: { ...source, key: docs.id } },
      targetKeyOfAnotherTable: { ...valid, target: { ...target, key: otherEmbeddings.skillId } },
      targetKeyOfAnotherType: { ...valid, target: { ...target, key: skillEmbeddings.skillSlug } },
      textEmbedding: { ...valid, target: { ...target, embedding: skillEmbeddings.modelName } },
      embeddingOfAnotherTable: { ...valid, target: { ...target, embedding: otherEmbeddings.embedding } },
      modelOfAnotherTable: { ...valid, target: { ...target, model: otherEmbeddings.model } },
      versionColumnWithoutVersion: { db, source, target },
      undefinedVersion: { ...valid, version: undefined },
      versionWithoutColumn: { db, version: "1", source, target: unversionedTarget },
      sameRowOnAnotherTable: { db, source, target: sameRowOnDocs },
      textNotAFunction: { ...valid, source: { ...source, text: "name" } },
    };
    const cases: [string, () => unknown][] = [
      // @ts-expect-error a source key of another table (Id would be that column's type)
      ["source.key", () => drizzleStore(wrong.sourceKeyOfAnotherTable)],
      // @ts-expect-error a target key of another table
      ["target.key", () => drizzleStore(wrong.targetKeyOfAnotherTable)],
      // @ts-expect-error a target key of another type than the source key (uuid vs serial)
      ["target.key", () => drizzleStore(wrong.targetKeyOfAnotherType)],
      // @ts-expect-error a text column as the embedding
      ["target.embedding", () => drizzleStore(wrong.textEmbedding)],
      // @ts-expect-error a vector column of another table
      ["target.embedding", () => drizzleStore(wrong.embeddingOfAnotherTable)],
      // @ts-expect-error a model column of another table
      ["target.model", () => drizzleStore(wrong.modelOfAnotherTable)],
      // @ts-expect-error `target.version` without `version`
      ["version", () => drizzleStore(wrong.versionColumnWithoutVersion)],
      // @ts-expect-error an undefined version is no version
      ["version", () => drizzleStore(wrong.undefinedVersion)],
      // @ts-expect-error `version` without `target.version`: it would be ignored
      ["target.version", () => drizzleStore(wrong.versionWithoutColumn)],
      // @ts-expect-error the same-row layout (no key) on another table than the source
      ["target.key", () => drizzleStore(wrong.sameRowOnAnotherTable)],
      // @ts-expect-error text() must be a function
      ["source.text", () => drizzleStore(wrong.textNotAFunction)],
    ];
    for (const [option, make] of cases) expect(optionOf(make), option).toBe(option);
  });

  it("refuses what only run time can see", () => {
    const cases: [string, () => unknown][] = [
      ["db", () => drizzleStore({ ...valid, db: {} as never })],
      ["target.key", () => drizzleStore({ ...valid, target: { ...target, table: skills } } as never)],
      ["version", () => drizzleStore({ ...valid, version: "" })],
      ["partition.count", () => drizzleStore({ ...valid, partition: { index: 0, count: 0 } })],
      ["partition.index", () => drizzleStore({ ...valid, partition: { index: 3, count: 3 } })],
      ["partition.index", () => drizzleStore({ ...valid, partition: { index: 0.5, count: 3 } })],
    ];
    for (const [option, make] of cases) expect(optionOf(make), option).toBe(option);
  });
});
