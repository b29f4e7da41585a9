/*
 * The kit's store helpers on every driver, through the kit's own sessions: catalog and schema checks,
 * staging (every path writes the same rows), vector indexes (no notice, restored settings), run locks
 * and the mapping of database errors.
 */
import postgres from "postgres";
import { beforeAll, describe, expect, it } from "vitest";
import { DimensionMismatchError, InvalidOptionError, StoreError } from "../../src/errors/index.js";
import {
  acquireRunLock,
  checkTableColumns,
  checkUniqueIndex,
  checkVectorColumn,
  checkVectorExtension,
  createVectorIndex,
  databaseError,
  fragmentQuery,
  guard,
  hasUniqueIndex,
  joinFragments,
  type PgSession,
  postgresJsSession,
  rawFragment,
  relationExists,
  type StagedRow,
  stageRows,
  tableColumns,
  tableName,
  vectorExtension,
  vectorTypeOid,
} from "../../src/postgres/index.js";
import { type DatabaseFactory, printedDuring, rejectionOf, type TestDatabase } from "../support/index.js";
import { inTransaction, parseVector, sessionFor, vectorOf } from "./helpers.js";

const DIMENSIONS = 8;
const items = tableName("kit_items");
const target = { provider: "test", model: "m", dimensions: DIMENSIONS };

