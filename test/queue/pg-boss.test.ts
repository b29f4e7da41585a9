/*
 * One backfill on many machines through pg-boss, on the real server, with worker processes: the
 * rows end exact and written once, a SIGKILLed worker's range is retried by another, a worker added
 * mid-run takes ranges, a range that keeps failing (401) lands in the dead-letter queue with an error
 * that holds no key, and splitting twice enqueues nothing new. Runs on whichever pg-boss is installed
 * (10 on Node 20, 12 on Node 24). Waits follow events: markers the workers print and job states polled
 * with an overall deadline.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import type PgBossType from "pg-boss";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type BackfillRunStatus,
  backfillStatus,
  enqueueBackfill,
  workBackfill,
} from "../../queue/pg-boss/index.js";
import { backfill, InvalidOptionError } from "../../src/index.js";
import { memoryStore } from "../../src/testing/index.js";
import {
  describeOnServer,
  itemStore,
  itemTables,
  queryRows,
  reachableStrings,
  rejectionOf,
  resetEmulator,
  resetItems,
  seedRow,
  useEmulator,
  VOYAGE_KEY,
  verifyEmbeddings,
  voyage,
} from "../reliability/harness.js";
import { runWorker, type WorkerResult } from "../reliability/processes.js";
import type { TestDatabase } from "../support/index.js";
import { BOSS_TIMING, deadLetters, fastQueue, isModern, loadPgBoss } from "./pg-boss-support.js";

const SCRIPT = fileURLToPath(new URL("./pg-boss-worker.ts", import.meta.url));
/** Small requests, so each range is several requests. */
const RANGE_OPTIONS = { maxInputsPerRequest: 10, concurrency: 2, retryMinDelayMs: 5, retryMaxDelayMs: 50 };
/** A key shaped like nothing the redaction patterns know: only registration keeps it out. */
const BAD_KEY = "relbad_Zp4Wq8Ny2Tc6Hv1M";

/** Appends every write of an embedding to `rel_writes_<suffix>`: each row must be written once. */
function writeLog(suffix: string): string {
  return `
    create table rel_writes_${suffix} (item_id integer not null);
    create function rel_log_${suffix}() returns trigger language plpgsql as $$
    begin insert into rel_writes_${suffix} values (new.item_id); return null; end $$;
    create trigger rel_log_${suffix} after insert or update on rel_item_embeddings_${suffix}
      for each row execute function rel_log_${suffix}();`;
}

/** Polls `read` until `done` holds, every 100 ms, failing after `deadlineMs` with the last value. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, deadlineMs: number): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`gave up waiting after ${deadlineMs} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Lines of a worker's output that start with `@range`, parsed. */
function rangesDone(result: WorkerResult): number[] {
  return result.output
    .split("\n")
    .filter((line) => line.startsWith("@range ") && line.split(" ")[2] === "done")
    .map((line) => Number(line.split(" ")[1]));
}

