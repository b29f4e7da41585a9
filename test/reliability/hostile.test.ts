/*
 * Hostile or careless input that once went wrong quietly: a text() that throws (the row unnamed), a
 * text() that is not a pure function of the row (blamed on concurrent edits, re-billed forever), an
 * input too large for any request (refused again and again inside batches; a dry run that did not
 * foresee it), all-zero vectors (from a provider, stored, or asked for), malformed query vectors, and
 * a run whose transaction cannot commit (a raw driver error instead of a BackfillError). Each has one
 * defined outcome, listed in the README's "Reliability" table.
 */
import { pgTable, text, vector } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { drizzleStore } from "../../adapters/drizzle/index.js";
import {
  BackfillError,
  backfill,
  DimensionMismatchError,
  InvalidOptionError,
  InvalidResponseError,
  StoreError,
} from "../../src/index.js";
import { describeEachDatabase, type TestDatabase } from "../support/index.js";
import {
  DIMENSIONS,
  type ItemRow,
  itemStore,
  itemTables,
  itemText,
  longText,
  reachableStrings,
  rejectionOf,
  resetItems,
  seedRow,
  useEmulator,
  VOYAGE_CONTEXT,
  verifyEmbeddings,
  voyage,
  writeTally,
} from "./harness.js";

writeTally("hostile");

const tables = itemTables("hostile");
const rows = (n: number) => Array.from({ length: n }, (_, i) => seedRow(i + 1));