/** The store helpers: registered by kit.test.ts inside its suite for one database (`db()` is it, once created). */
export function storeHelperTests(database: DatabaseFactory, db: () => TestDatabase): void {
  let t: TestDatabase;
  let session: PgSession;

  beforeAll(async () => {
    t = db();
    await t.exec(`
      create table kit_items (
        id integer primary key, tenant text not null, slug text, body text,
        embedding vector(${DIMENSIONS}), loose vector, model text, hash text
      );
      create unique index kit_items_tenant_slug on kit_items (slug, tenant);
      create unique index kit_items_partial on kit_items (body) where body is not null;
      create unique index kit_items_with_include on kit_items (hash) include (model);
      insert into kit_items (id, tenant, slug) select i, 't' || (i % 3), 's' || i from generate_series(1, 30) i;`);
    session = sessionFor(t);
  });

  it("reads the catalog: the extension, columns, unique indexes, relations", async () => {
    expect((await vectorExtension(session)).installed).toMatch(/^0\.\d+/);
    expect(await vectorTypeOid(session)).toBeGreaterThan(0);
    const columns = await tableColumns(session, items);
    expect(columns?.map((c) => c.name)).toEqual([
      "id",
      "tenant",
      "slug",
      "body",
      "embedding",
      "loose",
      "model",
      "hash",
    ]);
    expect(columns?.find((c) => c.name === "embedding")).toEqual({
      name: "embedding",
      type: "vector",
      typmod: DIMENSIONS,
      notNull: false,
    });
    expect(columns?.find((c) => c.name === "tenant")?.notNull).toBe(true);
    expect(await tableColumns(session, tableName("no_such_table"))).toBeUndefined();

    expect(await hasUniqueIndex(session, items, ["id"])).toBe(true);
    expect(await hasUniqueIndex(session, items, ["tenant", "slug"])).toBe(true); // any order
    expect(await hasUniqueIndex(session, items, ["tenant"])).toBe(false); // part of a composite
    expect(await hasUniqueIndex(session, items, ["body"])).toBe(false); // partial
    expect(await hasUniqueIndex(session, items, ["hash"])).toBe(true); // INCLUDE columns are not keys
    expect(await hasUniqueIndex(session, items, ["model"])).toBe(false);

    expect(await relationExists(session, items, "kit_items_tenant_slug")).toBe(true);
    expect(await relationExists(session, items, "kit_items_nothing")).toBe(false);
  });

  it("checks a schema with typed errors that say what is wrong", async () => {
    await checkVectorExtension(session);
    const missingTable = await rejectionOf(checkTableColumns(session, tableName("nope"), ["id"]));
    expect(StoreError.isInstance(missingTable) && missingTable.reason).toBe("schema");
    expect(missingTable.message).toMatch(/Table nope does not exist/);
    const missingColumn = await rejectionOf(checkTableColumns(session, items, ["id", "vec", "x"]));
    expect(missingColumn.message).toMatch(/kit_items\.vec, kit_items\.x do not exist/);

    const columns = await checkTableColumns(session, items, ["embedding", "loose", "body"]);
    const column = (name: string) => columns.find((c) => c.name === name)!;
    checkVectorColumn({ table: items, column: column("embedding"), target });
    const wrongSize = (() => {
      try {
        checkVectorColumn({
          table: items,
          column: column("embedding"),
          target: { ...target, dimensions: 4 },
        });
      } catch (error) {
        return error;
      }
    })();
    expect(DimensionMismatchError.isInstance(wrongSize) && wrongSize).toMatchObject({
      expected: DIMENSIONS,
      actual: 4,
      source: "store",
    });
    expect(String(wrongSize)).toMatch(
      /kit_items\.embedding holds vector\(8\), but test model m makes 4-dimension/,
    );
    // A column without a size falls back to what the store's schema declares, and names it.
    checkVectorColumn({ table: items, column: column("loose"), target });
    expect(() =>
      checkVectorColumn({
        table: items,
        column: column("loose"),
        target,
        declared: { dimensions: 16, where: "the app's schema" },
      }),
    ).toThrow(/is declared in the app's schema as vector\(16\)/);
    expect(() => checkVectorColumn({ table: items, column: column("body"), target })).toThrow(
      /kit_items\.body is of type text/,
    );
    await checkUniqueIndex(session, items, ["slug", "tenant"], "so rows can be paged");
    await expect(checkUniqueIndex(session, items, ["body"], "so rows can be paged")).rejects.toThrow(
      "kit_items.body needs a unique index (primary key or .unique()) so rows can be paged.",
    );
    // A column of a composite unique key: the error names the key and says why one column is needed.
    await expect(checkUniqueIndex(session, items, ["tenant"], "so rows can be paged")).rejects.toThrow(
      "kit_items.tenant is unique only together with other columns (slug, tenant), not alone, and this store needs one unique key column so rows can be paged.",
    );
  });

  it("stages rows by every path the session has, and each writes the same rows", async () => {
    const rows: StagedRow[] = Array.from({ length: 25 }, (_, i) => ({
      key: String(i + 1),
      hash: `hash ${i + 1} 'quoted' \\ ✓`,
      embedding: vectorOf(i + 1, DIMENSIONS),
    }));
    const paths = [true, false];
    for (const binary of paths) {
      await t.exec("update kit_items set embedding = null, hash = null");
      let statements = 0;
      await inTransaction(session, (tx) =>
        stageRows(tx, rows, { binary, cache: {} }, async (staged) => {
          statements++;
          const { text, params } = fragmentQuery(
            joinFragments(
              [
                staged.with ?? rawFragment(""),
                rawFragment(" update kit_items set embedding = v.embedding, hash = v.hash from "),
                staged.from,
                rawFragment(" where kit_items.id = v.key::int"),
              ],
              "",
            ),
          );
          await tx.query(text, params);
        }),
      );
      expect(statements).toBe(1);
      const stored = await session.query<{ id: number; embedding: string; hash: string }>(
        "select id, embedding::text as embedding, hash from kit_items where embedding is not null order by id",
      );
      expect(
        stored.map((row) => row.id),
        `binary: ${binary}`,
      ).toEqual(rows.map((_, i) => i + 1));
      for (const row of stored) {
        expect(parseVector(row.embedding)).toEqual([...vectorOf(row.id, DIMENSIONS)]);
        expect(row.hash).toBe(`hash ${row.id} 'quoted' \\ ✓`);
      }
    }
  });

  it("builds a vector index once, without a notice reaching stdout, and puts the connection's settings back", async () => {
    // postgres.js with its defaults prints every notice (the suite's own client is given `onnotice`).
    const sql = database.driver === "postgres.js" ? postgres(t.url!, { max: 2 }) : undefined;
    const session = sql ? postgresJsSession(sql) : sessionFor(t);
    await t.exec("update kit_items set embedding = '[1,2,3,4,5,6,7,8]' where id <= 10");
    try {
      const out = await printedDuring(async () => {
        expect(await createVectorIndex(session, items, "embedding")).toBe("kit_items_embedding_hnsw_idx");
        expect(await createVectorIndex(session, items, "embedding")).toBe("kit_items_embedding_hnsw_idx");
        // pgvector raises a NOTICE ("little data") building an IVFFlat index on 30 rows.
        const one = await session.reserve();
        try {
          const name = await createVectorIndex(one, items, "embedding", {
            method: "ivfflat",
            lists: 50,
            name: "kit_ivf",
          });
          expect(name).toBe("kit_ivf");
          expect(await one.query("select current_setting('client_min_messages') as level")).toEqual([
            { level: "notice" },
          ]);
        } finally {
          await one.release();
        }
      });
      expect(out).toEqual([]);
      expect(await relationExists(session, items, "kit_items_embedding_hnsw_idx")).toBe(true);
      expect(await relationExists(session, items, "kit_ivf")).toBe(true);
      const options = await rejectionOf(createVectorIndex(session, items, "embedding", { m: 0 }));
      expect(InvalidOptionError.isInstance(options) && options.option).toBe("m");
      const method = await rejectionOf(
        createVectorIndex(session, items, "embedding", { method: "gist" as never }),
      );
      expect(InvalidOptionError.isInstance(method) && method.option).toBe("method");
    } finally {
      await sql?.end();
    }
  });

  it("maps database errors to the library's errors", async () => {
    const wrongSize = await rejectionOf(
      guard("Writing 1 embedding to kit_items", () =>
        session.query("update kit_items set embedding = $1::vector where id = 1", ["[1,2,3]"]),
      ),
    );
    expect(DimensionMismatchError.isInstance(wrongSize) && wrongSize).toMatchObject({
      expected: DIMENSIONS,
      actual: 3,
      source: "store",
    });
    expect(wrongSize.message).toMatch(
      /^Writing 1 embedding to kit_items failed: expected 8 dimensions, not 3/,
    );
    const missing = await rejectionOf(guard("Reading", () => session.query("select * from kit_nothing")));
    expect(StoreError.isInstance(missing) && missing.reason).toBe("schema");
    const duplicate = await rejectionOf(
      guard("Inserting", () => session.query("insert into kit_items (id, tenant) values (1, 'x')")),
    );
    expect(StoreError.isInstance(duplicate) && duplicate.reason).toBe("database");
    expect(duplicate.cause).toBeInstanceOf(Error);
    const reason = new Error("stop");
    expect(databaseError("Reading", reason, AbortSignal.abort(reason))).toBe(reason);
    const typed = new StoreError("mine", { reason: "row" });
    expect(databaseError("Reading", typed)).toBe(typed);
  });

  describe("run locks", () => {
    it(
      database.realServer
        ? "exclude other processes, whole, by partition or by key range"
        : "are not taken on an in-process PGlite",
      async () => {
        const resource = "kit-test:kit_items.embedding";
        const options = { resource, display: "kit_items" };
        if (!database.realServer) {
          expect(await acquireRunLock(session, options)).toBeUndefined();
          return;
        }
        const other = await t.connect();
        const elsewhere = sessionFor({ driver: t.driver, client: other.client });
        try {
          const whole = await acquireRunLock(session, options);
          expect(whole).toBeDefined();
          const locked = await rejectionOf(acquireRunLock(elsewhere, options));
          expect(StoreError.isInstance(locked) && locked.reason).toBe("locked");
          expect(locked.message).toMatch(/Another process is embedding kit_items/);
          await expect(
            acquireRunLock(elsewhere, { ...options, partition: { index: 0, count: 2 } }),
          ).rejects.toThrow(/embedding all of kit_items/);
          await whole!.release();
          await whole!.release();

          const first = await acquireRunLock(session, { ...options, partition: { index: 0, count: 2 } });
          const second = await acquireRunLock(elsewhere, { ...options, partition: { index: 1, count: 2 } });
          await expect(
            acquireRunLock(elsewhere, { ...options, partition: { index: 0, count: 2 } }),
          ).rejects.toThrow(/partition 0 of 2 of kit_items/);
          await expect(acquireRunLock(elsewhere, options)).rejects.toThrow(
            /Another process is embedding kit_items/,
          );
          await first!.release();
          await second!.release();

          // Key ranges are shares too: one worker per range, ranges side by side, never with partition.
          const low = await acquireRunLock(session, { ...options, range: { through: ["10"] } });
          const high = await acquireRunLock(elsewhere, { ...options, range: { after: ["10"] } });
          await expect(acquireRunLock(elsewhere, { ...options, range: { through: ["10"] } })).rejects.toThrow(
            /keys null\.\.\["10"\] of kit_items/,
          );
          await expect(acquireRunLock(elsewhere, options)).rejects.toThrow(/embedding kit_items/);
          await low!.release();
          await high!.release();
          const both = await rejectionOf(
            acquireRunLock(elsewhere, { ...options, partition: { index: 0, count: 2 }, range: {} }),
          );
          expect(InvalidOptionError.isInstance(both) && both.option).toBe("partition");

          const again = await acquireRunLock(elsewhere, options);
          await again!.release();
          // Every connection went back to its pool: none is left holding a lock.
          expect(
            await session.query(`select count(*)::int as n from pg_locks where locktype = 'advisory'
            and database = (select oid from pg_database where datname = current_database())`),
          ).toEqual([{ n: 0 }]);
        } finally {
          await other.close();
        }
      },
    );
  });
}
