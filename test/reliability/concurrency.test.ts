/*
 * Concurrency: rows edited, inserted and deleted while a backfill runs end either embedded from their
 * new text or pending, never stale-but-marked-current, and a second run completes them. Then four
 * processes backfill one table on the real server, one partition each: every row is written once,
 * and together they send as many requests as one process does (within 5%).
 */
import { eq, inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { backfill } from "../../src/index.js";
import { describeEachDatabase, type TestDatabase } from "../support/index.js";
import {
  describeOnServer,
  type ItemRow,
  itemStore,
  itemTables,
  itemText,
  resetEmulator,
  resetItems,
  seedRow,
  useEmulator,
  verifyEmbeddings,
  voyage,
  writeTally,
} from "./harness.js";
import { runWorker, SEED, seeded } from "./processes.js";

writeTally("concurrency");

const tables = itemTables("conc");

describeEachDatabase("reliability: edits during a run", (database) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await database.create();
    await t.exec(tables.ddl);
  });
  afterAll(() => t?.close());

  describe("through loopback", () => {
    const h = useEmulator("loopback", { latency: { baseMs: 5 } });
    const { items } = tables;
    const history = new Set<string>();
    const seed = (rows: ItemRow[]) => {
      for (const row of rows) history.add(itemText(row));
      return resetItems(t.db, tables, rows);
    };
    beforeEach(() => history.clear());

    it("edits at known points: in flight, planned, not yet read, before the cursor", async () => {
      await seed(Array.from({ length: 60 }, (_, i) => seedRow(i + 1)));
      // Another connection (another process, on a real server) edits while request 2 is in flight.
      const other = await t.connect();
      const edit = (id: number, body: string) => {
        history.add(itemText({ title: `item ${id}`, body }));
        return other.db.update(items).set({ body }).where(eq(items.id, id));
      };
      const insert = (row: ItemRow) => {
        history.add(itemText(row));
        return other.db.insert(items).values(row as any);
      };
      let requests = 0;
      const fetch: typeof globalThis.fetch = async (input, init) => {
        if (++requests === 2) {
          await edit(3, "edited after its vector was made"); // request 1: written, or about to be
          await edit(6, "edited while in flight");
          await edit(7, "edited while in flight too");
          await other.db.delete(items).where(eq(items.id, 8)); // in flight, then gone
          await edit(35, "edited before the scan reached it");
          await edit(36, "also edited before the scan reached it");
          await other.db.delete(items).where(inArray(items.id, [40, 41])); // gone before being read
          await insert({ id: 100, title: "item 100", body: "inserted past the end" });
          await insert({ id: 101, title: "item 101", body: "inserted past the end too" });
          await insert({ id: 0, title: "item 0", body: "inserted behind the scan" });
        }
        // Request 3 holds rows 11-15: row 12 has been read, and its vector is not made yet.
        if (requests === 3) await edit(12, "edited after it was read, before it was sent");
        return globalThis.fetch(input, init);
      };
      try {
        const first = await backfill({
          provider: voyage(h.voyageBaseURL, { fetch }),
          store: itemStore(t.db, tables),
          maxInputsPerRequest: 5,
          pageSize: 10,
          concurrency: 1,
        });
        // Rows 6, 7, 8 (in flight) and 12 (read before its edit) were refused by compare-and-set.
        expect(first.skippedByReason.changed_during_run).toBeGreaterThanOrEqual(4);
        const after = await verifyEmbeddings(t.db, tables, { history });
        expect(after.rows).toBe(60 - 3 + 3);
        expect(after.pendingIds.sort()).toEqual(["0", "12", "3", "6", "7"]);

        const second = await backfill({ provider: voyage(h.voyageBaseURL), store: itemStore(t.db, tables) });
        expect(second).toMatchObject({ pending: 5, embedded: 5, skipped: 0 });
        expect(await verifyEmbeddings(t.db, tables, { history })).toMatchObject({ pending: 0, current: 60 });
      } finally {
        await other.close();
      }
    });

    it("seeded random updates, inserts and deletes for the whole run", async () => {
      const ROWS = 150;
      await seed(Array.from({ length: ROWS }, (_, i) => seedRow(i + 1)));
      const random = seeded(SEED + 1);
      const other = await t.connect();
      const ids = Array.from({ length: ROWS }, (_, i) => i + 1);
      let next = ROWS + 1;
      let running = true;
      let ops = 0;
      const editor = (async () => {
        // Bounded, so a slow driver does not turn this into an edit storm.
        while (running && ops < 150) {
          const dice = random(1, 10);
          const id = ids[random(0, ids.length - 1)]!;
          if (dice <= 6) {
            const body = `revision ${ops} of row ${id} delta${random(1, 50)}`;
            history.add(itemText({ title: `item ${id}`, body }));
            await other.db.update(items).set({ body }).where(eq(items.id, id));
          } else if (dice <= 8) {
            const row = seedRow(next);
            ids.push(next++);
            history.add(itemText(row));
            await other.db.insert(items).values(row as any);
          } else {
            ids.splice(ids.indexOf(id), 1);
            await other.db.delete(items).where(eq(items.id, id));
          }
          ops++;
          await new Promise((resolve) => setTimeout(resolve, random(0, 4)));
        }
      })();
      try {
        const first = await backfill({
          provider: voyage(h.voyageBaseURL),
          store: itemStore(t.db, tables),
          maxInputsPerRequest: 5,
          pageSize: 20,
          concurrency: 2,
        }).finally(() => {
          running = false;
        });
        await editor;
        expect(ops).toBeGreaterThan(10);
        expect(first.embedded).toBeGreaterThan(0);
        const after = await verifyEmbeddings(t.db, tables, { history });
        expect(after.rows).toBe(ids.length);

        resetEmulator(h.emulator);
        const second = await backfill({ provider: voyage(h.voyageBaseURL), store: itemStore(t.db, tables) });
        expect(second.embedded).toBe(after.pending);
        expect(await verifyEmbeddings(t.db, tables, { history })).toMatchObject({
          rows: ids.length,
          current: ids.length,
        });
      } finally {
        running = false;
        await editor;
        await other.close();
      }
    });
  });
});

