/*
 * A row the provider refuses as too long is remembered at its text (issue 16): drizzleStore keeps it
 * in the refusals table, the next runs report it as `refused_before` and send nothing for it, the dry
 * run counts it the same way, an edited row is pending again, `retryRefused: true` sends it again,
 * and a vector written for the row forgets the refusal. With the SQL recipe the scan decides it in
 * its query and never reads the row's text; with a JavaScript recipe it looks the page's rows up.
 */
import { readFileSync } from "node:fs";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { drizzleStore } from "../../adapters/drizzle/index.js";
import { type BackfillOptions, backfill, hashText, StoreError } from "../../src/index.js";
import { describeEachDatabase, type TestDatabase } from "../support/index.js";
import {
  DIMENSIONS,
  itemStore,
  itemTables,
  itemText,
  longText,
  OPENAI_MODEL,
  openai,
  queryRows,
  rejectionOf,
  resetItems,
  seedRow,
  useEmulator,
  VERSION,
  VOYAGE_CONTEXT,
  VOYAGE_MODEL,
  verifyEmbeddings,
  voyage,
  writeTally,
} from "./harness.js";

writeTally("refusals");

const tables = itemTables("refusals");
const { items, embeddings } = tables;
/** itemText in SQL: the same texts, so the same hashes. */
const sqlText = sql`${items.title} || coalesce(chr(10) || ${items.body}, '')`;
type Recipe = "javascript" | "sql";

