/*
 * Keys whose JavaScript value is not the key: a `timestamp` read as a `Date` (milliseconds only) and a
 * `bigint` in `mode: "number"` past 2^53. Paging must stay exact whatever the key reads as, and a key
 * that `write()` could not find again is refused before any vector is made for it.
 */
import { asc, count } from "drizzle-orm";
import { bigint, type PgColumn, type PgTable, pgTable, text, timestamp, vector } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../../adapters/drizzle/config.js";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import { nextCursor, type SourceRowState } from "../../../adapters/drizzle/source-rows.js";
import { StoreError } from "../../../src/errors/index.js";
import { describeEachDatabase, type TestDatabase } from "../../support/index.js";
import { DIMENSIONS, MODEL } from "./fixtures.js";
import { runBackfill, scanAll } from "./helpers.js";

const PAGE_SIZES = [1, 2, 3, 7, 100];

/** Microsecond timestamps, some a microsecond apart (equal as a `Date`), and millisecond ones. */
const TIMESTAMPS = [
  "2024-01-01 00:00:00",
  "2024-01-01 00:00:00.000001",
  "2024-01-01 00:00:00.000002",
  "2024-01-01 00:00:00.001",
  "2024-01-01 00:00:00.001999",
  "2024-01-01 00:00:01.5",
  "2024-06-30 23:59:59.999999",
];

/** Around 2^53, where a JavaScript number can no longer hold every integer. */
const BIGINTS = [
  "9007199254740990",
  "9007199254740991",
  "9007199254740992",
  "9007199254740993",
  "9007199254740994",
  "9007199254740995",
  "9223372036854775807",
];

type Key = "timestamp" | "timestamptz" | "bigint";
const SQL_TYPE: Record<Key, string> = {
  timestamp: "timestamp",
  timestamptz: "timestamptz",
  bigint: "bigint",
};
const KEYS: Record<Key, string[]> = {
  timestamp: TIMESTAMPS,
  timestamptz: TIMESTAMPS.map((value) => `${value}+00`),
  bigint: BIGINTS,
};

function keyColumn(kind: Key, exact: boolean, name: string) {
  if (kind === "bigint") return bigint(name, { mode: exact ? "bigint" : "number" });
  const withTimezone = kind === "timestamptz";
  return exact ? timestamp(name, { withTimezone, mode: "string" }) : timestamp(name, { withTimezone });
}

function tables(kind: Key) {
  const suffix = `inexact_${kind}`;
  const table = (exact: boolean) => {
    const docs = pgTable(`docs_${suffix}`, {
      id: keyColumn(kind, exact, "id").primaryKey(),
      body: text("body").notNull(),
    });
    const embeddings = pgTable(`emb_${suffix}`, {
      docId: keyColumn(kind, exact, "doc_id").primaryKey(),
      embedding: vector("embedding", { dimensions: DIMENSIONS }).notNull(),
      model: text("model").notNull(),
      hash: text("hash").notNull(),
    });
    return { docs, embeddings };
  };
  const type = SQL_TYPE[kind];
  const ddl = `
    create table docs_${suffix} (id ${type} primary key, body text not null);
    create table emb_${suffix} (doc_id ${type} primary key references docs_${suffix}(id),
      embedding vector(${DIMENSIONS}) not null, model text not null, hash text not null);
    insert into docs_${suffix} (id, body)
      select k::${type}, 'same text' from unnest(array[${KEYS[kind].map((k) => `'${k}'`).join(",")}]) as k;`;
  return { exact: table(true), inexact: table(false), ddl, suffix };
}

function storeOf(db: TestDatabase["db"], t: { docs: PgTable & { id: PgColumn }; embeddings: any }) {
  return drizzleStore({
    db,
    source: { table: t.docs, key: t.docs.id, text: (row) => String(row.body) },
    target: {
      table: t.embeddings,
      key: t.embeddings.docId,
      embedding: t.embeddings.embedding,
      model: t.embeddings.model,
      hash: t.embeddings.hash,
    },
  });
}