describeOnServer("pg-boss: one backfill on many worker processes", (database) => {
  let t: TestDatabase;
  let boss: PgBossType;
  const h = useEmulator("loopback", { latency: { baseMs: 60 } });
  const running: ReturnType<typeof runWorker>[] = [];

  const start = (
    table: string,
    queue: object,
    env: Record<string, string> = {},
    kill?: Parameters<typeof runWorker>[1],
  ) => {
    const worker = runWorker(
      {
        db: `node-postgres:${t.url}`,
        table,
        voyageURL: h.voyageBaseURL,
        options: RANGE_OPTIONS,
        script: SCRIPT,
        env: { W_QUEUE: JSON.stringify(queue), ...env },
      },
      kill,
    );
    running.push(worker);
    return worker;
  };
  const stopAll = async (workers: ReturnType<typeof runWorker>[]) => {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill("SIGTERM");
    return Promise.all(workers);
  };
  const status = (queue: string, run: string, store?: ReturnType<typeof itemStore>) =>
    backfillStatus({ boss, queue, run, ...(store ? { store, target: voyage(h.voyageBaseURL) } : {}) });
  const finished = (queue: string, run: string, deadlineMs = 45_000) =>
    until(
      () => status(queue, run),
      (s: BackfillRunStatus) => s.finished,
      deadlineMs,
    );

  beforeAll(async () => {
    t = await database.create();
    const PgBoss = await loadPgBoss();
    boss = new PgBoss({ connectionString: t.url, max: 4, ...BOSS_TIMING } as any);
    boss.on("error", () => {});
    await boss.start();
  });
  afterAll(async () => {
    await stopAll(running);
    await boss?.stop({ graceful: false, timeout: 2000 } as any);
    await t?.close();
  });

  it("four workers: every row exact and written once; tokens billed as by one process", async () => {
    const ROWS = 600;
    const tables = itemTables("pgb4");
    await t.exec(tables.ddl + writeLog("pgb4"));
    await resetItems(
      t.db,
      tables,
      Array.from({ length: ROWS }, (_, i) => seedRow(i + 1)),
    );
    const store = itemStore(t.db, tables);
    // The workers start first (they wait for ranges), while one process embeds the table alone.
    const queue = fastQueue(boss, "embed-four");
    const workers = [0, 1, 2, 3].map(() => start("pgb4", queue, { W_WORKERS: "4" }));

    const single = await backfill({ provider: voyage(h.voyageBaseURL), store, ...RANGE_OPTIONS });
    expect(single.embedded).toBe(ROWS);
    const alone = h.emulator.stats.tokensBilled;
    resetEmulator(h.emulator);
    await t.exec("truncate rel_item_embeddings_pgb4, rel_writes_pgb4");

    const split = await enqueueBackfill({ boss, queue, store, run: "r1", rangeSize: 40 });
    expect(split).toEqual({ queue: "embed-four", run: "r1", ranges: 15, enqueued: 15 });
    const final = await finished("embed-four", "r1");
    const results = await stopAll(workers);
    for (const result of results) expect(result.code, result.output).toBe(0);

    expect(final.ranges).toMatchObject({ total: 15, done: 15, dead: 0, failed: 0, unknown: 0 });
    const done = results.flatMap(rangesDone).sort((a, b) => a - b);
    expect(done).toEqual(Array.from({ length: 15 }, (_, i) => i)); // each range done by one worker, once
    const [log] = await queryRows<{ writes: number; rows: number }>(
      t.db,
      sql`select count(*)::int as writes, count(distinct item_id)::int as rows from rel_writes_pgb4`,
    );
    expect(log).toEqual({ writes: ROWS, rows: ROWS });
    expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ rows: ROWS, current: ROWS });
    const billed = h.emulator.stats.tokensBilled;
    expect(Math.abs(billed - alone) / alone).toBeLessThanOrEqual(0.05);
    // The status adds up what the workers reported: exactly what the emulator billed.
    expect(final).toMatchObject({ embedded: ROWS, tokens: billed, requests: h.emulator.stats.requests });
    console.log(
      `pg-boss: one process ${alone} tokens; four workers ${billed} tokens, ranges per worker ${results.map((r) => rangesDone(r).length).join(" + ")}`,
    );
  });

  it("a SIGKILLed worker's range is retried by a worker added mid-run, which takes the rest", async () => {
    const ROWS = 200;
    const tables = itemTables("pgbk");
    await t.exec(tables.ddl + writeLog("pgbk"));
    await resetItems(
      t.db,
      tables,
      Array.from({ length: ROWS }, (_, i) => seedRow(i + 1)),
    );
    const store = itemStore(t.db, tables);
    const queue = fastQueue(boss, "embed-kill");
    await enqueueBackfill({ boss, queue, store, run: "r1", rangeSize: 25 });

    // Alone on the run, the victim dies on its third request: inside its first range, a request in
    // flight. Then a second worker starts: the only one left, it must take every other range, and the
    // dead worker's range once pg-boss notices (missed heartbeats on 12, expiry on 10).
    const victim = await start("pgbk", queue, {}, { on: "embed", n: 3, delayMs: 20 });
    expect(victim.killed).toBe(true);
    const started = [...victim.output.matchAll(/^@start (\d+) 1$/gm)].map((m) => Number(m[1]));
    expect(rangesDone(victim)).toEqual([]);
    expect(started).toHaveLength(1);
    const lost = started[0]!;
    expect((await status("embed-kill", "r1")).ranges).toMatchObject({ total: 8, running: 1, done: 0 });

    const late = start("pgbk", queue);
    const final = await finished("embed-kill", "r1");
    const [result] = await stopAll([late]);
    expect(result!.code, result!.output).toBe(0);
    expect(rangesDone(result!).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(result!.output).toContain(`@start ${lost} 2`); // the retry of the lost range
    expect(final.ranges).toMatchObject({ total: 8, done: 8, dead: 0 });

    const [log] = await queryRows<{ writes: number; rows: number }>(
      t.db,
      sql`select count(*)::int as writes, count(distinct item_id)::int as rows from rel_writes_pgbk`,
    );
    expect(log).toEqual({ writes: ROWS, rows: ROWS }); // nothing lost, nothing written twice
    expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ rows: ROWS, current: ROWS });
  });

  it("a range that keeps failing (401) goes to the dead-letter queue with an error holding no key", async () => {
    const tables = itemTables("pgbd");
    await t.exec(tables.ddl);
    await resetItems(
      t.db,
      tables,
      Array.from({ length: 30 }, (_, i) => seedRow(i + 1)),
    );
    // A hostile server: its 401 echoes the key it was sent, in the body and in its message.
    const echo: Server = createServer((request, response) => {
      const key = String(request.headers.authorization).replace(/^Bearer /, "");
      response.writeHead(401, { "content-type": "application/json", "x-echo": key });
      response.end(JSON.stringify({ detail: `Provided API key ${key} is invalid.` }));
    });
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const echoURL = `http://127.0.0.1:${(echo.address() as AddressInfo).port}/v1`;
    const queue = fastQueue(boss, "embed-dead", { retryLimit: 1 });
    try {
      await enqueueBackfill({ boss, queue, store: itemStore(t.db, tables), run: "r1", rangeSize: 20 });
      const worker = runWorker({
        db: `node-postgres:${t.url}`,
        table: "pgbd",
        voyageURL: echoURL,
        options: RANGE_OPTIONS,
        script: SCRIPT,
        env: { W_QUEUE: JSON.stringify(queue), VOYAGE_API_KEY: BAD_KEY },
      });
      running.push(worker);
      const final = await finished("embed-dead", "r1");
      const result = (await stopAll([worker]))[0]!;

      expect(final.ranges).toMatchObject({ total: 2, dead: 2, done: 0 });
      expect(final.dead.map((d) => [d.index, d.attempts])).toEqual([
        [0, 2],
        [1, 2],
      ]);
      const error = final.dead[0]!.error!;
      expect(error).toMatchObject({
        name: "BackfillError",
        cause: { name: "APICallError", status: 401, reason: "authentication", isRetryable: false },
      });
      // The failed batches' rows, all of range 0 (keys 1 to 20).
      expect(error.rowIds!.length).toBeGreaterThanOrEqual(10);
      expect(error.rowCount).toBe(error.rowIds!.length);
      for (const id of error.rowIds!) expect([Number(id) >= 1, Number(id) <= 20]).toEqual([true, true]);
      const letters = await deadLetters(boss, "embed-dead.dead");
      expect(letters.map((l) => l.data.index).sort()).toEqual([0, 1]);
      for (const letter of letters) expect(letter.error).toMatchObject({ relayRange: 1, attempt: 2 });
      const everything = [final, letters, result.output, ...reachableStrings(letters)];
      for (const text of everything.map((x) => (typeof x === "string" ? x : JSON.stringify(x)))) {
        expect(text).not.toContain(BAD_KEY);
      }
      expect(JSON.stringify(letters)).toContain("[redacted]"); // the echo was there, and was redacted
    } finally {
      echo.close();
    }
  });

  it("splitting twice enqueues nothing new; an interrupted split is completed", async () => {
    const tables = itemTables("pgbs");
    await t.exec(tables.ddl);
    await resetItems(
      t.db,
      tables,
      Array.from({ length: 95 }, (_, i) => seedRow(i + 1)),
    );
    const store = itemStore(t.db, tables);
    const queue = fastQueue(boss, "embed-split");
    const jobs = async () =>
      (
        await queryRows<{ n: number }>(
          t.db,
          sql`select count(*)::int as n from pgboss.job where name = 'embed-split'`,
        )
      )[0]!.n;

    expect(await enqueueBackfill({ boss, queue, store, run: "r1", rangeSize: 10 })).toMatchObject({
      ranges: 10,
      enqueued: 10,
    });
    expect(await enqueueBackfill({ boss, queue, store, run: "r1", rangeSize: 10 })).toMatchObject({
      ranges: 10,
      enqueued: 0,
    });
    expect(await jobs()).toBe(10);
    // A split that died after sending some ranges: range 0 (sent last) and range 7 are missing.
    await t.exec("delete from pgboss.job where name = 'embed-split' and (data->>'index')::int in (0, 7)");
    expect(await enqueueBackfill({ boss, queue, store, run: "r1", rangeSize: 10 })).toMatchObject({
      enqueued: 2,
    });
    expect(await jobs()).toBe(10);
    const s = await status("embed-split", "r1", store);
    expect(s.ranges).toMatchObject({ total: 10, queued: 10 });
    expect(s.coverage).toEqual({ total: 95, embedded: 0, stale: 0, missing: 95 });
    // Another run is another set of jobs.
    expect(await enqueueBackfill({ boss, queue, store, run: "r2", rangeSize: 50 })).toMatchObject({
      ranges: 2,
      enqueued: 2,
    });
  });

  it("refuses what cannot work, naming the option", async () => {
    const store = memoryStore();
    const refused = async (work: Promise<unknown>) => {
      const error = await rejectionOf(work);
      expect(InvalidOptionError.isInstance(error)).toBe(true);
      return (error as InvalidOptionError).option;
    };
    expect(await refused(enqueueBackfill({ boss: {} as any, queue: "q", store, run: "r" }))).toBe("boss");
    expect(await refused(enqueueBackfill({ boss, queue: "bad name!", store, run: "r" }))).toBe("queue");
    expect(await refused(enqueueBackfill({ boss, queue: "q", store, run: "" }))).toBe("run");
    expect(await refused(enqueueBackfill({ boss, queue: "q", store, run: "r", rangeSize: 0 }))).toBe(
      "rangeSize",
    );
    const { keyBoundaries: _k, withKeyRange: _w, ...plain } = store;
    expect(await refused(enqueueBackfill({ boss, queue: "q", store: plain as any, run: "r" }))).toBe("store");
    expect(
      await refused(enqueueBackfill({ boss, queue: { name: "q", deadLetter: "q" }, store, run: "r" })),
    ).toBe("queue.deadLetter");
    const heartbeat = enqueueBackfill({
      boss,
      queue: { name: "q", heartbeatSeconds: isModern(boss) ? 5 : 30 },
      store,
      run: "r",
    });
    expect(await refused(heartbeat)).toBe("queue.heartbeatSeconds");
    const provider = voyage(h.voyageBaseURL);
    const work = { boss, queue: "q-refused", provider, store };
    expect(await refused(workBackfill({ ...work, workers: 0 }))).toBe("workers");
    expect(await refused(workBackfill({ ...work, rangesAtOnce: 1.5 }))).toBe("rangesAtOnce");
    expect(await refused(workBackfill({ ...work, backfill: { concurrency: 0 } }))).toBe("concurrency");
    expect(await refused(workBackfill({ ...work, pollingIntervalSeconds: 0.1 }))).toBe(
      "pollingIntervalSeconds",
    );
  });
});
