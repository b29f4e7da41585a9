/*
 * The kit's sessions over each driver's own client (no Drizzle): statements with parameters, binary
 * COPY that lands bit for bit, a rejected COPY that fails promptly and leaves the connection usable,
 * reserved connections that keep session state, and aborts.
 */
import { beforeAll, beforeEach, expect, it } from "vitest";
import { copyFile, type PgSession } from "../../src/postgres/index.js";
import { type DatabaseFactory, rejectionOf, type TestDatabase, until } from "../support/index.js";
import { parseVector, sessionFor, vectorOf } from "./helpers.js";

const DIMENSIONS = 16;

/** Sessions over each driver's own client: registered by kit.test.ts inside its suite for one database (`db()` is it, once created). */
export function sessionTests(database: DatabaseFactory, db: () => TestDatabase): void {
  let t: TestDatabase;
  let session: PgSession;

  const file = (ids: number[]) =>
    copyFile(
      ids.map((id) => {
        const key = Buffer.allocUnsafe(4);
        key.writeInt32BE(id);
        return [key, vectorOf(id, DIMENSIONS), `row ${id} ✓`];
      }),
    );

  beforeAll(async () => {
    t = db();
    await t.exec(`create table items (id integer primary key, embedding vector(${DIMENSIONS}), body text)`);
    session = sessionFor(t);
  });
  beforeEach(() => t.exec("truncate items"));

  it("says what it can do", () => {
    expect(session.driver).toBe(database.driver);
    expect(session.capabilities).toEqual({
      copy: true,
      binaryParameters: database.driver === "node-postgres",
      singleConnection: database.driver === "pglite",
      reserve: true,
      maxConnections: database.driver === "pglite" ? 1 : 4,
      sharedServer: database.realServer,
    });
  });

  it("runs statements with bound parameters, values never read as SQL", async () => {
    const tricky = "x'); drop table items; --";
    await session.query("insert into items (id, body) values ($1, $2), ($3, $4)", [1, tricky, 2, "b"]);
    const rows = await session.query<{ id: number; body: string }>(
      "select id, body from items where id >= $1 order by id",
      [1],
    );
    expect(rows).toEqual([
      { id: 1, body: tricky },
      { id: 2, body: "b" },
    ]);
    expect(await session.query("update items set body = 'c' where id = 3")).toEqual([]);
  });

  it("COPYs binary rows in, every float exact", async () => {
    await session.copyIn('"items" (id, embedding, body)', file([1, 2, 3]));
    const rows = await session.query<{ id: number; embedding: string; body: string }>(
      "select id, embedding::text as embedding, body from items order by id",
    );
    expect(rows.map((row) => row.id)).toEqual([1, 2, 3]);
    for (const row of rows) {
      expect(parseVector(row.embedding)).toEqual([...vectorOf(row.id, DIMENSIONS)]);
      expect(row.body).toBe(`row ${row.id} ✓`);
    }
  });

  it("a COPY the server rejects fails promptly; the connection works on and nothing of it stays", async () => {
    await session.copyIn("items (id, embedding, body)", file([1, 2, 3]));
    const error = await rejectionOf(session.copyIn("items (id, embedding, body)", file([4, 1])));
    expect(error).toBeInstanceOf(Error);
    const [row] = await session.query<{ n: number }>("select count(*)::int as n from items");
    expect(row?.n).toBe(3);
  });

  it("a reserved connection keeps its session state until released", async () => {
    const reserved = await session.reserve();
    try {
      expect(reserved.capabilities.singleConnection).toBe(true);
      await reserved.query("create temp table scratch (n int)");
      await reserved.copyIn("scratch (n)", copyFile([[Buffer.from([0, 0, 0, 9])]]));
      // Every statement on it, COPY included, saw the same temporary table.
      expect(await reserved.query("select n from scratch")).toEqual([{ n: 9 }]);
      const [pid] = await reserved.query<{ pid: number }>("select pg_backend_pid() as pid");
      for (let i = 0; i < 3; i++) {
        expect(await reserved.query("select pg_backend_pid() as pid")).toEqual([pid]);
      }
    } finally {
      await reserved.release();
      await reserved.release();
    }
    if (!session.capabilities.singleConnection) {
      // Back in the pool, and the pool still works.
      expect(await session.query("select 1 as one")).toEqual([{ one: 1 }]);
    } else {
      await session.query("drop table scratch");
    }
  });

  it("an aborted signal rejects with its reason before anything is sent", async () => {
    const reason = new Error("stop");
    await expect(
      session.query("insert into items (id) values (1)", [], { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    expect(await session.query("select count(*)::int as n from items")).toEqual([{ n: 0 }]);
  });

  if (database.driver === "postgres.js")
    it("postgres.js: an abort cancels the statement on the server", async () => {
      const reason = new Error("stop");
      const controller = new AbortController();
      const sleeping = session.query("select pg_sleep(60), 'relay-cancel-me' as tag", [], {
        signal: controller.signal,
      });
      const outcome = sleeping.catch((error: unknown) => error);
      const running = async () =>
        (
          await session.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity where query like '%relay-cancel-me%' and state = 'active' and pid <> pg_backend_pid()`,
          )
        )[0]!.n;
      await until(async () => (await running()) === 1, { what: "the sleep to start" });
      controller.abort(reason);
      expect(await outcome).toBe(reason);
      await until(async () => (await running()) === 0, { what: "the server to cancel the sleep" });
    });
}