describeEachDatabase("drizzleStore inexact keys", (database) => {
  let t: TestDatabase;
  const kinds: Key[] = ["timestamp", "timestamptz", "bigint"];
  const all = Object.fromEntries(kinds.map((kind) => [kind, tables(kind)])) as Record<
    Key,
    ReturnType<typeof tables>
  >;

  beforeAll(async () => {
    t = await database.create();
    await t.exec(kinds.map((kind) => all[kind].ddl).join("\n"));
  });
  afterAll(() => t?.close());

  describe.each(kinds)("%s key", (kind) => {
    const { exact, inexact, suffix } = all[kind];
    const rows = KEYS[kind].length;
    const fix = kind === "bigint" ? 'mode: "bigint"' : 'mode: "string"';

    it.each(PAGE_SIZES)(
      "refuses the inexact key with a StoreError naming the column and the fix, before yielding it (page size %i)",
      async (pageSize) => {
        const store = storeOf(t.db, inexact as never);
        const yielded: unknown[] = [];
        const error = await (async () => {
          for await (const page of store.scan({ ...MODEL, reembed: "all", pageSize })) {
            yielded.push(...page.map((item) => item.id));
          }
        })().catch((e: unknown) => e);
        expect(StoreError.isInstance(error)).toBe(true);
        expect((error as StoreError).reason).toBe("schema");
        expect((error as Error).message).toContain(`docs_${suffix}.id`);
        expect((error as Error).message).toContain(fix);
        // Only keys that read back exactly were yielded, each once: the inexact one made no vector.
        expect(new Set(yielded.map(String)).size).toBe(yielded.length);
        expect(yielded.length).toBeLessThan(rows);
      },
    );

    it("fails a backfill before any provider call when the first page holds an inexact key", async () => {
      const error = await runBackfill(storeOf(t.db, inexact as never), {
        reembed: "missing",
        pageSize: 4,
      }).catch((e: unknown) => e);
      expect(StoreError.isInstance(error)).toBe(true);
      expect((await t.db.select({ n: count() }).from(inexact.embeddings))[0]!.n).toBe(0);
    });

    it("counts coverage over every row, without looping", async () => {
      const coverage = await storeOf(t.db, inexact as never).coverage(MODEL);
      expect(coverage).toEqual({ total: rows, embedded: 0, stale: 0, missing: rows });
    });

    it.each(PAGE_SIZES)(
      "pages every row exactly once with an exact mode (page size %i)",
      async (pageSize) => {
        const ordered = (
          await t.db.select({ id: exact.docs.id }).from(exact.docs).orderBy(asc(exact.docs.id))
        ).map((row) => row.id);
        expect(ordered).toHaveLength(rows);
        const items = await scanAll(storeOf(t.db, exact as never), "all", pageSize);
        expect(items.map((item) => item.id)).toEqual(ordered);
      },
    );

    it("backfills every row with an exact mode, then finds nothing pending", async () => {
      const store = storeOf(t.db, exact as never);
      const run = await runBackfill(store, { reembed: "missing", pageSize: 3 });
      expect(run.conflicts).toEqual([]);
      expect(run.written).toBe(rows);
      expect(await scanAll(store, "stale", 2)).toEqual([]);
      expect(await store.coverage(MODEL)).toEqual({ total: rows, embedded: rows, stale: 0, missing: 0 });
      await t.exec(`delete from emb_${suffix}`);
    });
  });
});

describe("nextCursor", () => {
  it("throws a StoreError naming the key column when a page makes no progress", () => {
    const docs = pgTable("docs", { id: text("id").primaryKey(), body: text("body") });
    const emb = pgTable("emb", {
      docId: text("doc_id"),
      embedding: vector("embedding", { dimensions: 3 }),
      model: text("model"),
      hash: text("hash"),
    });
    const config = resolveConfig({
      db: { execute() {}, transaction() {} } as never,
      source: { table: docs, key: docs.id, text: () => "" },
      target: { table: emb, key: emb.docId, embedding: emb.embedding, model: emb.model, hash: emb.hash },
    });
    const page = [{ cursor: "a" }, { cursor: "b" }] as SourceRowState[];
    expect(nextCursor(config, page, "a")).toBe("b");
    expect(() => nextCursor(config, page, "b")).toThrow(/docs\.id made no progress/);
  });
});
