/*
 * The query side on PGlite and the real server: search by text over one model's vectors only,
 * selected columns typed, near-duplicate pairs through the HNSW index, and embedRows() beside a
 * running backfill.
 */
import { eq, inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it, onTestFinished } from "vitest";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import type { EmbeddingTarget } from "../../../src/contracts/embedding-store.js";
import { backfill, embedRows, hashText, InvalidOptionError, StoreError } from "../../../src/index.js";
import { cosineSimilarity, deterministicEmbedding } from "../../../src/testing/deterministic-embedding.js";
import { scriptedProvider } from "../../../src/testing/scripted-provider.js";
import { deferred, describeEachDatabase, rejectionOf, type TestDatabase } from "../../support/index.js";
import {
  DIMENSIONS,
  docTables,
  MODEL,
  skillStoreOptions,
  skillTables,
  skillText,
  WORDS,
} from "./fixtures.js";
import { runBackfill } from "./helpers.js";

const tables = skillTables("integer", "srch");
const { skills } = tables;
const OTHER: EmbeddingTarget = { provider: "test", model: "other-8", dimensions: DIMENSIONS };

type Skill = { id: number; name: string; description: string; content: string; tags: string[] | null };

/** Rows 1–40 from the words (1 and 37 share their text), 41 a copy of 3, 42 row 5 plus a word. */
function rows(): Skill[] {
  const made: Skill[] = Array.from({ length: 40 }, (_, i) => ({
    id: i + 1,
    name: WORDS[i % WORDS.length]!,
    description: WORDS[(i * 5 + 3) % WORDS.length]!,
    content: WORDS[(i * 7 + 1) % WORDS.length]!,
    tags: [`t${i % 9}`],
  }));
  made.push({ ...made[2]!, id: 41 });
  made.push({ ...made[4]!, id: 42, tags: ["t4", "extra"] });
  return made;
}
/** Rows re-embedded by the other model. */
const OTHER_ROWS = new Set([31, 32, 33, 34, 35, 36]);
const vectorOf = (row: Skill) => deterministicEmbedding(skillText(row), DIMENSIONS);

const provider = (model = MODEL.model) => scriptedProvider({ model, dimensions: DIMENSIONS });

/**
 * Starts `work` with a provider whose first request waits: `sent` once it is in flight, `release()`
 * lets it answer and resolves to what `work` resolves to. A test that fails first releases it too
 * (a run left waiting would keep the database from being dropped).
 */
function held<T>(work: (p: ReturnType<typeof provider>) => Promise<T>) {
  const p = provider();
  const gate = deferred();
  const sent = deferred();
  p.script(async (texts) => {
    sent.resolve();
    await gate.promise;
    return p.answer(texts);
  });
  const result = work(p);
  onTestFinished(async () => {
    gate.resolve();
    await result.catch(() => {});
  });
  return {
    sent: sent.promise,
    release: () => {
      gate.resolve();
      return result;
    },
  };
}

