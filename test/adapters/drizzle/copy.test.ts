/*
 * The COPY paths: new rows are COPYed straight into the target; a COPY the server rejects must fail
 * promptly (postgres.js 3.4 would hang: porsager/postgres#1173) and the write must fall back to an
 * upsert without losing or duplicating anything.
 */
import { count, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { sessionOf } from "../../../adapters/drizzle/driver.js";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import { copyFile } from "../../../src/postgres/index.js";
import { deterministicEmbedding } from "../../../src/testing/deterministic-embedding.js";
import { describeEachDatabase, type TestDatabase } from "../../support/index.js";
import { DIMENSIONS, MODEL, skillTables, skillText } from "./fixtures.js";
import { parseVector, runBackfill, scanAll } from "./helpers.js";

const { skills, skillEmbeddings, ddl } = skillTables("integer", "copy");

// Fails the first insert into the target with `errcode`, then lets everything through: a sequence,
// because its increments survive the rollback of the failed COPY.
const failOnce = (errcode: string) => `
  drop trigger if exists fail_once on skill_embeddings_copy;
  drop sequence if exists fail_once_seq;
  create sequence fail_once_seq;
  create or replace function fail_once() returns trigger language plpgsql as $$
  begin
    if nextval('fail_once_seq') = 1 then
      raise exception 'injected failure' using errcode = '${errcode}';
    end if;
    return new;
  end $$;
  create trigger fail_once before insert on skill_embeddings_copy for each row execute function fail_once();`;

describeEachDatabase("drizzleStore COPY", (database) => {
  let t: TestDatabase;
  const store = () =>
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
      },
    });

  beforeAll(async () => {
    t = await database.create();
    await t.exec(`${ddl} create table copy_target (id integer primary key, body text);`);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await t.exec(
      "drop trigger if exists fail_once on skill_embeddings_copy; truncate skills_copy, skill_embeddings_copy, copy_target",
    );
    await t.db
      .insert(skills)
      .values(Array.from({ length: 30 }, (_, i) => ({ id: i + 1, name: `skill ${i}` })));
  });

  it("a COPY the server rejects fails promptly, with the transaction left to roll back", async () => {
    const file = (ids: number[]) =>
      copyFile(
        ids.map((id) => {
          const key = Buffer.allocUnsafe(4);
          key.writeInt32BE(id);
          return [key, `row ${id}`];
        }),
      );
    const copy = (ids: number[]) =>
      t.db.transaction((tx) => sessionOf(tx, true).copyIn("copy_target (id, body)", file(ids)));
    await copy([1, 2, 3]);
    const failure = await copy([4, 1]).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    // The connection is usable again and nothing of the failed COPY stayed.
    const rows = await t.db.execute(sql`select count(*)::int as n from copy_target`);
    const n = (Array.isArray(rows) ? rows : (rows as { rows: { n: number }[] }).rows)[0]?.n;
    expect(n).toBe(3);
  });

  it.each([
    ["23505", "a unique violation (another writer inserted the row meanwhile)"],
    ["0A000", "COPY refused (row-level security)"],
  ])("falls back to an upsert when the COPY of new rows fails with %s: %s", async (errcode) => {
    await t.exec(failOnce(errcode));
    const run = await runBackfill(store(), { pageSize: 10 });
    expect(run.written).toBe(30);
    expect((await t.db.select({ n: count() }).from(skillEmbeddings))[0]!.n).toBe(30);
    expect(await scanAll(store(), "stale")).toEqual([]);
    const [row] = await t.db.select().from(skills).where(eq(skills.id, 1));
    const [stored] = await t.db.select().from(skillEmbeddings).where(eq(skillEmbeddings.skillId, 1));
    expect(parseVector(stored!.embedding).map(Math.fround)).toEqual(
      Array.from(deterministicEmbedding(skillText(row!), DIMENSIONS)),
    );
  });

  it("writes new rows by COPY and existing rows by upsert in one batch", async () => {
    const pending = await scanAll(store(), "missing", 100);
    const records = pending.map((item) => ({
      id: item.id,
      hash: item.hash,
      embedding: deterministicEmbedding(item.text, DIMENSIONS),
    }));
    await store().write(records.slice(0, 10), MODEL);
    // 10 existing (upsert) + 20 new (COPY), with another model so every row changes.
    const other = { ...MODEL, model: "det-8-b" };
    expect(await store().write(records, other)).toEqual({ written: 30, conflicts: [] });
    const models = await t.db.select({ model: skillEmbeddings.modelName }).from(skillEmbeddings);
    expect(models).toHaveLength(30);
    expect(new Set(models.map((row) => row.model))).toEqual(new Set(["det-8-b"]));
  });
});
