/*
 * One backfill on many machines through pg-boss, on the real server, with worker processes: the
 * rows end exact and written once, a SIGKILLed worker's range is retried by another, a worker added
 * mid-run takes ranges, a range that keeps failing (401) lands in the dead-letter queue with an error
 * that holds no key, and splitting twice enqueues nothing new. Runs on whichever pg-boss is installed
 * (10 on Node 20, 12 on Node 24). Waits follow events: lines the workers print and job states polled
 * with an overall deadline.
 *
 * Loading a worker process takes seconds (many on a busy machine), so four are started once, side by
 * side, and serve every test: all four work the first test's queue; worker 1 also works the SIGKILL
 * test's queue (and is killed there), worker 2 joins that run midway (it starts working that queue
 * only when told), worker 3 also works the dead-letter test's queue with a key the API refuses.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type BackfillRunStatus,
  backfillStatus,
  enqueueBackfill,
  watchBackfill,
  workBackfill,
} from "../../queue/pg-boss/index.js";
import { backfill, type CoverageOptions, consoleReporter, InvalidOptionError } from "../../src/index.js";
import { memoryStore, scriptedProvider } from "../../src/testing/index.js";
import {
  describeOnServer,
  itemStore,
  itemTables,
  queryRows,
  reachableStrings,
  rejectionOf,
  resetItems,
  seedRow,
  useEmulator,
  verifyEmbeddings,
  voyage,
} from "../reliability/harness.js";
import { runWorker } from "../reliability/processes.js";
import type { TestDatabase } from "../support/index.js";
import {
  BOSS_TIMING,
  deadLetters,
  fastQueue,
  isModern,
  loadPgBoss,
  type TestBoss,
} from "./pg-boss-support.js";
import type { WorkerRun } from "./pg-boss-worker.js";

const SCRIPT = fileURLToPath(new URL("./pg-boss-worker.ts", import.meta.url));
/** Small requests, so each range is several requests. */
const RANGE_OPTIONS = { maxInputsPerRequest: 10, concurrency: 2, retryMinDelayMs: 5, retryMaxDelayMs: 50 };
/**
 * The limits of one API key shared by the four workers, enforced as OpenAI documents it may be: a
 * token bucket holding one second of each limit (50 requests). The four-worker run sends one row per
 * request, 600 requests (~12 s at the limit, more than the bucket by far): each worker, told
 * `workers: 4`, paces at a quarter; told the whole limits instead, they meet 429s on about half of
 * their requests. Each process may meet a 429 or two while it learns its burst: fewer requests would
 * make that more than 1%.
 */
const SHARED_LIMITS = { requestsPerMinute: 3000, tokensPerMinute: 60_000 };
const SHARED_RUN = { ...SHARED_LIMITS, maxInputsPerRequest: 1, concurrency: 2 };
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

/** A worker process and the lines it printed so far. */
interface Proc {
  readonly worker: ReturnType<typeof runWorker>;
  readonly lines: string[];
  /** Resolves when a line satisfies `test` (also one printed before), rejects if the process exits first. */
  line(test: (line: string) => boolean): Promise<string>;
  /** The ranges of `queue` this process finished. */
  done(queue: string): number[];
}

function watch(worker: ReturnType<typeof runWorker>): Proc {
  const lines: string[] = [];
  const waiters = new Set<{ test: (line: string) => boolean; resolve: (line: string) => void }>();
  let pending = "";
  worker.child.stdout!.on("data", (chunk: Buffer | string) => {
    const parts = (pending + String(chunk)).split("\n");
    pending = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const waiter of waiters) {
        if (!waiter.test(line)) continue;
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  return {
    worker,
    lines,
    line(test) {
      const seen = lines.find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.add({ test, resolve });
        worker.then(
          (result) => reject(new Error(`the worker exited (${result.code}) first:\n${result.output}`)),
          reject,
        );
      });
    },
    done: (queue) =>
      lines
        .map((line) => line.split(" "))
        .filter(([marker, q, , status]) => marker === "@range" && q === queue && status === "done")
        .map(([, , index]) => Number(index)),
  };
}