describeEachDatabase(
  "drizzleStore search, select, duplicates",
  (database) => {
    let t: TestDatabase;
    const store = () => drizzleStore(skillStoreOptions(t.db, tables));

    beforeAll(async () => {
      t = await database.create();
      await t.exec(tables.ddl);
      await t.db.insert(skills).values(rows());
      await runBackfill(store());
      const other = drizzleStore(
        skillStoreOptions(t.db, tables, { filter: inArray(skills.id, [...OTHER_ROWS]) }),
      );
      await runBackfill(other, { target: OTHER });
      await store().createIndex();
    });
    afterAll(() => t?.close());

    it("search() embeds the text as a query and searches the provider's model only", async () => {
      const like35 = skillText(rows()[34]!);
      const p = provider();
      const hits = await store().search(like35, { provider: p, limit: 8 });
      expect(p.calls).toEqual([expect.objectContaining({ texts: [like35], inputType: "query" })]);
      expect(hits).toHaveLength(8);
      // Row 35 has this very text, but under the other model: never a result of this provider.
      for (const hit of hits) expect(OTHER_ROWS.has(Number(hit.id))).toBe(false);
      const query = vectorOf(rows()[34]!);
      const expected = rows()
        .filter((row) => !OTHER_ROWS.has(row.id))
        .map((row) => cosineSimilarity(query, vectorOf(row)))
        .sort((a, b) => b - a)
        .slice(0, 8);
      expect(hits.map((hit) => hit.similarity)).toEqual(expected.map((s) => expect.closeTo(s, 5)));

      const theirs = await store().search(like35, { provider: provider(OTHER.model), limit: 10 });
      expect(theirs[0]).toMatchObject({ id: 35, similarity: expect.closeTo(1, 5) });
      expect(theirs.map((hit) => Number(hit.id)).sort((a, b) => a - b)).toEqual([...OTHER_ROWS]);

      const limited = await store().search(like35, { provider: p, threshold: 0.99, limit: 50 });
      expect(limited.every((hit) => hit.similarity >= 0.99 - 1e-6)).toBe(true);
    });

    it("nearest() searches the prepared target's model by default, and never every model", async () => {
      const query = vectorOf(rows()[34]!);
      // Row 35 holds OTHER's vector: a search of every model would find it first.
      const unknown = await rejectionOf(store().nearest(query, { limit: 3 }));
      expect(InvalidOptionError.isInstance(unknown) && unknown.option).toBe("model");
      expect((await store().nearest(query, { limit: 3, model: OTHER.model }))[0]?.id).toBe(35);
      const prepared = store();
      await prepared.prepare(MODEL);
      await prepared.release();
      const hits = await prepared.nearest(query, { limit: 3 });
      expect(hits.some((hit) => OTHER_ROWS.has(Number(hit.id)))).toBe(false);
      expect((await prepared.nearest(query, { limit: 3, model: OTHER.model }))[0]?.id).toBe(35);
    });

    it("select brings the rows' columns back, typed", async () => {
      const hits = await store().search("csv json parse", {
        provider: provider(),
        limit: 3,
        select: { name: skills.name, tags: skills.tags, label: sql<string>`upper(${skills.name})` },
      });
      expectTypeOf(hits[0]!.row).toEqualTypeOf<{ name: string; tags: string[] | null; label: string }>();
      const byId = new Map(rows().map((row) => [row.id, row]));
      for (const hit of hits) {
        const row = byId.get(Number(hit.id))!;
        expect(hit.row).toEqual({ name: row.name, tags: row.tags, label: row.name.toUpperCase() });
      }
      const plain = await store().nearest(vectorOf(rows()[0]!), { limit: 1, model: MODEL.model });
      expectTypeOf(plain[0]!).not.toHaveProperty("row");
      expect(plain[0]).not.toHaveProperty("row");

      // Rows 39 and 41 have row 3's text.
      const similar = await store().findSimilar(3, { limit: 2, select: { name: skills.name } });
      expectTypeOf(similar[0]!.row.name).toEqualTypeOf<string>();
      expect(similar.map((hit) => hit.id).sort()).toEqual([39, 41]);
      expect(similar.map((hit) => hit.row.name)).toEqual([rows()[2]!.name, rows()[2]!.name]);
    });

    it("findDuplicates() yields exactly the pairs above the threshold, each once, for one model", async () => {
      const threshold = 0.85;
      const own = rows().filter((row) => !OTHER_ROWS.has(row.id));
      const expected: string[] = [];
      for (const [i, a] of own.entries()) {
        for (const b of own.slice(i + 1)) {
          if (cosineSimilarity(vectorOf(a), vectorOf(b)) >= threshold) expected.push(`${a.id}-${b.id}`);
        }
      }
      expect(expected).toEqual(expect.arrayContaining(["1-37", "3-39", "3-41", "39-41", "5-42"]));
      const prepared = store();
      await prepared.prepare(MODEL);
      await prepared.release();
      const found: string[] = [];
      for await (const pair of prepared.findDuplicates({ threshold, pageSize: 7 })) {
        expect(Number(pair.a)).toBeLessThan(Number(pair.b));
        expect(pair.similarity).toBeGreaterThanOrEqual(threshold - 1e-6);
        found.push(`${pair.a}-${pair.b}`);
      }
      expect(found.sort()).toEqual(expected.sort());

      const theirs: string[] = [];
      for await (const pair of store().findDuplicates({ threshold: -1, model: OTHER.model, neighbors: 10 })) {
        theirs.push(`${pair.a}-${pair.b}`);
      }
      expect(theirs).toHaveLength(15); // 6 rows of the other model: every pair, once

      const first: unknown[] = [];
      for await (const pair of prepared.findDuplicates({ threshold, limit: 2 })) first.push(pair);
      expect(first).toHaveLength(2);
    });

    it("refuses bad input by name before any request", async () => {
      const p = provider();
      const option = async (promise: Promise<unknown>) => {
        const error = await rejectionOf(promise);
        expect(InvalidOptionError.isInstance(error)).toBe(true);
        return (error as InvalidOptionError).option;
      };
      expect(await option(store().search("  ", { provider: p }))).toBe("query");
      expect(await option(store().search("csv", { provider: p, threshold: 1.5 }))).toBe("threshold");
      expect(await option(store().search("csv", { provider: p, limit: 0 }))).toBe("limit");
      expect(await option(store().search("csv", { provider: p, limit: 1001 }))).toBe("limit");
      expect(await option(store().search("csv", { provider: p, efSearch: 0 }))).toBe("efSearch");
      expect(p.calls).toHaveLength(0);
      expect(await option(store().findSimilar(1, { threshold: -1.01 }))).toBe("threshold");
      expect(() => store().findDuplicates({ threshold: 0.9 })).toThrow(/`model`/);
      const pairs = store().findDuplicates({ threshold: 2, model: MODEL.model });
      expect(await option(pairs[Symbol.asyncIterator]().next())).toBe("threshold");
    });
  },
  { drivers: ["pglite", "node-postgres"] },
);

