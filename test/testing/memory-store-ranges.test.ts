/*
 * memoryStore's key ranges: the same contract as drizzleStore's (every `every`-th key is a boundary,
 * `after < key <= through`), compared by the keys' JavaScript values.
 */
import { describe, expect, it } from "vitest";
import { backfill, InvalidOptionError, type KeyRange } from "../../src/index.js";
import { memoryStore, scriptedProvider } from "../../src/testing/index.js";

const target = { provider: "scripted", model: "m", dimensions: 8 };

async function keysOf(store: ReturnType<typeof memoryStore<any, any>>, range: KeyRange) {
  const keys: unknown[] = [];
  for await (const page of store.withKeyRange(range).scan({ ...target, reembed: "all", pageSize: 3 })) {
    keys.push(...page.map((item) => item.id));
  }
  return keys;
}

describe("memoryStore key ranges", () => {
  it("numbers: boundaries every 4th key in key order, ranges disjoint and complete", async () => {
    // 11 rows in shuffled order, numeric keys that sort differently as text (9 < 10).
    const ids = [10, 3, 7, 1, 11, 5, 9, 2, 8, 4, 6];
    const store = memoryStore({ rows: ids.map((id) => ({ id, text: `row ${id}` })) });
    expect(await store.keyBoundaries({ every: 4 })).toEqual([["4"], ["8"]]);
    store.rows.set(12, { id: 12, text: "row 12" });
    // Never the last key: the range after the last boundary is never empty.
    expect(await store.keyBoundaries({ every: 4 })).toEqual([["4"], ["8"]]);
    store.rows.delete(12);
    expect(await keysOf(store, { through: ["4"] })).toEqual([1, 2, 3, 4]);
    expect(await keysOf(store, { after: ["4"], through: ["8"] })).toEqual([5, 6, 7, 8]);
    expect(await keysOf(store, { after: ["8"] })).toEqual([9, 10, 11]);
    expect(await store.withKeyRange({ after: ["8"] }).coverage(target)).toEqual({
      total: 3,
      embedded: 0,
      stale: 0,
      missing: 3,
    });
  });

  it("bigint and string keys compare as their type, not as text", async () => {
    const big = memoryStore<{ id: bigint; text: string }, bigint>({
      rows: [2n ** 60n, 5n, 2n ** 60n + 1n].map((id) => ({ id, text: `b${id}` })),
    });
    expect(await big.keyBoundaries({ every: 2 })).toEqual([[String(2n ** 60n)]]);
    expect(await keysOf(big as any, { after: [String(2n ** 60n)] })).toEqual([2n ** 60n + 1n]);
    const words = memoryStore<{ id: string; text: string }, string>({
      rows: ["b", "a", "c"].map((id) => ({ id, text: id })),
    });
    expect(await keysOf(words as any, { after: ["a"], through: ["b"] })).toEqual(["b"]);
  });

  it("backfill() on a range embeds only that range's rows, into the shared store", async () => {
    const store = memoryStore({ rows: Array.from({ length: 9 }, (_, i) => ({ id: i + 1, text: `t${i}` })) });
    const report = await backfill({
      provider: scriptedProvider(),
      store: store.withKeyRange({ after: ["3"], through: ["6"] }),
    });
    expect(report.embedded).toBe(3);
    expect([...store.records.keys()].sort()).toEqual([4, 5, 6]);
  });

  it("refuses malformed bounds and `every`", async () => {
    const store = memoryStore();
    expect(() => store.withKeyRange({ after: [4 as any] })).toThrow(InvalidOptionError);
    expect(() => store.withKeyRange({ through: [] })).toThrow(/range\.through/);
    await expect(store.keyBoundaries({ every: 0 })).rejects.toThrow(/`every`/);
  });
});