describeOnServer("pg-boss: one backfill on many worker processes", (database) => {
  let t: TestDatabase;
  let boss: TestBoss;
  const h = useEmulator("loopback", { latency: { baseMs: 60 } });
  const limited = useEmulator("loopback", {
    latency: { baseMs: 60 },
    rateLimits: { ...SHARED_LIMITS, enforcement: "token-bucket", burstSeconds: 1 },
  });
  const procs: Proc[] = [];
  const queues = {} as Record<"four" | "kill" | "dead", { name: string } & Record<string, unknown>>;
  let echo: Server;

  const status = (queue: string, run: string, store?: ReturnType<typeof itemStore>) =>
    backfillStatus({ boss, queue, run, ...(store ? { store, target: voyage(h.voyageBaseURL) } : {}) });
  const finished = (queue: string, run: string, deadlineMs = 100_000) =>
    until(
      () => status(queue, run),
      (s: BackfillRunStatus) => s.finished,
      deadlineMs,
    );
  /** Table pair `<suffix>` holding `rows` seeded rows (and a log of every write, with `log`), and its store. */
  const seed = async (suffix: string, rows: number, options: { log?: boolean } = {}) => {
    const tables = itemTables(suffix);
    await t.exec(tables.ddl + (options.log ? writeLog(suffix) : ""));
    await resetItems(
      t.db,
      tables,
      Array.from({ length: rows }, (_, i) => seedRow(i + 1)),
    );
    return { tables, store: itemStore(t.db, tables) };
  };
  const writesOf = async (suffix: string) =>
    (
      await queryRows<{ writes: number; rows: number }>(
        t.db,
        sql.raw(
          `select count(*)::int as writes, count(distinct item_id)::int as rows from rel_writes_${suffix}`,
        ),
      )
    )[0];

  beforeAll(async () => {
    t = await database.create();
    const PgBoss = await loadPgBoss();
    boss = new PgBoss({ connectionString: t.url, max: 4, ...BOSS_TIMING });
    boss.on("error", () => {});
    await boss.start();
    // A hostile server for the dead-letter test: its 401 echoes the key it was sent.
    echo = createServer((request, response) => {
      const key = String(request.headers.authorization).replace(/^Bearer /, "");
      response.writeHead(401, { "content-type": "application/json", "x-echo": key });
      response.end(JSON.stringify({ detail: `Provided API key ${key} is invalid.` }));
    });
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const echoURL = `http://127.0.0.1:${(echo.address() as AddressInfo).port}/v1`;

    // A range here takes seconds at the workers' share of the limits: no expiry on a busy machine.
    queues.four = fastQueue(boss, "embed-four", isModern(boss) ? {} : { expireInSeconds: 60 });
    queues.kill = fastQueue(boss, "embed-kill");
    queues.dead = fastQueue(boss, "embed-dead", { retryLimit: 1 });
    const four: WorkerRun = {
      queue: queues.four,
      table: "pgb4",
      workers: 4,
      voyageURL: limited.voyageBaseURL,
      backfill: SHARED_RUN,
    };
    const runs: WorkerRun[][] = [
      [four, { queue: queues.kill, table: "pgbk", hangAt: 3 }],
      [four, { queue: queues.kill, table: "pgbk", paused: true }],
      [four, { queue: queues.dead, table: "pgbd", voyageURL: echoURL, apiKey: BAD_KEY }],
      [four],
    ];
    for (const workerRuns of runs) {
      const worker = runWorker({
        db: `node-postgres:${t.url}`,
        table: "unused",
        voyageURL: h.voyageBaseURL,
        options: RANGE_OPTIONS,
        script: SCRIPT,
        env: { W_RUNS: JSON.stringify(workerRuns) },
      });
      procs.push(watch(worker));
    }
    const loading = Date.now();
    await Promise.all(procs.map((p) => p.line((line) => line === "@ready")));
    console.log(`pg-boss: ${procs.length} worker processes up in ${Date.now() - loading} ms`);
  });
  afterAll(async () => {
    for (const { worker } of procs) if (worker.child.exitCode === null) worker.child.kill("SIGTERM");
    await Promise.all(procs.map((p) => p.worker));
    echo?.close();
    await boss?.stop({ graceful: false, timeout: 2000 });
    await t?.close();
  });

  it("four workers sharing one key's limits (a one-second token bucket): every row exact and written once, tokens billed as by one process, at most 1% of requests refused once each has learned the burst", async () => {
    const ROWS = 600;
    const { tables, store } = await seed("pgb4", ROWS, { log: true });
    const api = limited.emulator;

    const single = await backfill({ provider: voyage(h.voyageBaseURL), store, ...RANGE_OPTIONS });
    expect(single.embedded).toBe(ROWS);
    const alone = h.emulator.stats.tokensBilled;
    await t.exec("truncate rel_item_embeddings_pgb4, rel_writes_pgb4");

    const split = await enqueueBackfill({ boss, queue: queues.four, store, run: "r1", rangeSize: 40 });
    expect(split).toEqual({ queue: "embed-four", run: "r1", ranges: 15, enqueued: 15 });
    const final = await finished("embed-four", "r1");

    expect(final.ranges).toMatchObject({ total: 15, done: 15, dead: 0, failed: 0, unknown: 0 });
    const done = procs.flatMap((p) => p.done("embed-four")).sort((a, b) => a - b);
    expect(done).toEqual(Array.from({ length: 15 }, (_, i) => i)); // each range done by one worker, once
    expect(await writesOf("pgb4")).toEqual({ writes: ROWS, rows: ROWS });
    expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ rows: ROWS, current: ROWS });
    const { tokensBilled: billed, requests, rateLimited } = api.stats;
    expect(Math.abs(billed - alone) / alone).toBeLessThanOrEqual(0.05);
    // The status adds up what the workers reported: exactly what the emulator billed.
    expect(final).toMatchObject({ embedded: ROWS, tokens: billed, requests, rateLimited });
    console.log(
      `pg-boss: one process ${alone} tokens; four workers ${billed} tokens, ${requests} requests, ${rateLimited} refused (429), ranges per worker ${procs.map((p) => p.done("embed-four").length).join(" + ")}`,
    );
    // At most 1% of the requests refused, beyond what each worker process may meet once while it
    // learns the bucket's burst (measured 0 to 2 each; 4 workers told no share meet 78 of 138).
    const learning = 2 * procs.length;
    expect(rateLimited, `${rateLimited} of ${requests} refused`).toBeLessThanOrEqual(
      learning + Math.floor(0.01 * requests),
    );
  });

  it("a SIGKILLed worker's range is retried by a worker added mid-run, which takes the rest", async () => {
    const ROWS = 200;
    const { tables, store } = await seed("pgbk", ROWS, { log: true });
    const [victim, late] = [procs[0]!, procs[1]!];
    await enqueueBackfill({ boss, queue: queues.kill, store, run: "r1", rangeSize: 25 });

    // Alone on the run, the victim dies with its third request in flight (it never returns: the
    // range's last, so the range cannot finish before the kill). Then a second worker joins: the only one left, it must take every other range, and the
    // dead worker's range once pg-boss notices (missed heartbeats on pg-boss 12, expiry on 10).
    await victim.line((line) => line === "@embed embed-kill 3");
    victim.worker.child.kill("SIGKILL");
    await victim.worker;
    const started = victim.lines.filter((l) => l.startsWith("@start embed-kill ")).map((l) => l.split(" "));
    expect(started.map(([, , , attempt]) => attempt)).toEqual(["1"]);
    expect(victim.done("embed-kill")).toEqual([]);
    const lost = Number(started[0]![2]);
    expect((await status("embed-kill", "r1")).ranges).toMatchObject({ total: 8, running: 1, done: 0 });

    late.worker.child.kill("SIGUSR2");
    const final = await finished("embed-kill", "r1");
    expect(late.done("embed-kill").sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(late.lines).toContain(`@start embed-kill ${lost} 2`); // the retry of the lost range
    expect(final.ranges).toMatchObject({ total: 8, done: 8, dead: 0 });
    expect(await writesOf("pgbk")).toEqual({ writes: ROWS, rows: ROWS }); // nothing lost or written twice
    expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ rows: ROWS, current: ROWS });
  });

  it("a range that keeps failing (401) goes to the dead-letter queue with an error holding no key", async () => {
    const { store } = await seed("pgbd", 30);
    await enqueueBackfill({
      boss,
      queue: queues.dead,
      store,
      run: "r1",
      rangeSize: 20,
    });
    const final = await finished("embed-dead", "r1");

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
    const output = procs[2]!.lines.join("\n");
    expect(output).toContain("@range embed-dead 0 failed");
    for (const text of [
      JSON.stringify(final),
      JSON.stringify(letters),
      output,
      ...reachableStrings(letters),
    ]) {
      expect(text).not.toContain(BAD_KEY);
    }
    expect(JSON.stringify(letters)).toContain("[redacted]"); // the echo was there, and was redacted
  });

  it("watchBackfill shows the run across workers; consoleReporter renders it from any process", async () => {
    const store = memoryStore({
      rows: Array.from({ length: 50 }, (_, i) => ({ id: i + 1, text: `text ${i}` })),
    });
    const provider = scriptedProvider({ latencyMs: 20 });
    const queue = fastQueue(boss, "embed-watch");
    await enqueueBackfill({ boss, queue, store, run: "w1", rangeSize: 10 });
    const lines: string[] = [];
    const render = consoleReporter({ mode: "lines", stream: { write: (text) => lines.push(text) } });
    let watching!: () => void;
    const firstRead = new Promise<void>((resolve) => {
      watching = resolve;
    });
    const watched = watchBackfill({
      boss,
      queue: "embed-watch",
      run: "w1",
      store,
      target: provider,
      intervalMs: 100,
      onProgress: (event) => {
        render(event);
        watching();
      },
    });
    // The workers start once the watcher has read the run as enqueued, so it finds all 50 rows. Two
    // workers in this process: the watcher sees them as it would see other machines.
    await firstRead;
    const workers = [
      await workBackfill({ boss, queue, provider, store, pollingIntervalSeconds: 0.5 }),
      await workBackfill({ boss, queue, provider, store, pollingIntervalSeconds: 0.5 }),
    ];
    const final = await watched;
    await Promise.all(workers.map((worker) => worker.stop()));
    expect(final).toMatchObject({
      finished: true,
      ranges: { total: 5, done: 5, dead: 0 },
      embedded: 50,
      coverage: { total: 50, embedded: 50, stale: 0, missing: 0 },
    });
    expect(lines[0]).toBe("Found 50 rows to embed\n");
    expect(lines.at(-1)).toMatch(/^Backfill complete: 50 embedded, 0 skipped, .* · ranges 5\/5 done\n$/);
    expect(lines.slice(1, -1).every((line) => / · ranges \d\/5 done/.test(line))).toBe(true);

    // A status read hands its signal on to the store's coverage().
    const controller = new AbortController();
    let given: AbortSignal | undefined;
    const observed = {
      ...store,
      coverage: (options?: CoverageOptions) => {
        given = options?.signal;
        return store.coverage(options);
      },
    };
    const signal = controller.signal;
    await backfillStatus({
      boss,
      queue: "embed-watch",
      run: "w1",
      store: observed,
      target: provider,
      signal,
    });
    expect(given).toBe(signal);
  });

  it("a range that outlives expireInSeconds is stopped before pg-boss hands it to another worker", async () => {
    const store = memoryStore({
      rows: Array.from({ length: 5 }, (_, i) => ({ id: i + 1, text: `slow ${i}` })),
    });
    const provider = scriptedProvider();
    let abortedAt = 0;
    // The first request hangs until its signal aborts; later ones answer at once.
    provider.script(
      (_texts, { signal }) =>
        new Promise((_, reject) =>
          signal?.addEventListener("abort", () => {
            abortedAt = Date.now();
            reject(signal.reason);
          }),
        ),
    );
    const queue = fastQueue(boss, "embed-expire", { expireInSeconds: 2, retryLimit: 1 });
    await enqueueBackfill({ boss, queue, store, run: "e1" });
    const outcomes: { status: string; attempt: number; at: number; error?: unknown }[] = [];
    const starts: number[] = [];
    const worker = await workBackfill({
      boss,
      queue,
      provider,
      store,
      pollingIntervalSeconds: 0.5,
      onProgress: (event) => {
        if (event.type === "start") starts.push(Date.now());
      },
      onRange: (outcome) =>
        outcomes.push({
          status: outcome.status,
          attempt: outcome.attempt,
          at: Date.now(),
          error: outcome.status === "failed" ? outcome.error : undefined,
        }),
    });
    const final = await finished("embed-expire", "e1");
    await worker.stop();
    expect(final.ranges).toMatchObject({ total: 1, done: 1 });
    expect(outcomes.map((o) => [o.status, o.attempt])).toEqual([
      ["failed", 1],
      ["done", 2],
    ]);
    // The first attempt was stopped (its request aborted) before the second began.
    expect(abortedAt).toBeGreaterThan(0);
    expect(abortedAt).toBeLessThanOrEqual(starts[1]!);
    expect(store.records.size).toBe(5);
  });

  it("splitting twice enqueues nothing new; an interrupted split is completed", async () => {
    const { store } = await seed("pgbs", 95);
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
    const partitioned = itemStore(t.db, itemTables("pgbs"), { partition: { index: 0, count: 2 } });
    expect(await refused(enqueueBackfill({ boss, queue: "q", store: partitioned, run: "r" }))).toBe(
      "partition",
    );
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
