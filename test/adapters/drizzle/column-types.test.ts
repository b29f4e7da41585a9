/*
 * Cheaper storage: `halfvec(n)` and `bit(n)` target columns, end to end through `backfill()` and the
 * Voyage provider (emulated): every write path (COPY of new rows, binary upsert, text upsert), the
 * column checks of `prepare()`, and similarity searches and indexes with the operators of each type.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { voyageProvider } from "../../../providers/voyage/index.js";
import { validateEmbeddings } from "../../../src/backfill/validate-embeddings.js";
import {
  backfill,
  DimensionMismatchError,
  type EmbeddingTarget,
  InvalidOptionError,
  InvalidResponseError,
  StoreError,
} from "../../../src/index.js";
import { toHalfPrecision } from "../../../src/postgres/index.js";
import { halfBits } from "../../../src/postgres/vector-types.js";
import { decodeEmbedding } from "../../../src/provider-utils/index.js";
import { cosineSimilarity } from "../../../src/testing/deterministic-embedding.js";
import {
  DIMENSIONS,
  expectedVector,
  type ItemTables,
  itemStore,
  itemTables,
  itemText,
  queryRows,
  resetItems,
  seedRow,
  useEmulator,
  VOYAGE_KEY,
  VOYAGE_MODEL,
  verifyEmbeddings,
  voyage,
} from "../../reliability/harness.js";
import { describeEachDatabase, rejectionOf, type TestDatabase } from "../../support/index.js";

const ROWS = 24;
const rows = Array.from({ length: ROWS }, (_, i) => seedRow(i + 1));
const half = itemTables("ct_half", "integer", "halfvec");
const bits = itemTables("ct_bit", "integer", "bit");
const plain = itemTables("ct_vec");

/** The packed bytes Voyage's `ubinary` gives for a vector: a component > 0 is a 1, first bit first. */
function packed(vector: Float32Array): number[] {
  const bytes = new Array<number>(vector.length / 8).fill(0);
  vector.forEach((x, i) => {
    if (x > 0) bytes[i >> 3]! |= 0x80 >> (i & 7);
  });
  return bytes;
}

function hamming(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) for (let x = a[i]! ^ b[i]!; x; x &= x - 1) n++;
  return n;
}

describe("half precision and packed bits, without a database", () => {
  it("rounds to half precision as IEEE 754 does: to nearest, ties to even, subnormals, overflow", () => {
    expect(
      Array.from(toHalfPrecision([0.1, 1 / 3, -2, 65_504, 65_519, 2 ** -24, 2 ** -25, 3 * 2 ** -25])),
    ).toEqual([
      0.0999755859375,
      0.333251953125,
      -2,
      65_504,
      65_504,
      2 ** -24,
      0, // a tie between 0 and the smallest subnormal: to even
      2 ** -23,
    ]);
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: to even, 1; 1 + 3 × 2^-11: up, 1 + 2^-9.
    expect(Array.from(toHalfPrecision([1 + 2 ** -11, 1 + 3 * 2 ** -11]))).toEqual([1, 1 + 2 ** -9]);
    expect(halfBits(65_520)).toBe(0x7c00);
    expect(halfBits(-1)).toBe(0xbc00);
  });

  it("decodes Voyage's offset binary to the unsigned bytes ubinary gives", () => {
    // ubinary 0b1001_0110 (150) is binary 22; 0 is -128, 255 is 127.
    const signed = Buffer.from(Int8Array.of(22, -128, 127, -1).buffer).toString("base64");
    expect(Array.from(decodeEmbedding(signed, "offset-binary")!)).toEqual([150, 0, 255, 127]);
    expect(Array.from(decodeEmbedding([22, -128, 127, -1], "offset-binary")!)).toEqual([150, 0, 255, 127]);
  });

  it("accepts packed bits as bytes only, all bits clear included", () => {
    const identity = { provider: "voyage", model: "m", dimensions: 2, vectorType: "bit" as const };
    expect(validateEmbeddings({ embeddings: [[0, 0]] }, [1], identity)[0]).toEqual(Float32Array.of(0, 0));
    for (const bad of [
      [1, 256],
      [0.5, 1],
      [-1, 1],
    ]) {
      expect(() => validateEmbeddings({ embeddings: [bad] }, [7], identity)).toThrow(InvalidResponseError);
    }
  });
});