const writes = skillTables("integer", "emr");

describeEachDatabase(
  "embedRows()",
  (database) => {
    let t: TestDatabase;
    const { skills: rowsTable, skillEmbeddings: vectors } = writes;
    const store = () => drizzleStore(skillStoreOptions(t.db, writes));
    const text = (id: number) =>
      t.db
        .select()
        .from(rowsTable)
        .where(eq(rowsTable.id, id))
        .then(([row]) => skillText(row!));
    const stored = (id: number) =>
      t.db
        .select({ hash: vectors.inputHash, embedding: vectors.embedding, model: vectors.modelName })
        .from(vectors)
        .where(eq(vectors.skillId, id))
        .then(([row]) => row);

    beforeAll(async () => {
      t = await database.create();
      await t.exec(writes.ddl);
      await t.db.insert(rowsTable).values(rows().slice(0, 20));
    });
    afterAll(() => t?.close());

    it("refuses unknown ids by name, and empty or oversized lists, writing nothing", async () => {
      const p = provider();
      const error = await rejectionOf(embedRows({ provider: p, store: store(), ids: [3, 998, 999] }));
      expect(StoreError.isInstance(error) && error.reason).toBe("unknown_rows");
      expect((error as StoreError).rowIds).toEqual([998, 999]);
      expect((error as Error).message).toContain("998, 999");
      await expect(embedRows({ provider: p, store: store(), ids: [] })).rejects.toMatchObject({
        option: "ids",
      });
      const many = Array.from({ length: 1001 }, (_, i) => i);
      await expect(embedRows({ provider: p, store: store(), ids: many })).rejects.toMatchObject({
        option: "ids",
      });
      expect(p.calls).toHaveLength(0);
      expect(await stored(3)).toBeUndefined();
    });

    it("embeds a new row at once, and only rows that need it", async () => {
      const [row] = await t.db
        .insert(rowsTable)
        .values({ id: 100, name: "zebra", description: "stripes", content: "savanna", tags: null })
        .returning({ id: rowsTable.id });
      const p = provider();
      const report = await embedRows({ provider: p, store: store(), ids: [row!.id] });
      expect(report.embedded).toBe(1);
      const [hit] = await store().search("zebra stripes savanna", { provider: p, limit: 1 });
      expect(hit).toMatchObject({ id: 100, similarity: expect.closeTo(1, 5) });
      const again = await embedRows({ provider: p, store: store(), ids: [100] });
      expect(again.embedded).toBe(0);
      expect(p.calls).toHaveLength(2); // the write, the search: the current row was not sent again
    });

    it("runs beside a backfill of the same table; a row edited meanwhile ends pending, then current", async () => {
      // The backfill holds the run lock (real server) with its request in flight.
      const running = held((p) => backfill({ provider: p, store: store() }));
      await running.sent;
      if (t.realServer) {
        // The workaround this replaces: a second run filtered to the row is refused.
        const filtered = drizzleStore(skillStoreOptions(t.db, writes, { filter: eq(rowsTable.id, 7) }));
        const refused = await rejectionOf(filtered.prepare(MODEL));
        expect(StoreError.isInstance(refused) && refused.reason).toBe("locked");
      }

      const oldText = await text(7);
      const writing = held((p) => embedRows({ provider: p, store: store(), ids: [7, 8] }));
      await writing.sent;
      // The row changes while both vectors of its old text are in flight.
      await t.db.update(rowsTable).set({ content: "edited content" }).where(eq(rowsTable.id, 7));
      const report = await writing.release();
      expect(report.embedded).toBe(1);
      expect(report.skippedRows).toEqual([{ id: 7, reason: "changed_during_run" }]);
      const full = await running.release();
      expect(full.skippedRows).toEqual([{ id: 7, reason: "changed_during_run" }]);

      // Never wrong: row 7 has no vector (pending), and row 8's vector is its text's.
      expect(await stored(7)).toBeUndefined();
      const eight = await stored(8);
      expect(eight?.hash).toBe(hashText(await text(8)));
      expect(Array.from(eight!.embedding)).toEqual(
        Array.from(deterministicEmbedding(await text(8), DIMENSIONS)).map((x) => expect.closeTo(x, 5)),
      );
      expect(oldText).not.toBe(await text(7));

      const then = await embedRows({ provider: provider(), store: store(), ids: [7] });
      expect(then.embedded).toBe(1);
      const seven = await stored(7);
      expect(seven?.hash).toBe(hashText(await text(7)));
      expect(Array.from(seven!.embedding)).toEqual(
        Array.from(deterministicEmbedding(await text(7), DIMENSIONS)).map((x) => expect.closeTo(x, 5)),
      );
      expect(await store().coverage(MODEL)).toMatchObject({ stale: 0, missing: 0 });
    });
  },
  { drivers: ["pglite", "node-postgres"] },
);

