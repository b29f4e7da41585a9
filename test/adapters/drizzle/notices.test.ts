/*
 * The library never writes to stdout on its own. postgres.js prints every server notice with
 * console.log unless the application passes `onnotice`, so a statement that raises a NOTICE (CREATE
 * INDEX IF NOT EXISTS on an existing index, CREATE TEMP TABLE IF NOT EXISTS…) would print from inside
 * the library. Every operation of the store runs here on a postgres.js client with its defaults.
 */
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { afterAll, beforeAll, expect, it } from "vitest";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import { deterministicEmbedding } from "../../../src/testing/deterministic-embedding.js";
import { describeEachDatabase, printedDuring, type TestDatabase } from "../../support/index.js";
import { DIMENSIONS, docTables, MODEL, skillTables, skillText } from "./fixtures.js";
import { runBackfill } from "./helpers.js";

const { skills, skillEmbeddings, ddl } = skillTables("integer", "notices");
const { docs, ddl: docsDdl } = docTables("docs_notices");

describeEachDatabase(
  "drizzleStore writes nothing to stdout",
  (database) => {
    let t: TestDatabase;
    let client: postgres.Sql;

    beforeAll(async () => {
      t = await database.create();
      await t.exec(ddl + docsDdl);
      await t.exec(`insert into skills_notices (id, name) select i, 'skill ' || i from generate_series(1, 40) i;
        insert into docs_notices (id, title, body) select i, 'doc ' || i, 'body' from generate_series(1, 40) i;`);
      client = postgres(t.url!, { max: 3 }); // no `onnotice`: postgres.js prints notices itself
    });
    afterAll(async () => {
      await client?.end({ timeout: 5 });
      await t?.close();
    });

    it("through every operation, twice, on both layouts", async () => {
      const db = drizzle({ client });
      const separate = drizzleStore({
        db,
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
      const sameRow = drizzleStore({
        db,
        source: { table: docs, key: docs.id, text: (d) => d.title },
        target: { embedding: docs.embedding, model: docs.embeddingModel, hash: docs.embeddingHash },
      });
      const printed = await printedDuring(async () => {
        for (let round = 0; round < 2; round++) {
          for (const store of [separate, sameRow]) {
            await runBackfill(store, { reembed: round === 0 ? "missing" : "all", pageSize: 16 });
            await store.prepare(MODEL);
            await store.coverage();
            await store.release();
            await store.transaction(async (tx) => {
              const [item] = (
                await tx
                  .scan({ ...MODEL, reembed: "all", pageSize: 1 })
                  [Symbol.asyncIterator]()
                  .next()
              ).value!;
              await tx.write(
                [{ id: item.id, hash: item.hash, embedding: deterministicEmbedding(item.text, DIMENSIONS) }],
                MODEL,
              );
            });
            await store.createIndex();
            await store.createIndex({
              method: "ivfflat",
              lists: 100,
              name: `${round}_ivf_${store === separate ? "s" : "r"}`,
            });
            await store.nearest(deterministicEmbedding("skill 1", DIMENSIONS), { limit: 3 });
            await store.findSimilar(1, { limit: 3 });
          }
          await db.execute(sql`delete from skills_notices where id = 40 - ${round}`);
          await separate.prune();
        }
      });
      expect(printed).toEqual([]);
    });
  },
  { drivers: ["postgres.js"] },
);
