import type { PGlite } from "@electric-sql/pglite";
import { asc, count, eq, ne, sql } from "drizzle-orm";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { drizzle as drizzleProxy } from "drizzle-orm/pg-proxy";
import { drizzle } from "drizzle-orm/postgres-js";
import pg from "pg";
import postgres from "postgres";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import { DimensionMismatchError, InvalidOptionError, StoreError } from "../../../src/errors/index.js";
import { hashText } from "../../../src/hash.js";
import { deterministicEmbedding } from "../../../src/testing/deterministic-embedding.js";
import {
  describeEachDatabase,
  printedDuring,
  rejectionOf,
  rowsOf,
  type TestDatabase,
  until,
} from "../../support/index.js";
import { DIMENSIONS, docTables, MODEL, skillTables, skillText } from "./fixtures.js";
import { parseVector, runBackfill, scanAll } from "./helpers.js";

const { skills, skillEmbeddings, ddl } = skillTables("integer", "main");
const pruned = skillTables("integer", "pruned", { foreignKey: false });
const { docs, ddl: docsDdl } = docTables();

const TRICKY = [
  'it\'s a "quoted" string; drop table skills_main; --',
  "back\\slash \\x00 $1 $$dollar$$ %s {}[]",
  "línea\nnueva\ttab 🚀 日本語",
  "",
];

function skillRows(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    name: `skill ${i + 1}`,
    description: `does thing ${i % 4}`,
    content: TRICKY[i % TRICKY.length]!,
    tags: i % 3 === 0 ? null : [`tag${i % 5}`, "csv"],
  }));
}

