/*
 * source.text as a SQL expression: PostgreSQL builds and hashes the text, staleness is decided in the
 * scan's query, and the hashes equal the JavaScript recipe's, so switching recipes re-embeds nothing.
 */
import { eq, sql } from "drizzle-orm";
import { integer, pgTable, text, vector } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import type { BackfillProgress } from "../../../src/index.js";
import { backfill, hashText, StoreError } from "../../../src/index.js";
import { scriptedProvider } from "../../../src/testing/index.js";
import { describeEachDatabase, type TestDatabase } from "../../support/index.js";
import { DIMENSIONS, MODEL } from "./fixtures.js";
import { runBackfill, scanAll } from "./helpers.js";

/** The plan's skills, with a nullable description (NULLs are where recipes part ways). */
const skills = pgTable("twin_skills", {
  id: integer("id").primaryKey(),
  name: text("name").notNull(),
  description: text("description"),
  content: text("content").notNull(),
  tags: text("tags").array(),
});
const skillEmbeddings = pgTable("twin_skill_embeddings", {
  skillId: integer("skill_id").primaryKey(),
  embedding: vector("embedding", { dimensions: DIMENSIONS }).notNull(),
  modelName: text("model_name").notNull(),
  modelVersion: text("model_version").notNull(),
  inputHash: text("input_hash").notNull(),
});
const other = pgTable("twin_other", { id: integer("id").primaryKey(), label: text("label") });
const DDL = `
  create table twin_skills (
    id integer primary key, name text not null, description text, content text not null, tags text[]
  );
  create table twin_skill_embeddings (
    skill_id integer primary key references twin_skills(id) on delete cascade,
    embedding vector(${DIMENSIONS}) not null,
    model_name text not null, model_version text not null, input_hash text not null
  );
  create table twin_other (id integer primary key, label text);`;

type Skill = typeof skills.$inferSelect;

/** The plan's recipe in JavaScript… */
const jsText = (s: Skill) => [s.name, s.description, s.content, ...(s.tags ?? [])].join(" ");
/** …and its exact SQL twin (the README's): NULLs become "" like join() makes them, tags may be NULL. */
const sqlText = sql`array_to_string(array[${skills.name}, ${skills.description}, ${skills.content}] || ${skills.tags}, ' ', '')`;

/** Rows where a near twin (concat_ws, array_to_string without its third argument) would differ. */
const TRICKY: Skill[] = [
  { id: 1, name: "csv", description: "parses csv", content: "body", tags: ["data", "io"] },
  { id: 2, name: "null description", description: null, content: "body", tags: ["x"] },
  { id: 3, name: "empty tags", description: "d", content: "body", tags: [] },
  { id: 4, name: "null tags", description: "d", content: "body", tags: null },
  { id: 5, name: "ünïcødé 😀 漢字", description: "e\u0301 ﬁ", content: "تست", tags: ["🏷️", "naïve"] },
  { id: 6, name: "", description: "", content: "", tags: [""] },
  { id: 7, name: "empty strings", description: "", content: "", tags: ["", "a", ""] },
  { id: 8, name: "null tag", description: null, content: "c", tags: ["a", null as unknown as string, "b"] },
  { id: 9, name: "  spaced  ", description: "\ttab\nnewline", content: " ", tags: null },
];

