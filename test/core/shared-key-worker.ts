/*
 * One process of test/core/shared-key.test.ts: a backfill of its own rows (an in-memory store)
 * through the real Voyage provider against the emulator at SK_URL, with the limits in SK_LIMITS.
 * Prints `@report {json}` with the report and the lowest concurrency it reported.
 *   node --import tsx test/core/shared-key-worker.ts
 */
import { voyageProvider } from "../../providers/voyage/index.js";
import { backfill } from "../../src/index.js";
import { memoryStore } from "../../src/testing/index.js";
import { longText } from "./helpers.js";

const rows = Array.from({ length: Number(process.env.SK_ROWS) }, (_, i) => ({
  id: i + 1,
  text: longText(i, process.env.SK_NAME),
}));

let lowest = Number.POSITIVE_INFINITY;
const report = await backfill({
  provider: voyageProvider({ model: "voyage-3.5", apiKey: "pa-shared-key", baseURL: process.env.SK_URL }),
  store: memoryStore({ rows }),
  ...JSON.parse(process.env.SK_LIMITS ?? "{}"),
  onProgress: (e) => {
    if (e.type === "batch") lowest = Math.min(lowest, e.concurrency);
  },
});
const { skippedRows: _, ...counters } = report;
process.stdout.write(`@report ${JSON.stringify({ ...counters, lowestConcurrency: lowest })}\n`);
