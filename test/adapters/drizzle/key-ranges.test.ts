/*
 * Key ranges: `keyBoundaries()` splits the table into ranges of `every` rows, read from the key's
 * index, and `withKeyRange()` restricts scan, coverage and lock to one range. The ranges must cover
 * every row exactly once whatever the key type, also keys whose JavaScript value is inexact (bigint
 * past 2^53) or whose order is the collation's (text with quotes, emoji).
 */
import { type SQL, sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type DrizzleStore, drizzleStore } from "../../../adapters/drizzle/index.js";
import type { KeyBound, KeyRange } from "../../../src/contracts/embedding-store.js";
import { InvalidOptionError, StoreError } from "../../../src/errors/index.js";
import { rejectionOf } from "../../support/assertions.js";
import { type AnyDb, describeEachDatabase, type TestDatabase } from "../../support/index.js";
import { type KeyKind, keyFor, MODEL, skillStoreOptions, skillTables } from "./fixtures.js";
import { runBackfill, scanAll } from "./helpers.js";

const ROWS = 25;
const KINDS: KeyKind[] = ["integer", "bigint", "text", "uuid"];

function storeFor(
  db: AnyDb,
  kind: KeyKind,
  extra: { filter?: SQL; partition?: { index: number; count: number } } = {},
) {
  return drizzleStore(
    skillStoreOptions(db, skillTables(kind, `kr_${kind}`), extra) as any,
  ) as DrizzleStore<unknown>;
}

/** The ranges between consecutive boundaries, with open ends. */
function rangesOf(bounds: readonly KeyBound[]): KeyRange[] {
  return [...bounds, undefined].map((through, i) => ({ after: bounds[i - 1], through }));
}