describeEachDatabase("drizzleStore with a SQL text recipe", (database) => {
  let t: TestDatabase;
  const target = {
    table: skillEmbeddings,
    key: skillEmbeddings.skillId,
    embedding: skillEmbeddings.embedding,
    model: skillEmbeddings.modelName,
    version: skillEmbeddings.modelVersion,
    hash: skillEmbeddings.inputHash,
  };
  const store = (text: typeof jsText | typeof sqlText = sqlText) =>
    drizzleStore({ db: t.db, version: "1", source: { table: skills, key: skills.id, text }, target });

  beforeAll(async () => {
    t = await database.create();
    await t.exec(DDL);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await t.exec("truncate twin_skills, twin_skill_embeddings cascade");
    await t.db.insert(skills).values(TRICKY);
  });

  it("hashes every tricky row like the JavaScript recipe, so switching recipes re-embeds nothing", async () => {
    const items = await scanAll(store(), "all");
    const byId = new Map(items.map((item) => [item.id, item]));
    expect([...byId.keys()].sort()).toEqual(TRICKY.map((row) => row.id));
    for (const row of TRICKY) {
      expect({ id: row.id, text: byId.get(row.id)!.text }).toEqual({ id: row.id, text: jsText(row) });
      expect(byId.get(row.id)!.hash).toBe(hashText(jsText(row)));
    }

    // Embedded by the JavaScript recipe, current for the SQL one. Except on postgres.js, where Drizzle
    // reads a NULL array element as the string "NULL": the JavaScript recipe then embeds "a NULL b"
    // for row 8, a text the row does not hold (the SQL recipe reads no row into JavaScript).
    const misread = database.driver === "postgres.js" ? [8] : [];
    const run = await runBackfill(store(jsText));
    expect(run.written).toBe(TRICKY.length);
    expect((await scanAll(store(), "stale")).map((item) => item.id)).toEqual(misread);
    expect(await store().coverage(MODEL)).toEqual({
      total: 9,
      embedded: 9 - misread.length,
      stale: misread.length,
      missing: 0,
    });

    // One edit: exactly that row is stale for both recipes, and the SQL one re-embeds it.
    await t.db.update(skills).set({ tags: null }).where(eq(skills.id, 8));
    expect((await scanAll(store(), "stale")).map((item) => item.id)).toEqual([8]);
    expect((await scanAll(store(jsText), "stale")).map((item) => item.id)).toEqual([8]);
    expect(await store().coverage(MODEL)).toEqual({ total: 9, embedded: 8, stale: 1, missing: 0 });
    expect((await runBackfill(store())).written).toBe(1);
    expect(await scanAll(store(jsText), "stale")).toEqual([]);
    expect(await scanAll(store(), "missing")).toEqual([]);
  });

  it("reads a short first page when asked (firstPageSize), then pageSize, counting all on the first", async () => {
    const pages: number[] = [];
    const counts: number[] = [];
    const scan = store().scan({
      ...MODEL,
      reembed: "stale",
      pageSize: 4,
      firstPageSize: 2,
      onCount: ({ rows }) => counts.push(rows),
    });
    for await (const page of scan) pages.push(page.length);
    expect(pages).toEqual([2, 4, 3]);
    expect(counts).toEqual([9]);
  });

  it("runs backfill() with the count of the scan's own query; a NULL text is empty_input", async () => {
    const provider = scriptedProvider({ dimensions: DIMENSIONS, limits: { maxInputsPerRequest: 4 } });
    const starts: BackfillProgress[] = [];
    const onProgress = (event: BackfillProgress) => {
      if (event.type === "start") starts.push(event);
    };
    // Row 6's text is three spaces: empty_input, like the JavaScript recipe's.
    const first = await backfill({ provider, store: store(), pageSize: 3, onProgress });
    expect(first).toMatchObject({ embedded: 8, skipped: 1, pending: 9, pendingCount: "exact" });
    expect(first.skippedRows).toEqual([{ id: 6, reason: "empty_input" }]);
    expect(starts).toMatchObject([{ pending: 9, pendingCount: "exact" }]);

    // Nothing to do but row 6 (never embedded): nothing else leaves the database.
    const noop = await backfill({ provider, store: store(), onProgress });
    expect(noop).toMatchObject({ embedded: 0, scanned: 1, pending: 1, pendingCount: "exact" });

    // A NULL text is the empty text.
    const nullForRow1 = sql`case when ${skills.id} = 1 then null else ${sqlText} end`;
    const nulls = await backfill({ provider, store: store(nullForRow1), onProgress });
    expect(nulls).toMatchObject({ embedded: 0, skipped: 2, scanned: 2, pending: 2 });
    expect(nulls.skippedRows).toEqual([
      { id: 1, reason: "empty_input" },
      { id: 6, reason: "empty_input" },
    ]);

    // The JavaScript recipe counts without texts: a lower bound (row 6, missing), growing as the scan
    // reads changed texts (row 3).
    await t.db.update(skills).set({ content: "edited" }).where(eq(skills.id, 3));
    const js = await backfill({ provider, store: store(jsText), onProgress });
    const misread = database.driver === "postgres.js" ? 1 : 0;
    expect(js).toMatchObject({ embedded: 1 + misread, skipped: 1, pendingCount: "at-least" });
    expect(js).toMatchObject({ scanned: 2 + misread, pending: 2 + misread });
    expect(starts.at(-1)).toMatchObject({ pending: 1, pendingCount: "at-least" });
  });

  it("writes compare-and-set on the hash PostgreSQL computes", async () => {
    const sqlStore = store();
    await sqlStore.prepare(MODEL);
    try {
      const items = await scanAll(sqlStore, "stale", 100);
      await t.db.update(skills).set({ content: "changed meanwhile" }).where(eq(skills.id, 4));
      const embedding = new Float32Array(DIMENSIONS).fill(0.5);
      const result = await sqlStore.write(
        items.map((item) => ({ id: item.id, hash: item.hash, embedding })),
        MODEL,
      );
      expect(result).toEqual({ written: TRICKY.length - 1, conflicts: [4] });
    } finally {
      await sqlStore.release();
    }
  });

  it("refuses, before any provider call, a recipe of another table or of another type", async () => {
    const provider = scriptedProvider({ dimensions: DIMENSIONS });
    const cases = [
      [sql`${skills.name} || ${other.label}`, /twin_other.*only the columns of the source table/s],
      [sql`${skills.name} || ${skillEmbeddings.modelName}`, /only the columns of the source table/],
      [sql`length(${skills.content})`, /is of type integer; it must give text/],
      [sql`${skills.tags}`, /is of type text\[\]/],
    ] as const;
    for (const [recipe, message] of cases) {
      const error = await backfill({ provider, store: store(recipe) }).catch((e: unknown) => e);
      expect(StoreError.isInstance(error) && error.reason).toBe("schema");
      expect((error as Error).message).toMatch(/source\.text \(SQL `/);
      expect((error as Error).message).toMatch(message);
    }
    expect(provider.calls).toHaveLength(0);
  });

  it("names the row a SQL recipe fails for, in the scan and in coverage()", async () => {
    await runBackfill(store());
    // Division by zero for the one row whose content is 4 characters long ("body" rows: 1 to 4).
    await t.db.update(skills).set({ content: "long content" }).where(sql`${skills.id} <> 3`);
    const failing = sql`(10 / (length(${skills.content}) - 4))::text`;
    for (const attempt of [() => scanAll(store(failing), "stale"), () => store(failing).coverage(MODEL)]) {
      const error = await attempt().catch((e: unknown) => e);
      expect(StoreError.isInstance(error) && error.reason).toBe("row");
      expect((error as StoreError).rowId).toBe(3);
      expect((error as Error).message).toMatch(/failed for twin_skills row 3: division by zero$/);
    }
  });

  it("coverage() honours its signal", async () => {
    const controller = new AbortController();
    const reason = new Error("stop counting");
    controller.abort(reason);
    await expect(store().coverage({ ...MODEL, signal: controller.signal })).rejects.toBe(reason);
    await expect(store(jsText).coverage({ ...MODEL, signal: controller.signal })).rejects.toBe(reason);
  });
});
