/*
 * One run of (a) alone, to see where its time and its 429s go: `npm run bench:trace -- [window|bucket]
 * [1|3] [node-postgres|pglite] [rows]` (defaults: bucket 1 node-postgres 5000; the real server needs
 * DATABASE_URL). The emulator runs in a process of its own, as in `npm run bench`. Prints the wall time,
 * when the first request went, every 429 with the API's bucket level just before it (replayed from the
 * emulator's log: a level near 1,000 ms means the client reached the bucket's edge), and the requests and
 * tokens sent per quarter second.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runLibrary } from "./contenders/library.js";
import { dropSeed, openDatabase, prepareSeed } from "./db.js";
import { DUPLICATE_RATE, librarySettings, SEED, SHAPES, TIERS, type TierName } from "./scenarios.js";
import type { TraceCall, TraceMessage } from "./trace-emulator.js";

const [shapeArg = "bucket", tierArg = "1", kindArg = "node-postgres", rowsArg = "5000"] =
  process.argv.slice(2);
if (shapeArg !== "bucket" && shapeArg !== "window") throw new Error("shape: expected bucket or window");
if (tierArg !== "1" && tierArg !== "3") throw new Error("tier: expected 1 or 3");
if (kindArg !== "node-postgres" && kindArg !== "pglite")
  throw new Error("database: expected node-postgres or pglite");
const tier = Number(tierArg) as TierName;
const rows = Number(rowsArg);
if (!Number.isSafeInteger(rows) || rows < 100) throw new Error("rows: expected an integer ≥ 100");

const url = process.env.DATABASE_URL;
const seed = await prepareSeed(kindArg, { rows, seed: SEED, duplicateRate: DUPLICATE_RATE }, url);
const database = await openDatabase(kindArg, seed, url);
const child = fork(fileURLToPath(new URL("./trace-emulator.ts", import.meta.url)), [shapeArg, tierArg], {
  execArgv: ["--import", "tsx"],
});
const reply = () =>
  new Promise<TraceMessage>((resolve) => child.once("message", (m) => resolve(m as TraceMessage)));
try {
  const ready = await reply();
  if (ready.type !== "ready") throw new Error("the emulator did not start");
  const t0 = Date.now();
  const report = await runLibrary({
    database,
    apiKey: "pa-trace",
    voyageBaseUrl: ready.voyageBaseUrl,
    library: librarySettings(tier),
  });
  const wallMs = Date.now() - t0;
  child.send("calls");
  const answer = await reply();
  if (answer.type !== "calls") throw new Error("the emulator sent no calls");
  summarize(answer.calls, t0, wallMs, report.requests, report.rateLimited);
} finally {
  child.kill();
  await database.close();
  await dropSeed(seed, url);
}

function summarize(
  calls: readonly TraceCall[],
  t0: number,
  wallMs: number,
  requests: number,
  refused: number,
) {
  const first = calls[0]?.at ?? t0;
  console.log(
    `${shapeArg}, tier ${tier}, ${kindArg}, ${rows} rows: ${(wallMs / 1000).toFixed(2)} s, first request after ${first - t0} ms, ${requests} requests, ${refused} × 429`,
  );
  // The API's token bucket replayed from its log (meaningful for the bucket shape).
  const perMs = TIERS[tier].tokensPerMinute / 60_000;
  const bucketMs = SHAPES.bucket.burstSeconds * 1000;
  const capacity = perMs * bucketMs;
  let available = capacity;
  let previous = first;
  for (const call of calls) {
    available = Math.min(capacity, available + perMs * (call.at - previous));
    previous = call.at;
    if (call.status === 429) {
      console.log(
        `  429 at ${call.at - t0} ms: the API's bucket at ${((capacity - available) / perMs).toFixed(0)} ms of ${bucketMs}`,
      );
    } else if (call.status === 200) available -= call.tokens;
  }
  const quarters = new Map<number, { requests: number; tokens: number; refused: number }>();
  for (const call of calls) {
    const key = Math.floor((call.at - t0) / 250);
    const q = quarters.get(key) ?? { requests: 0, tokens: 0, refused: 0 };
    q.requests++;
    q.tokens += call.tokens;
    if (call.status === 429) q.refused++;
    quarters.set(key, q);
  }
  for (const [key, q] of [...quarters].sort((a, b) => a[0] - b[0])) {
    console.log(
      `  ${(key / 4).toFixed(2)} s: ${q.requests} requests, ${q.tokens} tokens admitted, ${q.refused} × 429`,
    );
  }
}