describeEachDatabase("pgvector column types", (database) => {
  const h = useEmulator("msw");
  let t: TestDatabase;
  beforeAll(async () => {
    t = await database.create();
    await t.exec(half.ddl + bits.ddl + plain.ddl);
  });
  afterAll(() => t?.close());

  const packedVoyage = (outputDtype: "binary" | "ubinary") =>
    voyageProvider({
      apiKey: VOYAGE_KEY,
      model: VOYAGE_MODEL,
      outputDimension: DIMENSIONS,
      outputDtype,
      baseURL: h.voyageBaseURL,
    });

  /** Edits rows `from`–`to`, so that the next run re-embeds them through the upsert path. */
  async function edit(tables: ItemTables, from: number, to: number) {
    await t.db.execute(
      sql.raw(
        `update rel_items_${tables.suffix} set body = body || ' edited' where id between ${from} and ${to}`,
      ),
    );
  }

  it("writes halfvec columns at half precision, on every write path", async () => {
    await resetItems(t.db, half, rows);
    const provider = voyage(h.voyageBaseURL);
    // New rows (COPY where the driver has it), then binary upserts, then text upserts.
    expect((await backfill({ provider, store: itemStore(t.db, half) })).embedded).toBe(ROWS);
    await edit(half, 1, 8);
    expect((await backfill({ provider, store: itemStore(t.db, half) })).embedded).toBe(8);
    await edit(half, 17, 24);
    expect(
      (await backfill({ provider, store: itemStore(t.db, half, { binaryWrites: false }) })).embedded,
    ).toBe(8);
    expect(await verifyEmbeddings(t.db, half)).toMatchObject({ current: ROWS, pending: 0 });
  });

  it("writes Voyage's binary and ubinary output to bit columns as the same bits", async () => {
    await resetItems(t.db, bits, rows);
    const bitsOf = async () =>
      queryRows<{ id: number; embedding: string }>(
        t.db,
        sql.raw(
          "select item_id as id, embedding::text as embedding from rel_item_embeddings_ct_bit order by 1",
        ),
      );
    expect(
      (await backfill({ provider: packedVoyage("ubinary"), store: itemStore(t.db, bits) })).embedded,
    ).toBe(ROWS);
    const first = await bitsOf();
    expect(await verifyEmbeddings(t.db, bits)).toMatchObject({ current: ROWS, pending: 0 });
    // Every row again, from `binary` (offset by 128 on the wire): binary upserts, then text upserts.
    const again = await backfill({
      provider: packedVoyage("binary"),
      store: itemStore(t.db, bits),
      reembed: "all",
    });
    expect(again.embedded).toBe(ROWS);
    expect(await bitsOf()).toEqual(first);
    await edit(bits, 1, 5);
    const text = await backfill({
      provider: packedVoyage("binary"),
      store: itemStore(t.db, bits, { binaryWrites: false }),
    });
    expect(text.embedded).toBe(5);
    expect(await verifyEmbeddings(t.db, bits)).toMatchObject({ current: ROWS, pending: 0 });
  });

  it("searches halfvec columns by cosine and bit columns by Hamming, and indexes them so", async () => {
    const texts = (
      await queryRows<{ id: number; title: string; body: string | null }>(
        t.db,
        sql.raw("select id, title, body from rel_items_ct_half order by id"),
      )
    ).map((row) => ({ id: row.id, text: itemText(row) }));
    // Row 4's own vector finds row 4 first; the distances are those of the half-precision vectors.
    const query = expectedVector(texts[3]!.text);
    const hits = await itemStore(t.db, half).nearest(query, { limit: 5, model: VOYAGE_MODEL });
    const stored = toHalfPrecision(query);
    const brute = texts
      .map(({ id, text }) => ({
        id,
        distance: 1 - cosineSimilarity(stored, toHalfPrecision(expectedVector(text))),
      }))
      .sort((a, b) => a.distance - b.distance)
      .slice(0, 5);
    expect(hits[0]!.id).toBe(4);
    expect(hits.map((hit) => hit.distance)).toEqual(brute.map((hit) => expect.closeTo(hit.distance, 5)));

    const bitTexts = (
      await queryRows<{ id: number; title: string; body: string | null }>(
        t.db,
        sql.raw("select id, title, body from rel_items_ct_bit order by id"),
      )
    ).map((row) => ({ id: row.id, bytes: packed(expectedVector(itemText(row))) }));
    const bitStore = itemStore(t.db, bits);
    const near = await bitStore.nearest(bitTexts[3]!.bytes, { limit: ROWS, model: VOYAGE_MODEL });
    expect(near.map((hit) => hit.distance)).toEqual(
      bitTexts.map((row) => hamming(row.bytes, bitTexts[3]!.bytes) / DIMENSIONS).sort((a, b) => a - b),
    );
    expect(near[0]).toMatchObject({ id: 4, distance: 0, similarity: 1 });
    const similar = await bitStore.findSimilar(4, { limit: ROWS });
    expect(similar.map((hit) => hit.id)).not.toContain(4);
    expect(similar.map((hit) => hit.distance)).toEqual(near.slice(1).map((hit) => hit.distance));
    expect(
      await rejectionOf(bitStore.nearest(bitTexts[3]!.bytes.slice(1), { model: VOYAGE_MODEL })),
    ).toBeInstanceOf(DimensionMismatchError);
    expect(
      await rejectionOf(
        bitStore.nearest(
          bitTexts[3]!.bytes.map(() => 256),
          { model: VOYAGE_MODEL },
        ),
      ),
    ).toBeInstanceOf(InvalidOptionError);

    expect(await rejectionOf(itemStore(t.db, half).createIndex({ ops: "vector_cosine_ops" }))).toBeInstanceOf(
      InvalidOptionError,
    );
    await itemStore(t.db, half).createIndex();
    await bitStore.createIndex();
    const indexes = await queryRows<{ def: string }>(
      t.db,
      sql.raw(
        "select indexdef as def from pg_indexes where tablename in ('rel_item_embeddings_ct_half', 'rel_item_embeddings_ct_bit') and indexdef like '%hnsw%' order by 1",
      ),
    );
    expect(indexes.map((index) => /\((embedding \w+)\)/.exec(index.def)?.[1])).toEqual([
      "embedding bit_hamming_ops",
      "embedding halfvec_cosine_ops",
    ]);
  });

  it("prepare() names the column, the type found and the type expected", async () => {
    const float: EmbeddingTarget = { provider: "voyage", model: VOYAGE_MODEL, dimensions: DIMENSIONS };
    const bit: EmbeddingTarget = { ...float, dimensions: DIMENSIONS / 8, vectorType: "bit" };
    const refusal = async (tables: ItemTables, target: EmbeddingTarget) => {
      const store = itemStore(t.db, tables, { lock: false });
      return rejectionOf(store.prepare(target).finally(() => store.release()));
    };
    const column = (suffix: string) => `rel_item_embeddings_${suffix}.embedding`;

    const vectorForBits = await refusal(plain, bit);
    expect(vectorForBits).toBeInstanceOf(StoreError);
    expect(vectorForBits.message).toContain(`${column("ct_vec")} is vector(256)`);
    expect(vectorForBits.message).toContain("expected bit(256)");

    const bitForFloats = await refusal(bits, float);
    expect(bitForFloats).toBeInstanceOf(StoreError);
    expect(bitForFloats.message).toContain(`${column("ct_bit")} is bit(256)`);
    expect(bitForFloats.message).toContain("expected vector(256) or halfvec(256)");

    // The Drizzle schema says halfvec, the database holds vector.
    const declaredHalf = await refusal(itemTables("ct_vec", "integer", "halfvec"), float);
    expect(declaredHalf).toBeInstanceOf(StoreError);
    expect(declaredHalf.message).toContain(
      "is vector(256) in the database but halfvec(256) in the Drizzle schema",
    );

    const fewerBits = await refusal(bits, { ...bit, dimensions: 16 });
    expect(fewerBits).toBeInstanceOf(DimensionMismatchError);
    expect(fewerBits).toMatchObject({ expected: 256, actual: 128 });
    const smallerHalf = await refusal(half, { ...float, dimensions: 128 });
    expect(smallerHalf).toBeInstanceOf(DimensionMismatchError);
    expect(smallerHalf.message).toContain("halfvec(256)");

    for (const [tables, target] of [
      [half, float],
      [bits, bit],
    ] as const) {
      const store = itemStore(t.db, tables, { lock: false });
      await store.prepare(target);
      await store.release();
    }
  });

  it("refuses a vector beyond halfvec's range before writing, naming the row", async () => {
    const store = itemStore(t.db, half, { lock: false });
    const target: EmbeddingTarget = { provider: "voyage", model: VOYAGE_MODEL, dimensions: DIMENSIONS };
    const vector = expectedVector("anything");
    vector[7] = 70_000;
    const error = await rejectionOf(
      store.write([{ id: 3, hash: "0".repeat(64), embedding: vector }], target),
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ reason: "row", rowId: 3 });
    expect(error.message).toContain("70000 at position 7");
  });
});