describeOnServer("reliability: four processes, one partition each", (database) => {
  const ROWS = 1200;
  const OPTIONS = { maxInputsPerRequest: 15, concurrency: 2, pageSize: 300 };
  const part = itemTables("part");
  const LOG = `
    create table rel_writes (item_id integer not null);
    create function rel_log_write() returns trigger language plpgsql as $$
    begin insert into rel_writes values (new.item_id); return null; end $$;
    create trigger rel_log_write after insert or update on rel_item_embeddings_part
      for each row execute function rel_log_write();`;
  let t: TestDatabase;
  const h = useEmulator("loopback");
  beforeAll(async () => {
    t = await database.create();
    await t.exec(part.ddl + LOG);
    await resetItems(
      t.db,
      part,
      Array.from({ length: ROWS }, (_, i) => seedRow(i + 1)),
    );
  });
  afterAll(() => t?.close());

  it(`${ROWS} rows: each embedded once, requests within 5% of one process's`, async () => {
    const single = await backfill({
      provider: voyage(h.voyageBaseURL),
      store: itemStore(t.db, part),
      ...OPTIONS,
    });
    expect(single.embedded).toBe(ROWS);
    const alone = h.emulator.stats.requests;
    resetEmulator(h.emulator);
    await t.exec("truncate rel_item_embeddings_part, rel_writes");

    const results = await Promise.all(
      [0, 1, 2, 3].map((index) =>
        runWorker({
          db: `${index % 2 === 0 ? "node-postgres" : "postgres.js"}:${t.url}`,
          table: "part",
          voyageURL: h.voyageBaseURL,
          options: OPTIONS,
          partition: { index, count: 4 },
        }),
      ),
    );
    for (const result of results) expect(result.code, result.output).toBe(0);
    const embedded = results.map((r) => r.report!.embedded as number);
    expect(embedded.reduce((a, b) => a + b)).toBe(ROWS);
    for (const n of embedded) expect(n).toBeGreaterThan(ROWS / 8); // every worker took a share

    const together = h.emulator.stats.requests;
    expect(Math.abs(together - alone) / alone).toBeLessThanOrEqual(0.05);
    const result: unknown = await t.db.execute(
      sql`select count(*)::int as writes, count(distinct item_id)::int as rows from rel_writes`,
    );
    const [log] = Array.isArray(result) ? result : (result as { rows: unknown[] }).rows;
    expect(log).toEqual({ writes: ROWS, rows: ROWS });
    expect(await verifyEmbeddings(t.db, part)).toMatchObject({ rows: ROWS, current: ROWS });
    console.log(
      `partitions: one process ${alone} requests, four processes ${together} (${embedded.join(" + ")} rows)`,
    );
  });
});