describeEachDatabase("drizzleStore", (database) => {
  let t: TestDatabase;

  const store = (
    overrides: {
      version?: string;
      filter?: ReturnType<typeof sql>;
      binaryWrites?: boolean;
      text?: typeof skillText;
    } = {},
    db: TestDatabase["db"] = t.db,
  ) =>
    drizzleStore({
      db,
      version: overrides.version ?? "1",
      binaryWrites: overrides.binaryWrites,
      source: { table: skills, key: skills.id, text: overrides.text ?? skillText, filter: overrides.filter },
      target: {
        table: skillEmbeddings,
        key: skillEmbeddings.skillId,
        embedding: skillEmbeddings.embedding,
        model: skillEmbeddings.modelName,
        version: skillEmbeddings.modelVersion,
        hash: skillEmbeddings.inputHash,
      },
    });

  const docStore = () =>
    drizzleStore({
      db: t.db,
      version: "1",
      source: { table: docs, key: docs.id, text: (d) => `${d.title}\n${d.body}` },
      target: {
        embedding: docs.embedding,
        model: docs.embeddingModel,
        version: docs.embeddingVersion,
        hash: docs.embeddingHash,
      },
    });

  const embeddingCount = async () => (await t.db.select({ n: count() }).from(skillEmbeddings))[0]!.n;

  beforeAll(async () => {
    t = await database.create();
    await t.exec(ddl + pruned.ddl + docsDdl);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await t.exec(
      "truncate skills_main, skill_embeddings_main, skills_pruned, skill_embeddings_pruned, docs cascade",
    );
    await t.db.insert(skills).values(skillRows(23));
    await t.db
      .insert(docs)
      .values(
        Array.from({ length: 12 }, (_, i) => ({ id: i + 1, title: `doc ${i + 1}`, body: TRICKY[i % 4]! })),
      );
  });

  it("embeds every missing row once, in key order, storing the plan's text hash, model and version", async () => {
    const run = await runBackfill(store(), { reembed: "missing", pageSize: 7 });
    expect(run.scanned).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    expect(run.pages).toEqual([7, 7, 7, 2]);
    expect(run.written).toBe(23);
    expect(run.conflicts).toEqual([]);
    expect(await embeddingCount()).toBe(23);

    const [row] = await t.db.select().from(skills).where(eq(skills.id, 5));
    const [stored] = await t.db.select().from(skillEmbeddings).where(eq(skillEmbeddings.skillId, 5));
    const text = skillText(row!);
    expect(stored!.inputHash).toBe(hashText(text));
    expect(stored!.modelName).toBe(MODEL.model);
    expect(stored!.modelVersion).toBe("1");
    // Binary float4 round trip: every component is the exact float32 that was sent.
    const expected = deterministicEmbedding(text, DIMENSIONS);
    expect(parseVector(stored!.embedding).map(Math.fround)).toEqual(Array.from(expected));
  });

  it("reads a short first page when asked (firstPageSize), then pageSize: every row once", async () => {
    for (const reembed of ["stale", "missing"] as const) {
      const run = await runBackfill(store(), { reembed, pageSize: 7, firstPageSize: 3 });
      expect(run.pages).toEqual(reembed === "stale" ? [3, 7, 7, 6] : []);
      expect(run.scanned).toEqual(reembed === "stale" ? Array.from({ length: 23 }, (_, i) => i + 1) : []);
    }
    // A first page larger than pageSize is pageSize.
    expect((await runBackfill(store(), { reembed: "all", pageSize: 7, firstPageSize: 50 })).pages).toEqual([
      7, 7, 7, 2,
    ]);
  });

  it("re-runs write nothing new and never duplicate rows", async () => {
    await runBackfill(store());
    const again = await runBackfill(store());
    expect(again.scanned).toEqual([]);
    const all = await runBackfill(store(), { reembed: "all", pageSize: 4 });
    expect(all.written).toBe(23);
    expect(await embeddingCount()).toBe(23);
  });

  it("finds stale rows by content, model and version", async () => {
    await runBackfill(store());
    await t.db.update(skills).set({ content: "changed" }).where(eq(skills.id, 9));
    await t.db
      .update(skills)
      .set({ tags: ["new-tag"] })
      .where(eq(skills.id, 10));
    expect((await scanAll(store(), "stale")).map((item) => item.id)).toEqual([9, 10]);
    expect(await scanAll(store(), "missing")).toEqual([]);

    const otherModel = { ...MODEL, model: "det-8-v2" };
    expect(await scanAll(store(), "stale", 5, otherModel)).toHaveLength(23);
    expect(await scanAll(store({ version: "2" }), "stale")).toHaveLength(23);

    const [item] = await scanAll(store(), "stale");
    const [row] = await t.db.select().from(skills).where(eq(skills.id, 9));
    expect(item).toEqual({ id: 9, text: skillText(row!), hash: hashText(skillText(row!)) });
  });

  it("compare-and-set: a row edited or deleted between scan and write keeps its old vector", async () => {
    await runBackfill(store());
    await t.db.update(skills).set({ content: "first edit" }).where(ne(skills.id, 0));
    const pending = await scanAll(store(), "stale", 100);
    const [before] = await t.db.select().from(skillEmbeddings).where(eq(skillEmbeddings.skillId, 3));

    // Edited again (3) and deleted (4) while the vectors were being made.
    await t.db.update(skills).set({ content: "second edit" }).where(eq(skills.id, 3));
    await t.db.delete(skills).where(eq(skills.id, 4));
    const records = pending.map((item) => ({
      id: item.id,
      hash: item.hash,
      embedding: deterministicEmbedding(item.text, DIMENSIONS),
    }));
    const result = await store().write(records, MODEL);
    expect([...result.conflicts].sort()).toEqual([3, 4]);
    expect(result.written).toBe(21);

    const [after] = await t.db.select().from(skillEmbeddings).where(eq(skillEmbeddings.skillId, 3));
    expect(after).toEqual(before);
    expect((await scanAll(store(), "stale")).map((item) => item.id)).toEqual([3]);
  });

  it("compare-and-set holds for rows never embedded: nothing is inserted for them", async () => {
    const pending = await scanAll(store(), "missing", 100);
    await t.db.update(skills).set({ name: "renamed" }).where(eq(skills.id, 1));
    const result = await store().write(
      pending.map((item) => ({
        id: item.id,
        hash: item.hash,
        embedding: deterministicEmbedding(item.text, 8),
      })),
      MODEL,
    );
    expect(result.conflicts).toEqual([1]);
    expect(await t.db.select().from(skillEmbeddings).where(eq(skillEmbeddings.skillId, 1))).toEqual([]);
  });

  it("rolls back everything written inside a transaction that throws", async () => {
    const s = store();
    const failure = new Error("boom");
    await expect(
      s.transaction(async (tx) => {
        for await (const page of tx.scan({ ...MODEL, reembed: "missing", pageSize: 5 })) {
          const records = page.map((item) => ({
            id: item.id,
            hash: item.hash,
            embedding: deterministicEmbedding(item.text, DIMENSIONS),
          }));
          await tx.write(records, MODEL);
        }
        expect((await tx.coverage(MODEL)).embedded).toBe(23);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await embeddingCount()).toBe(0);

    const written = await s.transaction(async (tx) => (await runBackfill(tx)).written);
    expect(written).toBe(23);
    expect(await embeddingCount()).toBe(23);
  });

  it("runs operations on a transaction-bound store one at a time, even when called at once", async () => {
    const pending = await scanAll(store(), "missing", 100);
    const records = pending.map((item) => ({
      id: item.id,
      hash: item.hash,
      embedding: deterministicEmbedding(item.text, DIMENSIONS),
    }));
    const results = await store().transaction((tx) =>
      Promise.all([
        tx.write(records.slice(0, 8), MODEL),
        tx.coverage(MODEL),
        tx.write(records.slice(8, 16), MODEL),
        scanAll(tx, "missing", 3),
        tx.write(records.slice(16), MODEL),
      ]),
    );
    expect(results[0]).toEqual({ written: 8, conflicts: [] });
    expect(results[1]).toEqual({ total: 23, embedded: 8, stale: 0, missing: 15 });
    expect(results[4]).toEqual({ written: 7, conflicts: [] });
    expect(await embeddingCount()).toBe(23);
  });

  if (database.driver === "node-postgres")
    it("serialises operations on a single node-postgres Client (one connection, no pool)", async () => {
      const client = new pg.Client({ connectionString: t.url });
      await client.connect();
      try {
        const single = drizzleStore({
          db: drizzleNodePg({ client }),
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
        await single.prepare(MODEL);
        const pending = await scanAll(single, "missing", 100);
        const records = pending.map((item) => ({
          id: item.id,
          hash: item.hash,
          embedding: deterministicEmbedding(item.text, DIMENSIONS),
        }));
        const results = await Promise.all([
          single.write(records.slice(0, 12), MODEL),
          single.coverage(MODEL),
          single.write(records.slice(12), MODEL),
        ]);
        expect(results.map((result) => ("written" in result ? result.written : result.embedded))).toEqual([
          12, 12, 11,
        ]);
        await single.release();
        expect(await embeddingCount()).toBe(23);
      } finally {
        await client.end();
      }
    });

  it("an abort before commit leaves the batch unwritten", async () => {
    const pending = await scanAll(store(), "missing", 100);
    const records = pending.map((item) => ({
      id: item.id,
      hash: item.hash,
      embedding: deterministicEmbedding(item.text, DIMENSIONS),
    }));
    const reason = new Error("stopped");
    const aborted = AbortSignal.abort(reason);
    await expect(store().write(records, { ...MODEL, signal: aborted })).rejects.toBe(reason);

    // Aborted after the rows were staged and upserted, just before the commit.
    let checks = 0;
    const late = {
      get aborted() {
        return checks >= 2;
      },
      reason,
      throwIfAborted() {
        if (++checks >= 3) throw reason;
      },
      addEventListener() {},
      removeEventListener() {},
    } as unknown as AbortSignal;
    await expect(store().write(records, { ...MODEL, signal: late })).rejects.toBe(reason);
    expect(checks).toBe(3);
    expect(await embeddingCount()).toBe(0);
  });

  it("counts coverage: total, current, stale, missing", async () => {
    expect(await store().coverage(MODEL)).toEqual({ total: 23, embedded: 0, stale: 0, missing: 23 });
    await runBackfill(store(), { reembed: "missing" });
    expect(await store().coverage(MODEL)).toEqual({ total: 23, embedded: 23, stale: 0, missing: 0 });
    await t.db.update(skills).set({ content: "edited" }).where(eq(skills.id, 2));
    await t.db.insert(skills).values({ id: 100, name: "new" });
    expect(await store().coverage(MODEL)).toEqual({ total: 24, embedded: 22, stale: 1, missing: 1 });
    expect(await store({ version: "2" }).coverage(MODEL)).toEqual({
      total: 24,
      embedded: 0,
      stale: 23,
      missing: 1,
    });
  });

  it("coverage() counts for the prepared target's model when given none, and says what to do when it has neither", async () => {
    const s = store();
    await expect(s.coverage()).rejects.toSatisfy(
      (error) =>
        InvalidOptionError.isInstance(error) &&
        error.option === "model" &&
        /prepare\(target\)/.test(error.message),
    );
    await runBackfill(s, { reembed: "missing" });
    expect(await s.coverage()).toEqual({ total: 23, embedded: 23, stale: 0, missing: 0 });
    expect(await s.coverage({ model: "another-model" })).toEqual({
      total: 23,
      embedded: 0,
      stale: 23,
      missing: 0,
    });
    expect(await s.transaction((tx) => tx.coverage())).toEqual({
      total: 23,
      embedded: 23,
      stale: 0,
      missing: 0,
    });
  });

  it("coverage() stops when its signal aborts, even within its last page", async () => {
    await runBackfill(store(), { reembed: "missing" });
    const reason = new Error("stop counting");
    const controller = new AbortController();
    const aborting = store({
      text: (row) => {
        controller.abort(reason);
        return skillText(row);
      },
    });
    await expect(aborting.coverage({ ...MODEL, signal: controller.signal })).rejects.toBe(reason);
    await expect(store().coverage({ ...MODEL, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  if (database.realServer)
    it("coverage() rejects at once when aborted while its read waits on the database", async () => {
      const other = await t.connect();
      const reason = new Error("stop counting");
      const controller = new AbortController();
      try {
        await other.db.transaction(async (tx) => {
          await tx.execute(sql`lock table skills_main in access exclusive mode`);
          const counting = store().coverage({ ...MODEL, signal: controller.signal });
          const outcome = counting.then(
            () => "resolved",
            (error: unknown) => error,
          );
          // Abort once the count's query is waiting for the lock.
          await until(async () => {
            const waiting = await tx.execute(
              sql`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`,
            );
            return rowsOf<{ n: number }>(waiting)[0]!.n > 0;
          });
          controller.abort(reason);
          expect(await outcome).toBe(reason);
        });
      } finally {
        await other.close();
      }
    });

  it("applies source.filter to scans and coverage", async () => {
    const even = store({ filter: sql`${skills.id} % 2 = 0` });
    const run = await runBackfill(even);
    expect(run.scanned).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22]);
    expect(await even.coverage(MODEL)).toEqual({ total: 11, embedded: 11, stale: 0, missing: 0 });
  });

  it("stores SQL metacharacters and empty strings so that their hashes round-trip", async () => {
    await runBackfill(store());
    expect(await scanAll(store(), "stale")).toEqual([]);
    const rows = await t.db
      .select({ content: skills.content, hash: skillEmbeddings.inputHash })
      .from(skills)
      .innerJoin(skillEmbeddings, eq(skillEmbeddings.skillId, skills.id))
      .orderBy(asc(skills.id))
      .limit(4);
    expect(rows.map((row) => row.content)).toEqual(TRICKY);
  });

  it("writes the same vectors on the text path (binaryWrites: false)", async () => {
    await runBackfill(store({ binaryWrites: false }));
    const stored = await t.db
      .select({ text: skills, embedding: skillEmbeddings.embedding })
      .from(skills)
      .innerJoin(skillEmbeddings, eq(skillEmbeddings.skillId, skills.id));
    expect(stored).toHaveLength(23);
    for (const row of stored) {
      const expected = Array.from(deterministicEmbedding(skillText(row.text), DIMENSIONS));
      expect(parseVector(row.embedding).map(Math.fround)).toEqual(expected);
    }
  });

  it("keeps the last record when a batch names a row twice", async () => {
    const [item] = await scanAll(store(), "missing", 1);
    const first = { id: item!.id, hash: item!.hash, embedding: new Float32Array(DIMENSIONS).fill(1) };
    const second = { ...first, embedding: deterministicEmbedding(item!.text, DIMENSIONS) };
    expect(await store().write([first, second], MODEL)).toEqual({ written: 1, conflicts: [] });
    const [stored] = await t.db.select().from(skillEmbeddings);
    expect(parseVector(stored!.embedding).map(Math.fround)).toEqual(Array.from(second.embedding));
  });

  it("refuses vectors of the wrong length", async () => {
    const [item] = await scanAll(store(), "missing", 1);
    const record = { id: item!.id, hash: item!.hash, embedding: new Float32Array(3) };
    const error = await store()
      .write([record], MODEL)
      .catch((e: unknown) => e);
    expect(DimensionMismatchError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ expected: DIMENSIONS, actual: 3, source: "store" });
  });

  it("reports a throwing text() as a row error naming the row", async () => {
    const broken = drizzleStore({
      db: t.db,
      source: {
        table: skills,
        key: skills.id,
        text: (s) => {
          if (s.id === 6) throw new Error("no text for you");
          return s.name;
        },
      },
      target: {
        table: skillEmbeddings,
        key: skillEmbeddings.skillId,
        embedding: skillEmbeddings.embedding,
        model: skillEmbeddings.modelName,
        hash: skillEmbeddings.inputHash,
      },
    });
    const error = await scanAll(broken, "all").catch((e: unknown) => e);
    expect(StoreError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ reason: "row" });
    expect((error as Error).message).toContain("skills_main row 6");
    expect((error as Error).message).toContain("no text for you");
  });

  it("prunes embeddings whose source row is gone", async () => {
    const s = drizzleStore({
      db: t.db,
      version: "1",
      source: { table: pruned.skills, key: pruned.skills.id, text: skillText },
      target: {
        table: pruned.skillEmbeddings,
        key: pruned.skillEmbeddings.skillId,
        embedding: pruned.skillEmbeddings.embedding,
        model: pruned.skillEmbeddings.modelName,
        version: pruned.skillEmbeddings.modelVersion,
        hash: pruned.skillEmbeddings.inputHash,
      },
    });
    await t.db.insert(pruned.skills).values(skillRows(10));
    await runBackfill(s);
    await t.db.delete(pruned.skills).where(sql`${pruned.skills.id} in (2, 7)`);
    expect(await s.prune()).toBe(2);
    expect(await s.prune()).toBe(0);
    const left = await t.db.select({ id: pruned.skillEmbeddings.skillId }).from(pruned.skillEmbeddings);
    expect(left.map((row) => Number(row.id)).sort((a, b) => a - b)).toEqual([1, 3, 4, 5, 6, 8, 9, 10]);
  });

  it("prune() on the same-row layout says it does not apply instead of returning 0", async () => {
    const error = await rejectionOf(docStore().prune());
    expect(StoreError.isInstance(error) && error.reason).toBe("unsupported");
    expect(error.message).toMatch(/same-row layout.*docs/);
  });

  if (database.driver === "pglite")
    it("works through Drizzle alone on a driver the PostgreSQL kit has no session for (pg-proxy)", async () => {
      const pglite = t.client as PGlite;
      const proxy = drizzleProxy(async (text, params, method) => {
        const result = await pglite.query(text, params, { rowMode: method === "all" ? "array" : "object" });
        return { rows: result.rows };
      });
      const s = store({}, proxy);
      // The catalog checks run through db.execute(), with their parameters bound by Drizzle.
      await s.prepare(MODEL);
      await expect(s.prepare({ ...MODEL, dimensions: 3 })).rejects.toThrow(/holds vector\(8\)/);
      await runBackfill(store(), { reembed: "missing" });
      expect(await s.coverage()).toEqual({ total: 23, embedded: 23, stale: 0, missing: 0 });
      expect(await s.createIndex()).toBe("skill_embeddings_main_embedding_hnsw_idx");
      const [index] = rowsOf<{ found: boolean }>(
        await t.db.execute(
          sql`select to_regclass('skill_embeddings_main_embedding_hnsw_idx') is not null as found`,
        ),
      );
      expect(index?.found).toBe(true);
      await t.exec("drop index skill_embeddings_main_embedding_hnsw_idx");
      await s.release();
    });

  if (database.driver === "postgres.js")
    it("prints nothing to stdout through every operation, on a postgres.js client with its defaults", async () => {
      // postgres.js prints every server notice with console.log unless given `onnotice` (the suite's own
      // client has one): a statement raising a NOTICE (CREATE INDEX IF NOT EXISTS on an existing index…)
      // would print from inside the library.
      const client = postgres(t.url!, { max: 3 });
      const db = drizzle({ client });
      const separate = store({}, db);
      const sameRow = drizzleStore({
        db,
        source: { table: docs, key: docs.id, text: (d) => d.title },
        target: { embedding: docs.embedding, model: docs.embeddingModel, hash: docs.embeddingHash },
      });
      const indexes: string[] = [];
      try {
        const printed = await printedDuring(async () => {
          for (let round = 0; round < 2; round++) {
            for (const s of [separate, sameRow]) {
              await runBackfill(s, { reembed: round === 0 ? "missing" : "all", pageSize: 5 });
              await s.prepare(MODEL);
              await s.coverage();
              await s.release();
              await s.transaction(async (tx) => {
                const [item] = (await scanAll(tx, "all", 1)).slice(0, 1);
                const embedding = deterministicEmbedding(item!.text, DIMENSIONS);
                await tx.write([{ id: item!.id, hash: item!.hash, embedding }], MODEL);
              });
              indexes.push(await s.createIndex());
              // pgvector raises a NOTICE ("little data") building an IVFFlat index on a few rows.
              indexes.push(
                await s.createIndex({ method: "ivfflat", lists: 50, name: `ivf_${indexes.length}` }),
              );
              await s.nearest(deterministicEmbedding("skill 1", DIMENSIONS), { limit: 3 });
              await s.findSimilar(1, { limit: 3 });
            }
            await t.db.delete(skills).where(eq(skills.id, 23 - round));
            await separate.prune();
          }
        });
        expect(printed).toEqual([]);
      } finally {
        await client.end({ timeout: 5 });
        await t.exec([...new Set(indexes)].map((name) => `drop index if exists "${name}";`).join(""));
      }
    });

  it("same-row layout: embeds, detects staleness, refuses stale vectors and counts coverage", async () => {
    const s = docStore();
    const texts: string[] = [];
    const spy = drizzleStore({
      db: t.db,
      source: {
        table: docs,
        key: docs.id,
        text: (d) => {
          texts.push(Object.keys(d).sort().join(","));
          return d.title;
        },
      },
      target: { embedding: docs.embedding, model: docs.embeddingModel, hash: docs.embeddingHash },
    });
    await scanAll(spy, "all");
    // text() sees the row without its (never read) embedding column.
    expect(texts[0]).toBe("body,embeddingHash,embeddingModel,embeddingVersion,id,title");

    const run = await runBackfill(s, { reembed: "missing", pageSize: 5 });
    expect(run.written).toBe(12);
    const [doc] = await t.db.select().from(docs).where(eq(docs.id, 3));
    expect(doc!.embeddingHash).toBe(hashText(`${doc!.title}\n${doc!.body}`));
    expect(doc!.embeddingModel).toBe(MODEL.model);
    expect(doc!.embeddingVersion).toBe("1");
    expect(parseVector(doc!.embedding).map(Math.fround)).toEqual(
      Array.from(deterministicEmbedding(`${doc!.title}\n${doc!.body}`, DIMENSIONS)),
    );
    expect(await scanAll(s, "stale")).toEqual([]);

    await t.db.update(docs).set({ body: "rewritten" }).where(eq(docs.id, 4));
    const pending = await scanAll(s, "stale");
    expect(pending.map((item) => item.id)).toEqual([4]);
    await t.db.update(docs).set({ body: "rewritten twice" }).where(eq(docs.id, 4));
    const result = await s.write(
      pending.map((item) => ({
        id: item.id,
        hash: item.hash,
        embedding: deterministicEmbedding(item.text, 8),
      })),
      MODEL,
    );
    expect(result).toEqual({ written: 0, conflicts: [4] });
    expect(await s.coverage(MODEL)).toEqual({ total: 12, embedded: 11, stale: 1, missing: 0 });

    const rerun = await runBackfill(s, { reembed: "all" });
    expect(rerun.written).toBe(12);
    expect(await s.coverage(MODEL)).toEqual({ total: 12, embedded: 12, stale: 0, missing: 0 });
  });
});
