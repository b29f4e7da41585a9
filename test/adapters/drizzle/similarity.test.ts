import { sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import { InvalidOptionError } from "../../../src/errors/index.js";
import { cosineSimilarity, deterministicEmbedding } from "../../../src/testing/deterministic-embedding.js";
import { describeEachDatabase, type TestDatabase } from "../../support/index.js";
import { DIMENSIONS, MODEL, skillTables, skillText, WORDS } from "./fixtures.js";
import { runBackfill } from "./helpers.js";

const { skills, skillEmbeddings, ddl } = skillTables("integer", "sim");
const ROWS = 60;

function rows() {
  return Array.from({ length: ROWS }, (_, i) => ({
    id: i + 1,
    name: WORDS[i % WORDS.length]!,
    description: WORDS[(i * 5 + 3) % WORDS.length]!,
    content: WORDS[(i * 7 + 1) % WORDS.length]!,
    tags: [`t${i % 9}`],
  }));
}

/** Every row's id and cosine similarity to `query`, best first: the answer an exact search must give. */
function bruteForce(query: Float32Array, exclude?: number) {
  return rows()
    .filter((row) => row.id !== exclude)
    .map((row) => ({
      id: row.id,
      similarity: cosineSimilarity(query, deterministicEmbedding(skillText(row), DIMENSIONS)),
    }))
    .sort((a, b) => b.similarity - a.similarity);
}

/** Results agree with the brute force up to float4 rounding (ties may swap). */
function expectSameRanking(
  actual: { id: number; similarity: number }[],
  expected: { id: number; similarity: number }[],
) {
  expect(actual.map((hit) => hit.similarity)).toEqual(
    expected.map((hit) => expect.closeTo(hit.similarity, 5)),
  );
  for (const [i, hit] of actual.entries()) {
    const tied = expected
      .filter((e) => Math.abs(e.similarity - expected[i]!.similarity) < 1e-5)
      .map((e) => e.id);
    expect(tied).toContain(hit.id);
  }
}

describeEachDatabase("drizzleStore similarity", (database) => {
  let t: TestDatabase;
  const store = (filter?: ReturnType<typeof sql>) =>
    drizzleStore({
      db: t.db,
      version: "1",
      source: { table: skills, key: skills.id, text: skillText, filter },
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
    t = await database.create();
    await t.exec(ddl);
    await t.db.insert(skills).values(rows());
    await runBackfill(store());
  });
  afterAll(() => t?.close());

  it("nearest() ranks rows like a brute-force cosine search", async () => {
    const query = deterministicEmbedding("parse csv retry", DIMENSIONS);
    const hits = await store().nearest(query, { limit: 10, model: MODEL.model });
    expect(hits).toHaveLength(10);
    expectSameRanking(hits as { id: number; similarity: number }[], bruteForce(query).slice(0, 10));
    for (const hit of hits) expect(hit.distance).toBeCloseTo(1 - hit.similarity, 10);
  });

  it("nearest() applies its filter, the store's filter and the model", async () => {
    const query = deterministicEmbedding("json http", DIMENSIONS);
    const hits = await store().nearest(query, {
      limit: 5,
      filter: sql`${skills.id} <= 20`,
      model: MODEL.model,
    });
    const expected = bruteForce(query).filter((hit) => hit.id <= 20);
    expectSameRanking(hits as { id: number; similarity: number }[], expected.slice(0, 5));

    const odd = await store(sql`${skills.id} % 2 = 1`).nearest(query, { limit: 50, model: MODEL.model });
    expect(odd.every((hit) => Number(hit.id) % 2 === 1)).toBe(true);
    expect(odd).toHaveLength(30);

    expect(await store().nearest(query, { model: "another-model" })).toEqual([]);
    expect(await store().nearest(query, { model: MODEL.model, limit: 3 })).toHaveLength(3);
  });

  it("findSimilar() excludes the row itself, honours the threshold and finds exact duplicates", async () => {
    const own = deterministicEmbedding(skillText(rows()[0]!), DIMENSIONS);
    const hits = await store().findSimilar(1, { limit: 8 });
    expectSameRanking(hits as { id: number; similarity: number }[], bruteForce(own, 1).slice(0, 8));
    expect(hits.map((hit) => hit.id)).not.toContain(1);

    // Row 37 has row 1's text (same words, same tag): an exact duplicate.
    const duplicates = await store().findSimilar(1, { threshold: 0.999 });
    const expected = bruteForce(own, 1).filter((hit) => hit.similarity >= 0.999);
    expect(duplicates.map((hit) => hit.id).sort()).toEqual(expected.map((hit) => hit.id).sort());
    expect(duplicates.length).toBeGreaterThan(0);
    for (const hit of duplicates) expect(hit.similarity).toBeGreaterThanOrEqual(0.999 - 1e-6);

    expect(await store().findSimilar(9999)).toEqual([]);
    await expect(store().findSimilar(1, { threshold: 2 })).rejects.toSatisfy(InvalidOptionError.isInstance);
    await expect(store().nearest(own, { limit: 0 })).rejects.toSatisfy(InvalidOptionError.isInstance);
  });

  it("createIndex() builds an HNSW cosine index once, and searches still agree", async () => {
    const name = await store().createIndex();
    expect(name).toBe("skill_embeddings_sim_embedding_hnsw_idx");
    expect(await store().createIndex()).toBe(name);
    const [index] = await t.db
      .execute<{ indexdef: string }>(sql`select indexdef from pg_indexes where indexname = ${name}`)
      .then((result) => (Array.isArray(result) ? result : (result as { rows: { indexdef: string }[] }).rows));
    expect(index?.indexdef).toContain("USING hnsw (embedding vector_cosine_ops)");

    await store().createIndex({ method: "ivfflat", lists: 4, name: "sim_ivf" });
    await expect(store().createIndex({ m: 0 })).rejects.toSatisfy(InvalidOptionError.isInstance);

    const query = deterministicEmbedding("vector index cache", DIMENSIONS);
    const hits = await store().nearest(query, { limit: 5, model: MODEL.model });
    expectSameRanking(hits as { id: number; similarity: number }[], bruteForce(query).slice(0, 5));
  });
});
