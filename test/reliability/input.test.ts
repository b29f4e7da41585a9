/*
 * Bad input, end to end: empty and white-space-only texts, null columns, texts over the model's
 * context (truncation on and off), 10 MB of content, unicode that breaks naive code, SQL
 * metacharacters in texts and keys, every key type Drizzle maps, and composite keys (unsupported: a
 * clear error before any request). Each has one defined outcome, listed in the README.
 */
import { sql } from "drizzle-orm";
import { integer, pgTable, primaryKey, text, vector } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { drizzleStore } from "../../adapters/drizzle/index.js";
import { APICallError, BackfillError, backfill, InvalidOptionError, StoreError } from "../../src/index.js";
import { describeEachDatabase, type TestDatabase } from "../support/index.js";
import {
  DIMENSIONS,
  type ItemRow,
  itemStore,
  itemTables,
  itemText,
  type KeyKind,
  longText,
  OPENAI_MODEL,
  openai,
  queryRows,
  rejectionOf,
  resetItems,
  seedRow,
  useEmulator,
  VOYAGE_CONTEXT,
  verifyEmbeddings,
  voyage,
  writeTally,
} from "./harness.js";

writeTally("input");

const tables = itemTables("input");
const KINDS: KeyKind[] = ["integer", "bigint", "uuid", "text"];
const keyed = Object.fromEntries(KINDS.map((kind) => [kind, itemTables(`key_${kind}`, kind)])) as Record<
  KeyKind,
  ReturnType<typeof itemTables>
>;

