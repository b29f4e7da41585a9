import { asc, count, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import { deterministicEmbedding } from "../../../src/testing/deterministic-embedding.js";
import { describeEachDatabase, type TestDatabase } from "../../support/index.js";
import { DIMENSIONS, type KeyKind, keyFor, MODEL, skillTables, skillText } from "./fixtures.js";
import { runBackfill, scanAll } from "./helpers.js";

const KINDS: KeyKind[] = ["integer", "bigint", "bigint-number", "uuid", "text"];
const ROWS = 31;
const PAGE_SIZES = [1, 3, 4, 30, 31, 32, 100];

// Keys that differ only by case, spacing, accents or a trailing character: adjacent in any collation.
const NEAR_TIES = ["a", "A", "a ", " a", "á", "a\t", "aa", "a'", 'a"', "a\\", "a;", "a--"];

/** Shuffled, so insertion order says nothing about key order. */
function shuffled<T>(values: T[]): T[] {
  const out = [...values];
  for (let i = out.length - 1; i > 0; i--) {
    const j = (i * 7919) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describeEachDatabase("drizzleStore keys", (database) => {
  let t: TestDatabase;
  const tables = Object.fromEntries(
    KINDS.map((kind) => [kind, skillTables(kind, `k_${kind.replace("-", "_")}`)]),
  ) as Record<KeyKind, ReturnType<typeof skillTables>>;

  beforeAll(async () => {
    t = await database.create();
    await t.exec(KINDS.map((kind) => tables[kind].ddl).join("\n"));
  });
  afterAll(() => t?.close());

  describe.each(KINDS)("%s keys", (kind) => {
    const { skills, skillEmbeddings } = tables[kind];
    const store = (partition?: { index: number; count: number }) =>
      drizzleStore({
        db: t.db,
        version: "1",
        partition,
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
    let ordered: (string | number | bigint)[];

    beforeAll(async () => {
      const keys: unknown[] = Array.from({ length: ROWS }, (_, i) => keyFor(kind, i + 1));
      if (kind === "text") keys.push(...NEAR_TIES);
      const rows = shuffled(keys).map((id, i) => ({
        id: id as never,
        name: `skill ${String(id)}`,
        // Many rows share one text: identical hashes must not confuse paging or writes.
        description: i % 2 === 0 ? "same" : `row ${i}`,
        content: "",
        tags: null,
      }));
      await t.db.insert(skills).values(rows);
      ordered = (await t.db.select({ id: skills.id }).from(skills).orderBy(asc(skills.id))).map(
        (row) => row.id,
      );
      expect(ordered).toHaveLength(keys.length);
    });

    it.each(PAGE_SIZES)("pages every row exactly once, in key order (page size %i)", async (pageSize) => {
      const items = await scanAll(store(), "all", pageSize);
      expect(items.map((item) => item.id)).toEqual(ordered);
    });

    it("backfills, then finds nothing pending; compare-and-set and similarity work with this key type", async () => {
      const run = await runBackfill(store(), { reembed: "missing", pageSize: 4 });
      expect(run.written).toBe(ordered.length);
      expect(run.scanned).toEqual(ordered);
      expect((await t.db.select({ n: count() }).from(skillEmbeddings))[0]!.n).toBe(ordered.length);
      expect(await scanAll(store(), "stale", 3)).toEqual([]);

      const victim = ordered[5]!;
      await t.db
        .update(skills)
        .set({ content: "edited" })
        .where(eq(skills.id, victim as never));
      const pending = await scanAll(store(), "stale", 3);
      expect(pending.map((item) => item.id)).toEqual([victim]);
      await t.db
        .update(skills)
        .set({ content: "edited again" })
        .where(eq(skills.id, victim as never));
      const record = {
        id: victim,
        hash: pending[0]!.hash,
        embedding: deterministicEmbedding("x", DIMENSIONS),
      };
      expect(await store().write([record], MODEL)).toEqual({ written: 0, conflicts: [victim] });

      const similar = await store().findSimilar(ordered[0]!, { limit: 3 });
      expect(similar).toHaveLength(3);
      for (const hit of similar) {
        expect(ordered).toContainEqual(hit.id);
        expect(hit.id).not.toEqual(ordered[0]);
      }
    });

    it("splits the rows into disjoint partitions that cover them all", async () => {
      const seen: unknown[] = [];
      for (let index = 0; index < 3; index++) {
        const items = await scanAll(store({ index, count: 3 }), "all", 4);
        seen.push(...items.map((item) => item.id));
      }
      expect(new Set(seen.map(String)).size).toBe(seen.length);
      expect([...seen].sort()).toEqual([...ordered].sort());
    });
  });
});