describe("embedRows() without a keyed store", () => {
  it("names the store", async () => {
    const store = { scan: () => ({}) as never, write: async () => ({ written: 0, conflicts: [] }) } as never;
    await expect(embedRows({ provider: provider(), store, ids: [1] })).rejects.toMatchObject({
      option: "store",
    });
  });
});

const tuning = docTables("tune_docs");

describeEachDatabase(
  "HNSW tuning per query",
  (database) => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await database.create();
      await t.exec(tuning.ddl);
      // 600 vectors of model "b" right beside the query, 1,400 of model "a" further away, spread over
      // angles from 17° to 70° (not one tight cluster): the HNSW graph then joins the two models' rows,
      // so a search entering among "a" rows still walks down to the "b" rows nearest the query.
      await t.exec(`
        insert into tune_docs (id, title, body, embedding, embedding_model, embedding_hash)
        select i, 'doc', 'body',
          (case when i <= 600 then array[1, random() * 0.1, random() * 0.1, 0, 0, 0, 0, 0]
                else array[1, 0.3 + random() * 2.5, random() * 0.1, 0, 0, 0, 0, 0] end)::vector,
          case when i <= 600 then 'b' else 'a' end, 'h'
        from generate_series(1, 2000) i;
        create index on tune_docs using hnsw (embedding vector_cosine_ops);
        analyze tune_docs;
        set enable_seqscan = off;`);
    });
    afterAll(() => t?.close());

    it("an iterative scan (the default) finds `limit` rows that the index's first candidates leave out", async () => {
      const { docs } = tuning;
      const store = drizzleStore({
        db: t.db,
        source: { table: docs, key: docs.id, text: (doc) => doc.body },
        target: { embedding: docs.embedding, model: docs.embeddingModel, hash: docs.embeddingHash },
      });
      const query = [1, 0, 0, 0, 0, 0, 0, 0];
      // Without it, the 40 candidates of the HNSW scan are all model "b": nothing passes.
      const off = await store.nearest(query, { model: "a", limit: 10, iterativeScan: "off" });
      expect(off.length).toBeLessThan(10);
      const hits = await store.nearest(query, { model: "a", limit: 10 });
      expect(hits).toHaveLength(10);
      expect(hits.every((hit) => Number(hit.id) > 600)).toBe(true);
      const wide = await store.nearest(query, {
        model: "a",
        limit: 10,
        iterativeScan: "off",
        efSearch: 1000,
      });
      expect(wide).toHaveLength(10); // more candidates than the 600 rows of model "b"
    });
  },
  { drivers: ["pglite"] },
);