/** Row `i`'s key of `kind`: bigints past 2^53, uuids, texts full of SQL metacharacters. */
function keyFor(kind: KeyKind, i: number): number | bigint | string {
  switch (kind) {
    case "integer":
      return i;
    case "bigint":
      return 9_007_199_254_740_993n + BigInt(i) * 1_000_000_007n;
    case "uuid":
      return `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
    case "text":
      return [`k'${i}";--`, `'); drop table rel_items_input; --${i}`, `$${i} %s \\x`, `😀 ${i}`][i % 4]!;
  }
}

const composite = pgTable(
  "rel_pairs",
  { a: integer("a").notNull(), b: integer("b").notNull(), title: text("title").notNull() },
  (t) => [primaryKey({ columns: [t.a, t.b] })],
);
const compositeEmbeddings = pgTable("rel_pair_embeddings", {
  a: integer("a").primaryKey(),
  embedding: vector("embedding", { dimensions: DIMENSIONS }).notNull(),
  model: text("model").notNull(),
  hash: text("hash").notNull(),
});
const COMPOSITE_DDL = `
  create table rel_pairs (a integer not null, b integer not null, title text not null, primary key (a, b));
  create table rel_pair_embeddings (a integer primary key, embedding vector(${DIMENSIONS}) not null,
    model text not null, hash text not null);
  insert into rel_pairs values (1, 1, 'one'), (1, 2, 'two');`;

describeEachDatabase("reliability: bad input", (database) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await database.create();
    await t.exec(tables.ddl + KINDS.map((kind) => keyed[kind].ddl).join("\n") + COMPOSITE_DDL);
  });
  afterAll(() => t?.close());

  const h = useEmulator("msw");
  const sent = () => h.emulator.calls.flatMap((call) => (call.body as { input?: string[] }).input ?? []);
  const run = (options: { text?: (row: any) => string; truncation?: boolean; api?: "openai" } = {}) =>
    backfill({
      provider:
        options.api === "openai"
          ? openai(h.openaiBaseURL)
          : voyage(h.voyageBaseURL, { truncation: options.truncation }),
      store: itemStore(t.db, tables, { text: options.text }),
      maxInputsPerRequest: 4,
      retryMinDelayMs: 2,
    });

  describe("texts", () => {
    beforeEach(() => resetItems(t.db, tables, []));

    // What the engine and the provider do with these does not depend on the database: PGlite only.
    if (!database.realServer) {
      it("empty and white-space-only texts are never sent: skipped as empty_input, they stay pending", async () => {
        const blank = ["", "   ", "\t\r\n", "\u00a0\u3000\u2028", "\n"];
        const rows: ItemRow[] = [
          ...blank.map((title, i) => ({ id: i + 1, title, body: null })),
          { id: 6, title: "", body: "" }, // "\n"
          { id: 7, title: "\u200b", body: null }, // zero-width space is not white space: sent
          seedRow(8),
        ];
        await resetItems(t.db, tables, rows);
        const report = await run();
        expect(report.skippedByReason.empty_input).toBe(6);
        expect(report.skippedRows.map((s) => s.id).sort()).toEqual([1, 2, 3, 4, 5, 6]);
        expect(sent().every((input) => input.trim() !== "")).toBe(true);
        expect(sent()).toContain("\u200b");
        expect(await verifyEmbeddings(t.db, tables)).toMatchObject({
          current: 2,
          pendingIds: ["1", "2", "3", "4", "5", "6"],
        });
        // A re-run reports them again and sends nothing.
        h.emulator.reset();
        const again = await run();
        expect(again).toMatchObject({ skipped: 6, embedded: 0, requests: 0 });
        expect(h.emulator.stats.requests).toBe(0);
      });

      it("null columns: a text() that handles them embeds every row", async () => {
        await resetItems(t.db, tables, [seedRow(1), { id: 2, title: "no body", body: null }, seedRow(3)]);
        expect(await run()).toMatchObject({ embedded: 3, skipped: 0 });
        expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 3, pending: 0 });
      });

      it("null columns: a text() that throws or returns null stops the run with a StoreError naming the row", async () => {
        await resetItems(t.db, tables, [seedRow(1), { id: 2, title: "no body", body: null }, seedRow(3)]);
        const throws = (row: ItemRow) => `${row.title} ${row.body!.trim()}`;
        const returnsNull = (row: ItemRow) => row.body as string;
        for (const text of [throws, returnsNull]) {
          const error = await rejectionOf(run({ text }));
          expect(BackfillError.isInstance(error)).toBe(true);
          expect(StoreError.isInstance(error.cause) && error.cause.reason === "row").toBe(true);
          expect(error.cause.message).toContain("rel_items_input row 2");
          expect(h.emulator.stats.requests).toBe(0); // the page failed before anything was sent
          await verifyEmbeddings(t.db, tables, { text: itemText });
        }
      });

      it("over the context, truncation on: embedded from the text cut to the context", async () => {
        const long = longText(VOYAGE_CONTEXT + 5000);
        await resetItems(t.db, tables, [seedRow(1), { id: 2, title: "long", body: long }]);
        expect(await run()).toMatchObject({ embedded: 2, skipped: 0 });
        // The library sends the whole text: the API truncates (and bills the context at most).
        expect(sent()).toContain(`long\n${long}`);
        expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 2 });
      });

      it("over the context, truncation off: refused alone, skipped as input_too_long, the rest embedded", async () => {
        const rows = [...Array.from({ length: 6 }, (_, i) => seedRow(i + 1))];
        rows.splice(2, 0, { id: 99, title: "long", body: longText(VOYAGE_CONTEXT + 10) });
        await resetItems(t.db, tables, rows);
        const report = await run({ truncation: false });
        expect(report).toMatchObject({
          embedded: 6,
          skipped: 1,
          skippedRows: [{ id: 99, reason: "input_too_long" }],
        });
        expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 6, pendingIds: ["99"] });
      });

      it("OpenAI: an input over 8,192 tokens is skipped as input_too_long", async () => {
        await resetItems(t.db, tables, [
          seedRow(1),
          { id: 2, title: "long", body: longText(9000) },
          seedRow(3),
        ]);
        const report = await run({ api: "openai" });
        expect(report).toMatchObject({ embedded: 2, skippedRows: [{ id: 2, reason: "input_too_long" }] });
        expect(await verifyEmbeddings(t.db, tables, { model: OPENAI_MODEL })).toMatchObject({
          current: 2,
          pendingIds: ["2"],
        });
      });
    }

    // Moving 10 MB through a driver: PGlite and node-postgres.
    if (database.driver !== "postgres.js") {
      it("10 MB of content: refused for its size (never repeated as is), skipped; the rest embedded", async () => {
        const huge = longText(2_600_000); // 10.4 MB
        await resetItems(t.db, tables, [
          seedRow(1),
          seedRow(2),
          { id: 3, title: "huge", body: huge },
          seedRow(4),
        ]);
        const report = await run();
        expect(report).toMatchObject({ embedded: 3, skippedRows: [{ id: 3, reason: "input_too_long" }] });
        // Its estimate (at most the model's context once truncated) is more than a request's target:
        // it travels alone, and is refused once.
        expect(h.emulator.calls.filter((c) => c.status === 400)).toHaveLength(1);
        expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 3, pendingIds: ["3"] });
      });
    }

    it("unicode: emoji, RTL, combining marks, zero-width characters, lone surrogates", async () => {
      const titles = [
        "👩‍👩‍👧‍👦 family, 🇫🇷 flag, 🏳️‍🌈",
        "שלום עולם — مرحبا بالعالم",
        "école", // NFC
        "e\u0301cole", // NFD: another text, another hash, embedded on its own
        "zero\u200bwidth\u200c\u200d\ufeffjoiners",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202eoverride\u202c",
        "cut:😀 high surrogate left alone",
        "cut:😀 low surrogate first",
      ];
      await resetItems(
        t.db,
        tables,
        titles.map((title, i) => ({ id: i + 1, title, body: null })),
      );
      // A text() that slices by UTF-16 units can split a pair: JSON APIs refuse lone surrogates.
      const text = (row: ItemRow) =>
        row.id === 7 ? row.title.slice(0, 5) : row.id === 8 ? row.title.slice(5) : itemText(row);
      expect(text({ id: 7, title: titles[6]!, body: null }).isWellFormed()).toBe(false);
      expect(text({ id: 8, title: titles[7]!, body: null }).isWellFormed()).toBe(false);
      expect(await run({ text })).toMatchObject({ embedded: 8, skipped: 0 });
      expect(sent().every((input) => input.isWellFormed())).toBe(true);
      expect(sent()).toContain("cut:\ufffd");
      // Stored hashes are of the row's own text, so the rows stay current.
      expect(await verifyEmbeddings(t.db, tables, { text })).toMatchObject({ current: 8, pending: 0 });
      expect(await run({ text })).toMatchObject({ pending: 0, embedded: 0 });
    });

    it("SQL metacharacters in texts are data", async () => {
      const nasty = [
        "'); drop table rel_items_input; --",
        "Robert\"); delete from rel_item_embeddings_input where ('1'='1",
        "$1 $$ $tag$ %s %% \\ \\\\ ? :name @var",
        "E'\\x41' U&'\\0041' /* comment */ -- tail",
      ];
      await resetItems(
        t.db,
        tables,
        nasty.map((title, i) => ({ id: i + 1, title, body: title })),
      );
      expect(await run()).toMatchObject({ embedded: 4 });
      expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ rows: 4, current: 4 });
    });
  });

  describe.each(KINDS)("%s keys", (kind) => {
    const kt = keyed[kind];
    const rows = Array.from({ length: 12 }, (_, i) => seedRow(i + 1, keyFor(kind, i + 1)));
    beforeEach(() => resetItems(t.db, kt, rows));

    it("complete run; a failed batch names its rows by their exact keys; a re-run resumes", async () => {
      h.emulator.inject("invalid_key", { afterRequests: 1 });
      const run = () =>
        backfill({
          provider: voyage(h.voyageBaseURL),
          store: itemStore(t.db, kt),
          maxInputsPerRequest: 4,
          concurrency: 1,
        });
      const error = await rejectionOf(run());
      expect(
        APICallError.isInstance(error.cause) && error.cause.reason === "authentication",
        String(error),
      ).toBe(true);
      // Keys sort as the database orders them; the second batch of four is the one refused.
      const afterFirst = await verifyEmbeddings(t.db, kt);
      expect(afterFirst.current).toBe(4);
      expect(error.rowIds).toHaveLength(4);
      for (const id of error.rowIds) {
        // The exact key, of the key's type: a bigint past 2^53 is not rounded through a number.
        expect(rows.map((row) => row.id)).toContainEqual(id);
        expect(afterFirst.pendingIds).toContain(String(id));
      }
      const report = await run();
      expect(report.embedded).toBe(8);
      expect(await verifyEmbeddings(t.db, kt)).toMatchObject({ rows: 12, current: 12 });
    });
  });

  describe("composite keys", () => {
    it("are not supported: a key that is part of one is refused before any request", async () => {
      const store = drizzleStore({
        db: t.db,
        source: { table: composite, key: composite.a, text: (row) => row.title },
        target: {
          table: compositeEmbeddings,
          key: compositeEmbeddings.a,
          embedding: compositeEmbeddings.embedding,
          model: compositeEmbeddings.model,
          hash: compositeEmbeddings.hash,
        },
      });
      const error = await rejectionOf(backfill({ provider: voyage(h.voyageBaseURL), store }));
      expect(StoreError.isInstance(error) && error.reason === "schema").toBe(true);
      expect(error.message).toContain(
        "rel_pairs.a is unique only together with other columns (a, b), not alone",
      );
      expect(error.message).toContain("Composite keys are not supported");
      expect(h.emulator.stats.requests).toBe(0);
      expect(await queryRows(t.db, sql`select * from rel_pair_embeddings`)).toEqual([]);
    });

    it("are not supported: a list of columns is refused when the store is made", () => {
      let error: unknown;
      try {
        drizzleStore({
          db: t.db,
          source: { table: composite, key: [composite.a, composite.b] as any, text: (row) => row.title },
          target: {
            table: compositeEmbeddings,
            key: compositeEmbeddings.a,
            embedding: compositeEmbeddings.embedding,
            model: compositeEmbeddings.model,
            hash: compositeEmbeddings.hash,
          },
        });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error).toMatchObject({ option: "source.key" });
      expect((error as Error).message).toMatch(/composite keys such as \[tenant_id, id\] are not supported/);
    });
  });
});