describeEachDatabase("reliability: hostile input", (database) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await database.create();
    await t.exec(tables.ddl);
  });
  afterAll(() => t?.close());
  beforeEach(() => resetItems(t.db, tables, []));

  const h = useEmulator("msw");
  const refusals = () => h.emulator.calls.filter((call) => call.status === 400).length;
  const run = (
    options: {
      text?: (row: any) => string;
      truncation?: boolean;
      dryRun?: boolean;
      atomic?: boolean;
      pageSize?: number;
    } = {},
  ) =>
    backfill({
      provider: voyage(h.voyageBaseURL, { truncation: options.truncation }),
      store: itemStore(t.db, tables, { text: options.text }),
      maxInputsPerRequest: 4,
      concurrency: 1,
      retryMinDelayMs: 2,
      dryRun: options.dryRun,
      atomic: options.atomic,
      pageSize: options.pageSize,
    });

  it("a text() that throws for one row: BackfillError names it (rowIds, report.failed), in sentences", async () => {
    await resetItems(t.db, tables, rows(10));
    const text = (row: ItemRow) => {
      if (row.id === 6) throw new Error("no body for row 6 (row 6)");
      return itemText(row);
    };
    const error = await rejectionOf(run({ text, pageSize: 4 }));
    expect(BackfillError.isInstance(error)).toBe(true);
    expect(StoreError.isInstance(error.cause) && error.cause.reason === "row").toBe(true);
    expect(error.rowIds).toEqual([6]);
    expect(error.report.failed).toBe(1);
    // The cause's text, then a full stop, then the rows, then what was written: no run-on sentence.
    expect(error.message).toMatch(/\(row 6\)\. Failed rows: 6\. \d+ rows were written before it stopped/);
    const verified = await verifyEmbeddings(t.db, tables);
    expect(verified.pendingIds).toContain("6");
    expect(verified.current).toBe(error.report.embedded);
  });

  it("a text() that differs from itself for the same row: skipped as nondeterministic_text, not changed_during_run", async () => {
    await resetItems(t.db, tables, rows(6));
    let calls = 0;
    // Reads state outside the row (a counter here; a clock, Math.random, a Set's order in real code).
    const text = (row: ItemRow) =>
      row.id === 3 || row.id === 5 ? `${itemText(row)} #${calls++}` : itemText(row);
    const report = await run({ text });
    expect(report.skippedByReason).toMatchObject({ nondeterministic_text: 2, changed_during_run: 0 });
    expect(report.skippedRows).toEqual([
      { id: 3, reason: "nondeterministic_text" },
      { id: 5, reason: "nondeterministic_text" },
    ]);
    expect(report.embedded).toBe(4);
    expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 4, pendingIds: ["3", "5"] });
  });

  it("an atomic run whose commit fails: BackfillError (rolledBack, report), not the driver's error", async () => {
    // A deferred constraint trigger fails at COMMIT: after every write of the run succeeded.
    await t.exec(`
      create function rel_hostile_refuse() returns trigger language plpgsql as
        $$ begin raise exception 'refused at commit by rel_hostile_refuse'; end $$;
      create constraint trigger rel_hostile_at_commit after insert or update on rel_item_embeddings_hostile
        deferrable initially deferred for each row execute function rel_hostile_refuse();`);
    try {
      await resetItems(t.db, tables, rows(6));
      const error = await rejectionOf(run({ atomic: true }));
      expect(BackfillError.isInstance(error), String(error)).toBe(true);
      expect(error.rolledBack).toBe(true);
      expect(error.report).toMatchObject({ scanned: 6, embedded: 0, requests: 2 });
      expect(reachableStrings(error.cause).join(" ")).toContain("refused at commit");
      expect(error.message).toContain("rolled back");
      expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 0, pending: 6 });
    } finally {
      await t.exec(`drop trigger rel_hostile_at_commit on rel_item_embeddings_hostile;
        drop function rel_hostile_refuse();`);
    }
  });

  it("query vectors: NaN, a wrong length and all zeros are refused, typed, without printing the vector", async () => {
    await resetItems(t.db, tables, rows(3));
    const store = itemStore(t.db, tables);
    expect(await run()).toMatchObject({ embedded: 3 });
    const query = Array.from({ length: DIMENSIONS }, (_, i) => Math.sin(i + 1));

    const nan = await rejectionOf(store.nearest(query.map((x, i) => (i === 7 ? Number.NaN : x))));
    expect(InvalidOptionError.isInstance(nan) && nan.option === "vector", String(nan)).toBe(true);
    expect(nan.message).toContain("position 7");
    expect(nan.message.length).toBeLessThan(200);

    const short = await rejectionOf(store.nearest(query.slice(0, 3)));
    expect(DimensionMismatchError.isInstance(short) && short.source === "query", String(short)).toBe(true);
    expect(short).toMatchObject({ expected: DIMENSIONS, actual: 3 });

    const zero = await rejectionOf(store.nearest(new Array(DIMENSIONS).fill(0)));
    expect(InvalidOptionError.isInstance(zero), String(zero)).toBe(true);
    expect(zero.message).toContain("not all zeros");

    // A stored all-zero vector (written by other code) has no distance: never a result, never NaN.
    await t.exec(
      `update rel_item_embeddings_hostile set embedding = array_fill(0, array[${DIMENSIONS}])::vector where item_id = 2`,
    );
    const hits = await store.nearest(query, { limit: 10, model: voyage(h.voyageBaseURL).model });
    expect(hits.map((hit) => hit.id).sort()).toEqual([1, 3]);
    expect(hits.every((hit) => Number.isFinite(hit.distance) && Number.isFinite(hit.similarity))).toBe(true);
    expect(await store.findSimilar(2)).toEqual([]);
  });

  it("a nullable unique key column: refused by prepare() before any request, naming the column", async () => {
    await t.exec(`
      create table rel_slugs (slug text unique, title text not null);
      create table rel_slug_embeddings (slug text primary key, embedding vector(${DIMENSIONS}) not null,
        model text not null, hash text not null);
      insert into rel_slugs values ('a', 'one'), (null, 'two'), (null, 'three');`);
    const slugs = pgTable("rel_slugs", { slug: text("slug").unique(), title: text("title").notNull() });
    const slugEmbeddings = pgTable("rel_slug_embeddings", {
      slug: text("slug").primaryKey(),
      embedding: vector("embedding", { dimensions: DIMENSIONS }).notNull(),
      model: text("model").notNull(),
      hash: text("hash").notNull(),
    });
    const store = drizzleStore({
      db: t.db,
      source: { table: slugs, key: slugs.slug, text: (row) => row.title },
      target: {
        table: slugEmbeddings,
        key: slugEmbeddings.slug,
        embedding: slugEmbeddings.embedding,
        model: slugEmbeddings.model,
        hash: slugEmbeddings.hash,
      },
    });
    const error = await rejectionOf(backfill({ provider: voyage(h.voyageBaseURL), store }));
    expect(StoreError.isInstance(error) && error.reason === "schema", String(error)).toBe(true);
    expect(error.message).toContain("rel_slugs.slug can be NULL");
    expect(h.emulator.stats.requests).toBe(0);
  });

  // What the engine does with the provider's answers does not depend on the database: PGlite only.
  if (!database.realServer) {
    it("an all-zero vector from the provider: refused (InvalidResponseError naming the row), nothing of its batch written", async () => {
      await resetItems(t.db, tables, rows(8));
      h.emulator.inject({ type: "zero_vector", index: 1 }, { afterRequests: 1 });
      const error = await rejectionOf(run());
      expect(BackfillError.isInstance(error)).toBe(true);
      expect(InvalidResponseError.isInstance(error.cause), String(error.cause)).toBe(true);
      expect(error.rowIds).toEqual([5, 6, 7, 8]);
      expect(error.cause.message).toContain("all-zero vector for row 6");
      expect(await verifyEmbeddings(t.db, tables)).toMatchObject({
        current: 4,
        pendingIds: ["5", "6", "7", "8"],
      });
    });

    it("an input over any request's limit (truncation on): sent alone, refused once; the dry run counts it so", async () => {
      // 1.5 MB: 375,000 of the emulator's tokens, over voyage-3.5's 320,000 a request, even alone.
      const huge = { id: 3, title: "huge", body: longText(375_000) };
      await resetItems(t.db, tables, [seedRow(1), seedRow(2), huge, seedRow(4), seedRow(5)]);
      const dry = await run({ dryRun: true });
      expect(h.emulator.calls).toHaveLength(0);
      const report = await run();
      expect(report).toMatchObject({ embedded: 4, skippedRows: [{ id: 3, reason: "input_too_long" }] });
      expect(refusals()).toBe(1);
      expect(dry.requests).toBe(report.requests);
      expect(dry.estimatedTokens).toBeGreaterThanOrEqual(report.tokens);
      expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 4, pendingIds: ["3"] });
    });

    it("an input over the context (truncation off): sent alone, refused once; the dry run counts it so", async () => {
      const long = { id: 2, title: "long", body: longText(VOYAGE_CONTEXT + 10) };
      await resetItems(t.db, tables, [seedRow(1), long, seedRow(3), seedRow(4)]);
      const dry = await run({ dryRun: true, truncation: false });
      const report = await run({ truncation: false });
      expect(report).toMatchObject({ embedded: 3, skippedRows: [{ id: 2, reason: "input_too_long" }] });
      expect(refusals()).toBe(1);
      expect(dry.requests).toBe(report.requests);
    });
  }
});