describeEachDatabase("reliability: rows refused as too long", (database) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await database.create();
    await t.exec(tables.ddl);
  });
  afterAll(() => t?.close());
  beforeEach(() =>
    t.exec(
      "do $$ begin if to_regclass('relay_embedding_refusals') is not null then drop table relay_embedding_refusals; end if; end $$",
    ),
  );

  const h = useEmulator("msw");
  const store = (recipe: Recipe, extra: { refusals?: false | { create: boolean } } = {}) =>
    recipe === "javascript"
      ? itemStore(t.db, tables)
      : drizzleStore({
          db: t.db,
          version: VERSION,
          ...extra,
          source: { table: items, key: items.id, text: sqlText },
          target: {
            table: embeddings,
            key: embeddings.itemId,
            embedding: embeddings.embedding,
            model: embeddings.model,
            version: embeddings.modelVersion,
            hash: embeddings.inputHash,
          },
        });
  const run = (recipe: Recipe, options: Partial<BackfillOptions<unknown>> = {}) =>
    backfill({
      provider: voyage(h.voyageBaseURL, { truncation: false }),
      store: store(recipe),
      maxInputsPerRequest: 4,
      concurrency: 1,
      retryMinDelayMs: 2,
      ...options,
    });
  const refusedRequests = () => h.emulator.calls.filter((call) => call.status === 400).length;
  const remembered = () =>
    queryRows<{ target: string; model: string; version: string; key: string; hash: string; reason: string }>(
      t.db,
      sql`select target, model, version, key, hash, reason from relay_embedding_refusals order by key`,
    );

  for (const recipe of ["javascript", "sql"] as const) {
    it(`${recipe} recipe: refused once, then skipped as refused_before with no request (dry run alike) until its text changes or retryRefused`, async () => {
      const long = { id: 3, title: "long", body: longText(VOYAGE_CONTEXT + 10) };
      await resetItems(t.db, tables, [seedRow(1), seedRow(2), long, seedRow(4), seedRow(5)]);
      const first = await run(recipe);
      expect(first).toMatchObject({ embedded: 4, skippedRows: [{ id: 3, reason: "input_too_long" }] });
      expect(refusedRequests()).toBe(1);
      expect(await remembered()).toEqual([
        {
          target: "rel_item_embeddings_refusals.embedding",
          model: VOYAGE_MODEL,
          version: VERSION,
          key: "3",
          hash: hashText(itemText(long)),
          reason: "input_too_long",
        },
      ]);

      // Never sent again while its text stays: reported, counted pending, missing in coverage.
      h.emulator.reset();
      const dry = await run(recipe, { dryRun: true });
      const second = await run(recipe);
      expect(h.emulator.calls).toHaveLength(0);
      expect(second).toMatchObject({ pending: 1, scanned: 1, embedded: 0, requests: 0, skipped: 1 });
      expect(second.skippedRows).toEqual([{ id: 3, reason: "refused_before" }]);
      expect(dry).toMatchObject({ pending: 1, requests: 0, estimatedTokens: 0, skipped: 1 });
      expect(dry.skippedRows).toEqual(second.skippedRows);
      expect(await store(recipe).coverage({ model: VOYAGE_MODEL })).toMatchObject({
        embedded: 4,
        missing: 1,
      });
      // The scan yields it marked, its text not read (the SQL recipe does not even build it).
      const target = { provider: "voyage", model: VOYAGE_MODEL, dimensions: DIMENSIONS };
      const scanned = [];
      for await (const page of store(recipe).scan({ ...target, reembed: "stale", pageSize: 10 })) {
        scanned.push(...page);
      }
      expect(scanned).toEqual([{ id: 3, text: "", hash: hashText(itemText(long)), refused: true }]);

      // Asked to retry: sent alone, refused again.
      const retried = await run(recipe, { retryRefused: true });
      expect(retried).toMatchObject({ requests: 1, skippedRows: [{ id: 3, reason: "input_too_long" }] });
      expect(refusedRequests()).toBe(1);

      // Edited, still too long: pending again, refused once, remembered at its new text.
      const edited = `${long.body} edited`;
      await t.db.update(items).set({ body: edited }).where(eq(items.id, 3));
      h.emulator.reset();
      expect((await run(recipe)).skippedRows).toEqual([{ id: 3, reason: "input_too_long" }]);
      expect(refusedRequests()).toBe(1);
      expect((await remembered()).map((r) => r.hash)).toEqual([
        hashText(itemText({ ...long, body: edited })),
      ]);

      // Edited to fit: embedded, and the refusal is forgotten.
      await t.db.update(items).set({ body: "short now" }).where(eq(items.id, 3));
      expect(await run(recipe)).toMatchObject({ embedded: 1, skipped: 0 });
      expect(await remembered()).toEqual([]);
      expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ current: 5, pending: 0 });
    });
  }

  // Table handling and batch mode do not depend on the driver: PGlite only.
  if (!database.realServer) {
    it("refusals: false remembers nothing; create: false needs the table (a StoreError saying what to do), the README's DDL makes it", async () => {
      const long = { id: 2, title: "long", body: longText(VOYAGE_CONTEXT + 10) };
      await resetItems(t.db, tables, [seedRow(1), long]);
      const provider = voyage(h.voyageBaseURL, { truncation: false });
      const off = await backfill({ provider, store: store("sql", { refusals: false }) });
      expect(off.skippedRows).toEqual([{ id: 2, reason: "input_too_long" }]);
      const again = await backfill({ provider, store: store("sql", { refusals: false }) });
      expect(again.skippedRows).toEqual([{ id: 2, reason: "input_too_long" }]);
      expect(refusedRequests()).toBe(2);
      const [table] = await queryRows<{ oid: string | null }>(
        t.db,
        sql`select to_regclass('relay_embedding_refusals')::text as oid`,
      );
      expect(table?.oid).toBeNull();

      const error = await rejectionOf(
        backfill({ provider, store: store("sql", { refusals: { create: false } }) }),
      );
      expect(StoreError.isInstance(error.cause) && error.cause.reason === "schema", String(error)).toBe(true);
      expect(error.cause.message).toContain("relay_embedding_refusals does not exist");
      expect(error.cause.message).toContain("refusals: false");

      // The README's DDL, run by your migrations, is the table the store uses.
      const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
      const ddl = /```sql\n(create table if not exists relay_embedding_refusals[\s\S]*?)```/.exec(
        readme,
      )?.[1];
      expect(ddl).toBeDefined();
      await t.exec(ddl!);
      const created = { provider, store: store("sql", { refusals: { create: false } }) };
      expect((await backfill(created)).skippedRows).toEqual([{ id: 2, reason: "input_too_long" }]);
      expect((await backfill(created)).skippedRows).toEqual([{ id: 2, reason: "refused_before" }]);
    });

    it("atomic: true remembers in the run's transaction (the table created in it too)", async () => {
      const long = { id: 2, title: "long", body: longText(VOYAGE_CONTEXT + 10) };
      await resetItems(t.db, tables, [seedRow(1), long]);
      const first = await run("sql", { atomic: true });
      expect(first.skippedRows).toEqual([{ id: 2, reason: "input_too_long" }]);
      expect((await remembered()).map((r) => r.key)).toEqual(["2"]);
      const second = await run("sql", { atomic: true });
      expect(second.skippedRows).toEqual([{ id: 2, reason: "refused_before" }]);
      expect(refusedRequests()).toBe(1);
    });

    it("batch mode: a line refused as too long is remembered; the next run submits no batch for it", async () => {
      const long = { id: 2, title: "long", body: longText(9000) }; // over OpenAI's 8,192 tokens
      await resetItems(t.db, tables, [seedRow(1), long, seedRow(3)]);
      const batch = {
        provider: openai(h.openaiBaseURL),
        store: itemStore(t.db, tables, { lock: false }),
        mode: "batch",
        pollIntervalMs: 1,
        maxPollIntervalMs: 4,
        retryMinDelayMs: 1,
      } as const;
      const first = await backfill(batch);
      expect(first).toMatchObject({ embedded: 2, skippedRows: [{ id: 2, reason: "input_too_long" }] });
      expect((await remembered()).map((r) => [r.key, r.model])).toEqual([["2", OPENAI_MODEL]]);
      const second = await backfill(batch);
      expect(second).toMatchObject({ skippedRows: [{ id: 2, reason: "refused_before" }] });
      expect(second.batch?.submitted.batches).toBe(0);
    });
  }
});