describeEachDatabase("drizzleStore key ranges", (database) => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await database.create();
    for (const kind of KINDS) {
      const { skills, ddl } = skillTables(kind, `kr_${kind}`);
      await t.exec(ddl);
      // Inserted out of key order: the boundaries must follow the key, not the insertion order.
      const order = Array.from({ length: ROWS }, (_, i) => ((i * 7) % ROWS) + 1);
      await t.db
        .insert(skills)
        .values(
          order.map((i) => ({ id: keyFor(kind, i), name: `skill ${i}`, description: `d${i % 4}` })) as any,
        );
    }
  });
  afterAll(() => t?.close());

  for (const kind of KINDS) {
    it(`${kind} keys: the ranges cover every row exactly once, ${ROWS} rows in ranges of 10`, async () => {
      const store = storeFor(t.db, kind);
      const bounds = await store.keyBoundaries({ every: 10 });
      expect(bounds).toHaveLength(2);
      for (const bound of bounds) expect(bound).toEqual([expect.any(String)]);

      const seen: unknown[][] = [];
      for (const range of rangesOf(bounds)) {
        const part = store.withKeyRange(range);
        seen.push((await scanAll(part as any, "all", 4)).map((item) => item.id));
        expect(await part.coverage(MODEL)).toMatchObject({ total: seen.at(-1)!.length });
      }
      expect(seen.map((ids) => ids.length)).toEqual([10, 10, 5]);
      const all = (await scanAll(store as any, "all", 100)).map((item) => item.id);
      expect(seen.flat()).toEqual(all); // same keys, same order: disjoint, complete, in key order
      // A boundary is the last key of its range, exactly as the database prints it.
      const texts = await keyTexts(t.db, kind);
      expect(bounds).toEqual([[texts[9]], [texts[19]]]);
    });
  }

  it("a range backfill embeds its rows only; the others stay missing", async () => {
    const store = storeFor(t.db, "integer");
    await t.exec("truncate skill_embeddings_kr_integer");
    const [first, second] = await store.keyBoundaries({ every: 10 });
    const run = await runBackfill(store.withKeyRange({ after: first, through: second }) as any);
    expect(run.scanned).toEqual(Array.from({ length: 10 }, (_, i) => i + 11));
    expect(await store.coverage(MODEL)).toEqual({ total: ROWS, embedded: 10, stale: 0, missing: 15 });
    expect(await store.withKeyRange({ through: first }).coverage(MODEL)).toMatchObject({ missing: 10 });
    await t.exec("truncate skill_embeddings_kr_integer");
  });

  it("boundaries count only the rows `filter` keeps, and fewer rows than `every` give none", async () => {
    const { skills } = skillTables("integer", "kr_integer");
    const even = storeFor(t.db, "integer", { filter: sql`${skills.id} % 2 = 0` });
    expect(await even.keyBoundaries({ every: 5 })).toEqual([["10"], ["20"]]);
    expect(await storeFor(t.db, "integer").keyBoundaries({ every: ROWS + 1 })).toEqual([]);
    // Never the last key: the range after the last boundary is never empty.
    expect(await storeFor(t.db, "integer").keyBoundaries({ every: 1 })).toHaveLength(ROWS - 1);
    expect(await storeFor(t.db, "integer").keyBoundaries({ every: 5 })).toEqual([
      ["5"],
      ["10"],
      ["15"],
      ["20"],
    ]);
  });

  it("refuses malformed ranges, `every` and partitions combined with ranges, naming the option", async () => {
    const store = storeFor(t.db, "integer");
    const refused = (work: () => unknown) => {
      try {
        work();
      } catch (error) {
        expect(InvalidOptionError.isInstance(error)).toBe(true);
        return (error as InvalidOptionError).option;
      }
      throw new Error("not refused");
    };
    expect(refused(() => store.withKeyRange({ after: "5" as any }))).toBe("range.after");
    expect(refused(() => store.withKeyRange({ through: ["1", "2"] }))).toBe("range.through");
    expect(refused(() => store.withKeyRange(null as any))).toBe("range");
    expect(refused(() => store.withKeyRange({}).withKeyRange({}))).toBe("range");
    const partitioned = storeFor(t.db, "integer", { partition: { index: 0, count: 2 } });
    expect(refused(() => partitioned.withKeyRange({}))).toBe("partition");
    for (const every of [0, 1.5, Number.NaN]) {
      const error = await rejectionOf(store.keyBoundaries({ every }));
      expect(error).toMatchObject({ option: "every" });
    }
    // A bound that is not a key of this type fails in the database, as a typed error.
    const error = await rejectionOf(scanAll(store.withKeyRange({ after: ["not a number"] }) as any, "all"));
    expect(StoreError.isInstance(error)).toBe(true);
  });

  if (database.realServer)
    it("advisory locks: one worker per range; ranges side by side; a whole-table run excludes them", async () => {
      const [a, b, c] = await Promise.all([t.connect(), t.connect(), t.connect()]);
      const prepareError = (s: DrizzleStore<unknown>) =>
        s.prepare(MODEL).then(
          () => undefined,
          (error: unknown) => error,
        );
      try {
        const first = storeFor(a.db, "integer").withKeyRange({ through: ["10"] });
        const second = storeFor(b.db, "integer").withKeyRange({ after: ["10"], through: ["20"] });
        await first.prepare(MODEL);
        await second.prepare(MODEL);
        const same = await prepareError(storeFor(c.db, "integer").withKeyRange({ through: ["10"] }));
        expect(same).toMatchObject({ reason: "locked" });
        expect((same as Error).message).toContain('keys null..["10"]');
        const whole = await prepareError(storeFor(c.db, "integer"));
        expect(whole).toMatchObject({ reason: "locked" });
        await first.release();
        await second.release();

        const all = storeFor(a.db, "integer");
        await all.prepare(MODEL);
        const range = await prepareError(storeFor(b.db, "integer").withKeyRange({ through: ["10"] }));
        expect(range).toMatchObject({ reason: "locked" });
        expect((range as Error).message).toContain("a run without partition or key range");
        await all.release();
      } finally {
        await Promise.all([a.close(), b.close(), c.close()]);
      }
    });
});

/** The keys of `skills_kr_<kind>` as the database prints them, in key order. */
async function keyTexts(db: AnyDb, kind: KeyKind): Promise<string[]> {
  const result: unknown = await db.execute(
    sql.raw(`select id::text as k from skills_kr_${kind} order by id`),
  );
  const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { k: string }[];
  return rows.map((row) => row.k);
}
