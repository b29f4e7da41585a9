import { drizzle } from "drizzle-orm/node-postgres";
import { integer, pgTable, text, vector } from "drizzle-orm/pg-core";
import { describe, expect, it } from "vitest";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import { InvalidOptionError } from "../../../src/errors/index.js";
import { skillTables, skillText } from "./fixtures.js";

const db = drizzle.mock();
const { skills, skillEmbeddings } = skillTables("integer", "opts");
const docs = pgTable("docs", {
  id: integer("id").primaryKey(),
  title: text("title").notNull(),
  embedding: vector("embedding", { dimensions: 8 }),
  model: text("model"),
  hash: text("hash"),
});

const valid = {
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
};

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
  it("accepts the plan's call shape and the same-row shape", () => {
    expect(() => drizzleStore(valid)).not.toThrow();
    expect(() =>
      drizzleStore({
        db,
        source: { table: docs, key: docs.id, text: (d) => d.title },
        target: { embedding: docs.embedding, model: docs.model, hash: docs.hash },
      }),
    ).not.toThrow();
  });

  it("names the option that is wrong", () => {
    const { version: _version, ...noVersionColumn } = valid.target;
    const cases: [string, () => unknown][] = [
      ["db", () => drizzleStore({ ...valid, db: {} as never })],
      ["source.key", () => drizzleStore({ ...valid, source: { ...valid.source, key: docs.id as never } })],
      ["source.text", () => drizzleStore({ ...valid, source: { ...valid.source, text: "name" as never } })],
      [
        "target.embedding",
        () => drizzleStore({ ...valid, target: { ...valid.target, embedding: skills.name } }),
      ],
      ["target.model", () => drizzleStore({ ...valid, target: { ...valid.target, model: skills.name } })],
      ["version", () => drizzleStore({ ...valid, version: undefined })],
      ["target.version", () => drizzleStore({ ...valid, target: noVersionColumn })],
      ["target.key", () => drizzleStore({ ...valid, target: { ...valid.target, table: skills as never } })],
      ["partition.count", () => drizzleStore({ ...valid, partition: { index: 0, count: 0 } })],
      ["partition.index", () => drizzleStore({ ...valid, partition: { index: 3, count: 3 } })],
      ["partition.index", () => drizzleStore({ ...valid, partition: { index: 0.5, count: 3 } })],
    ];
    for (const [option, make] of cases) expect(optionOf(make), option).toBe(option);
  });

  it("refuses a same-row target on another table", () => {
    expect(
      optionOf(() =>
        drizzleStore({
          db,
          source: { table: skills, key: skills.id, text: skillText },
          target: { table: docs, embedding: docs.embedding, model: docs.model, hash: docs.hash },
        }),
      ),
    ).toBe("target.key");
  });
});
