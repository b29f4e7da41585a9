/*
 * Several models side by side (`target.perModel`) on PGlite and the real server: a new model is
 * backfilled while the active one keeps answering, searches never mix models, the cutover is one
 * step and refused below full coverage, switching back works, an interrupted migration pays no token
 * twice, prune removes exactly the old model's vectors, and a row edited mid-migration ends current
 * in both models or pending — never wrong.
 */
import { eq } from "drizzle-orm";
import { integer, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { anyVector, drizzleStore } from "../../../adapters/drizzle/index.js";
import { openaiProvider } from "../../../providers/openai/index.js";
import { backfill, hashText, InvalidOptionError, StoreError } from "../../../src/index.js";
import { deterministicEmbedding } from "../../../src/testing/deterministic-embedding.js";
import { scriptedProvider } from "../../../src/testing/scripted-provider.js";
import { useEmulator } from "../../reliability/harness.js";
import { describeEachDatabase, rejectionOf, type TestDatabase, until } from "../../support/index.js";
import { skillText, WORDS } from "./fixtures.js";

const skills = pgTable("skills_mm", {
  id: integer("id").primaryKey(),
  name: text("name").notNull(),
  description: text("description").notNull(),
  content: text("content").notNull(),
  tags: text("tags").array(),
});
const skillEmbeddings = pgTable(
  "skill_embeddings_mm",
  {
    skillId: integer("skill_id").notNull(),
    embedding: anyVector("embedding").notNull(),
    modelName: text("model_name").notNull(),
    modelVersion: text("model_version").notNull(),
    inputHash: text("input_hash").notNull(),
  },
  (t) => [uniqueIndex("skill_embeddings_mm_key").on(t.skillId, t.modelName, t.modelVersion)],
);
const DDL = `
  create table skills_mm (
    id integer primary key, name text not null, description text not null, content text not null, tags text[]
  );
  create table skill_embeddings_mm (
    skill_id integer not null references skills_mm(id) on delete cascade,
    embedding vector not null,
    model_name text not null,
    model_version text not null,
    input_hash text not null
  );
  create unique index skill_embeddings_mm_key on skill_embeddings_mm (skill_id, model_name, model_version);`;

/** The old model (8 dimensions) and the new one (12): a mix would compare vectors of two sizes. */
const OLD = { model: "old-8", dimensions: 8 };
const NEW = { model: "new-12", dimensions: 12 };
const ROWS = 30;

type Skill = { id: number; name: string; description: string; content: string; tags: string[] | null };
const rows = (): Skill[] =>
  Array.from({ length: ROWS }, (_, i) => ({
    id: i + 1,
    name: WORDS[i % WORDS.length]!,
    description: WORDS[(i * 5 + 3) % WORDS.length]!,
    content: `${WORDS[(i * 7 + 1) % WORDS.length]!} ${i}`,
    tags: [`t${i % 4}`],
  }));

const provider = (m: { model: string; dimensions: number }, latencyMs = 0) =>
  scriptedProvider({ provider: "test", model: m.model, dimensions: m.dimensions, latencyMs });

describeEachDatabase("drizzleStore with several models side by side (perModel)", (database) => {
  let t: TestDatabase;
  const msw = useEmulator("msw");
  const store = (extra: Record<string, unknown> = {}) =>
    drizzleStore({
      db: t.db,
      version: "1",
      source: { table: skills, key: skills.id, text: skillText },
      target: {
        table: skillEmbeddings,
        key: skillEmbeddings.skillId,
        embedding: skillEmbeddings.embedding,
        model: skillEmbeddings.modelName,
        version: skillEmbeddings.modelVersion,
        hash: skillEmbeddings.inputHash,
        perModel: true,
      },
      active: { table: "relay_models_mm" },
      ...extra,
    });
  /** Every stored vector, by model: its hash and whether it is exactly the vector of the row's current text. */
  async function stored() {
    const found = await t.db
      .select({
        id: skills.id,
        name: skills.name,
        description: skills.description,
        content: skills.content,
        tags: skills.tags,
        model: skillEmbeddings.modelName,
        hash: skillEmbeddings.inputHash,
        embedding: skillEmbeddings.embedding,
      })
      .from(skillEmbeddings)
      .innerJoin(skills, eq(skills.id, skillEmbeddings.skillId));
    return found.map((row) => {
      const text = skillText(row);
      const size = row.model === OLD.model ? OLD.dimensions : NEW.dimensions;
      const current = hashText(text) === row.hash;
      const exact = deterministicEmbedding(text, size).every(
        (x, i) => Math.fround(x) === Math.fround((row.embedding as number[])[i]!),
      );
      return { id: row.id, model: row.model, current, exact, size: (row.embedding as number[]).length };
    });
  }

  beforeAll(async () => {
    t = await database.create();
    await t.exec(DDL);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await t.exec("truncate skills_mm cascade; drop table if exists relay_models_mm");
    await t.db.insert(skills).values(rows());
  });

  it("migrates old → new: only the active model answers, cutover refused below full coverage, switch back, prune", async () => {
    const old = provider(OLD);
    await backfill({ provider: old, store: store() });
    expect(await store().activeModel()).toBeUndefined();
    const none = await rejectionOf(store().nearest(deterministicEmbedding("csv", OLD.dimensions)));
    expect(StoreError.isInstance(none) && none.reason).toBe("no_active_model");
    expect((await store().cutover({ model: OLD.model })).active).toMatchObject({
      model: OLD.model,
      version: "1",
      dimensions: OLD.dimensions,
    });
    await store().createIndex();

    // The new model, half-way: the old one still answers; the cutover is refused, stating the coverage.
    const next = provider(NEW);
    await backfill({ provider: next, store: store().withKeyRange({ through: ["12"] }) });
    const half = await store().coverage({ model: NEW.model });
    expect(half.embedded).toBeGreaterThan(0);
    expect(half.embedded).toBeLessThan(ROWS);
    const refused = await rejectionOf(store().cutover({ model: NEW.model }));
    expect(StoreError.isInstance(refused) && refused.reason).toBe("coverage_incomplete");
    expect((refused as StoreError).coverage).toEqual(half);
    expect(refused.message).toContain(`${half.embedded} of ${ROWS} rows`);
    expect((await store().activeModel())?.model).toBe(OLD.model);
    // Coverage is per model: the old model's is untouched by the new one's vectors.
    expect(await store().coverage({ model: OLD.model })).toEqual({
      total: ROWS,
      embedded: ROWS,
      stale: 0,
      missing: 0,
    });

    const hits = await store().search("csv json", {
      provider: [old, next],
      limit: ROWS,
      select: { model: skillEmbeddings.modelName },
    });
    expect(hits).toHaveLength(ROWS);
    expect(new Set(hits.map((hit) => hit.row.model))).toEqual(new Set([OLD.model]));
    expect(old.calls.at(-1)).toMatchObject({ inputType: "query" });
    // A provider of the inactive model alone is refused, never compared across models.
    const wrong = await rejectionOf(store().search("csv", { provider: next }));
    expect(InvalidOptionError.isInstance(wrong) && wrong.option).toBe("provider");

    // Complete, cut over: the new model answers, and its own partial index serves it.
    await backfill({ provider: next, store: store() });
    const { previous, active, coverage } = await store().cutover({ model: NEW.model });
    expect(previous?.model).toBe(OLD.model);
    expect(active).toMatchObject({ model: NEW.model, dimensions: NEW.dimensions });
    expect(coverage).toEqual({ total: ROWS, embedded: ROWS, stale: 0, missing: 0 });
    const index = await store().createIndex();
    expect(index).toBe("skill_embeddings_mm_embedding_new_12_1_hnsw_idx");
    const after = await store().search("csv json", {
      provider: [old, next],
      limit: ROWS,
      select: { model: skillEmbeddings.modelName },
    });
    expect(after).toHaveLength(ROWS);
    expect(new Set(after.map((hit) => hit.row.model))).toEqual(new Set([NEW.model]));
    const similar = await store().findSimilar(3, { limit: 5, select: { model: skillEmbeddings.modelName } });
    expect(similar.every((hit) => hit.row.model === NEW.model && hit.id !== 3)).toBe(true);
    const pairs = [];
    for await (const pair of store().findDuplicates({ threshold: -1, neighbors: 3 })) pairs.push(pair);
    expect(pairs.length).toBeGreaterThan(0);

    // Switch back, then forward again.
    expect((await store().cutover({ model: OLD.model })).active.model).toBe(OLD.model);
    expect((await store().search("csv", { provider: [next, old], limit: 3 })).length).toBe(3);
    await store().cutover({ model: NEW.model });

    // Prune: exactly the old model's rows, never the active model's.
    const activePrune = await rejectionOf(store().prune({ model: NEW.model }));
    expect(StoreError.isInstance(activePrune) && activePrune.reason).toBe("unsupported");
    expect(await store().prune({ model: OLD.model })).toBe(ROWS);
    const left = await stored();
    expect(left).toHaveLength(ROWS);
    expect(left.every((row) => row.model === NEW.model && row.current && row.exact)).toBe(true);
    // The old model, gone, cannot be switched back to.
    const gone = await rejectionOf(store().cutover({ model: OLD.model }));
    expect(StoreError.isInstance(gone) && gone.reason).toBe("coverage_incomplete");
  });

  it("while the new model backfills, every answer comes from the active model only", async () => {
    const old = provider(OLD);
    await backfill({ provider: old, store: store() });
    await store().cutover({ model: OLD.model });
    const next = provider(NEW);
    let answers = 0;
    /** Queries asked while the migration is in flight: each answer is checked. */
    const ask = async () => {
      const query = deterministicEmbedding(WORDS[answers % WORDS.length]!, OLD.dimensions);
      const near = await store().nearest(query, { limit: 10, select: { model: skillEmbeddings.modelName } });
      const text = await store().search(WORDS[answers % WORDS.length]!, {
        provider: [next, old],
        limit: ROWS,
        select: { model: skillEmbeddings.modelName },
      });
      expect(near).toHaveLength(10);
      expect(text).toHaveLength(ROWS);
      for (const hit of [...near, ...text]) expect(hit.row.model).toBe(OLD.model);
      answers++;
    };
    // Every request of the migration waits for a round of queries (made while earlier pages are written).
    next.script(
      ...Array.from({ length: ROWS }, () => async (texts: readonly string[]) => {
        await ask();
        return next.answer(texts);
      }),
    );
    const migration = backfill({ provider: next, store: store(), maxInputsPerRequest: 3, concurrency: 2 });
    expect((await migration).embedded).toBe(ROWS);
    await ask();
    expect(answers).toBe(ROWS / 3 + 1);
    // Both models complete, side by side, each exact.
    const all = await stored();
    expect(all).toHaveLength(2 * ROWS);
    expect(all.every((row) => row.current && row.exact)).toBe(true);
  });

  it("a search that read the active model just before a cutover and a prune answers from the new model", async () => {
    const old = provider(OLD);
    const next = provider(NEW);
    await backfill({ provider: old, store: store() });
    await backfill({ provider: next, store: store() });
    await store().cutover({ model: OLD.model });
    // The query is being embedded by the old model when the migration ends: cutover, then prune.
    old.script(async (texts) => {
      await store().cutover({ model: NEW.model });
      await store().prune({ model: OLD.model });
      return old.answer(texts);
    });
    const hits = await store().search("csv json", {
      provider: [old, next],
      limit: 5,
      select: { model: skillEmbeddings.modelName },
    });
    expect(hits).toHaveLength(5);
    expect(hits.every((hit) => hit.row.model === NEW.model)).toBe(true);
    expect(next.calls.at(-1)).toMatchObject({ texts: ["csv json"], inputType: "query" });
  });

  it("the new model in batch mode (half price) beside the active one, then cut over", async () => {
    await backfill({ provider: provider(OLD), store: store() });
    await store().cutover({ model: OLD.model });
    const next = openaiProvider({
      apiKey: "sk-test-models",
      model: "text-embedding-3-small",
      dimensions: NEW.dimensions,
      baseURL: msw.openaiBaseURL,
    });
    const report = await backfill({
      mode: "batch",
      provider: next,
      store: store(),
      maxInputsPerRequest: 10,
      pollIntervalMs: 1,
      maxPollIntervalMs: 4,
    });
    expect(report).toMatchObject({ pending: ROWS, embedded: ROWS, failed: 0 });
    expect(msw.emulator.stats.tokensBilled, "no realtime request").toBe(0);
    expect(msw.emulator.stats.batch.batchesCreated).toBeGreaterThan(0);
    expect(await store().coverage({ model: next.model })).toEqual({
      total: ROWS,
      embedded: ROWS,
      stale: 0,
      missing: 0,
    });
    expect((await store().activeModel())?.model).toBe(OLD.model);
    expect((await store().cutover({ model: next.model })).previous?.model).toBe(OLD.model);
    const hits = await store().nearest(deterministicEmbedding("csv", NEW.dimensions), {
      limit: ROWS,
      select: { model: skillEmbeddings.modelName },
    });
    expect(hits).toHaveLength(ROWS);
    expect(hits.every((hit) => hit.row.model === next.model)).toBe(true);
    const all = await stored();
    expect(all).toHaveLength(2 * ROWS);
    expect(all.every((row) => row.current && row.exact)).toBe(true);
  });

  it("an interrupted migration resumes and pays no token twice", async () => {
    await backfill({ provider: provider(OLD), store: store() });
    const next = provider(NEW);
    const controller = new AbortController();
    next.script(
      async (texts) => next.answer(texts),
      async (texts) => {
        // Stopped once the first request's rows are written: a deploy in the middle of the migration.
        await until(async () => (await store().coverage({ model: NEW.model })).embedded > 0);
        controller.abort(new Error("deploy"));
        return next.answer(texts);
      },
    );
    const first = await rejectionOf(
      backfill({
        provider: next,
        store: store(),
        maxInputsPerRequest: 5,
        concurrency: 1,
        signal: controller.signal,
      }),
    );
    expect(first).toBeDefined();
    const done = (await store().coverage({ model: NEW.model })).embedded;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(ROWS);
    await backfill({ provider: next, store: store(), maxInputsPerRequest: 5 });
    // Every row embedded by the new model once; the aborted request's rows, if unwritten, once more.
    const texts = next.calls.flatMap((call) => call.texts);
    const written = new Set(texts);
    expect(written.size).toBe(ROWS);
    expect(texts.length - ROWS).toBeLessThanOrEqual(5);
    expect(await store().coverage({ model: NEW.model })).toEqual({
      total: ROWS,
      embedded: ROWS,
      stale: 0,
      missing: 0,
    });
    expect(await store().coverage({ model: OLD.model })).toEqual({
      total: ROWS,
      embedded: ROWS,
      stale: 0,
      missing: 0,
    });
  });

  it("a row edited mid-migration ends current in both models or pending, never wrong", async () => {
    await backfill({ provider: provider(OLD), store: store() });
    const next = provider(NEW);
    next.script(async (texts) => {
      // Edited after its text was read for the new model, before the vector is written.
      await t.db.update(skills).set({ content: "edited during the migration" }).where(eq(skills.id, 2));
      return next.answer(texts);
    });
    const report = await backfill({ provider: next, store: store(), maxInputsPerRequest: 5, concurrency: 1 });
    expect(report.skippedByReason.changed_during_run).toBe(1);
    for (const row of await stored()) {
      // A vector is exactly its stored text's; where that text is no longer the row's, it is pending.
      expect(row.exact || !row.current).toBe(true);
    }
    expect((await store().coverage({ model: NEW.model })).embedded).toBe(ROWS - 1);
    expect((await store().coverage({ model: OLD.model })).stale).toBe(1);
    await backfill({ provider: next, store: store() });
    await backfill({ provider: provider(OLD), store: store() });
    const all = await stored();
    expect(all).toHaveLength(2 * ROWS);
    expect(all.every((row) => row.current && row.exact)).toBe(true);
  });

  it("refuses what cannot work, by name", async () => {
    // A unique index on the key alone cannot hold two models' vectors of one row.
    await t.exec(`create table skill_embeddings_mm_one (
      skill_id integer not null unique, embedding vector not null,
      model_name text not null, model_version text not null, input_hash text not null)`);
    const one = pgTable("skill_embeddings_mm_one", {
      skillId: integer("skill_id").notNull(),
      embedding: anyVector("embedding").notNull(),
      modelName: text("model_name").notNull(),
      modelVersion: text("model_version").notNull(),
      inputHash: text("input_hash").notNull(),
    });
    const wrongIndex = drizzleStore({
      db: t.db,
      version: "1",
      source: { table: skills, key: skills.id, text: skillText },
      target: {
        table: one,
        key: one.skillId,
        embedding: one.embedding,
        model: one.modelName,
        version: one.modelVersion,
        hash: one.inputHash,
        perModel: true,
      },
    });
    const schema = await rejectionOf(wrongIndex.prepare({ provider: "test", ...OLD }));
    expect(StoreError.isInstance(schema) && schema.reason).toBe("schema");
    expect(schema.message).toContain("skill_id, skill_embeddings_mm_one.model_name");
    await t.exec("drop table skill_embeddings_mm_one");

    // Fixed in code: searches use it, cutover() is refused.
    await backfill({ provider: provider(OLD), store: store() });
    const fixed = store({ active: { model: OLD.model } });
    expect(await fixed.activeModel()).toEqual({ model: OLD.model, version: "1" });
    expect(await fixed.nearest(deterministicEmbedding("csv", OLD.dimensions), { limit: 2 })).toHaveLength(2);
    const cut = await rejectionOf(fixed.cutover({ model: OLD.model }));
    expect(StoreError.isInstance(cut) && cut.reason).toBe("unsupported");

    // Another size under the same model id.
    const resized = await rejectionOf(
      store().prepare({ provider: "test", model: OLD.model, dimensions: 16 }),
    );
    expect(resized).toMatchObject({ name: "DimensionMismatchError", expected: 8, actual: 16 });

    expect(() => store({ active: { model: "" } })).toThrow(/active\.model/);
    const option = (error: unknown) => InvalidOptionError.isInstance(error) && error.option;
    expect(option(await rejectionOf(store().cutover({ model: "" })))).toBe("model");
    expect(option(await rejectionOf(store().prune({ model: 3 as never })))).toBe("model");
    // An explicit model searches that model's vectors: a query of another size is refused by the database.
    expect(
      (
        await store().nearest(deterministicEmbedding("csv", OLD.dimensions), { model: OLD.model, limit: 1 })
      )[0],
    ).toBeDefined();
    expect(
      await store().nearest(deterministicEmbedding("csv", NEW.dimensions), { model: NEW.model }),
    ).toEqual([]);
  });
});
