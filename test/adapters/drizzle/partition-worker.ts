/*
 * One worker of a partitioned backfill, run as its own process by partitions.test.ts:
 *   WORKER_URL=… WORKER_DRIVER=node-postgres|postgres.js WORKER_INDEX=i WORKER_COUNT=n \
 *     node --import tsx test/adapters/drizzle/partition-worker.ts
 * Prints one JSON line: { index, written, ids }.
 */
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { drizzle as drizzlePostgresJs } from "drizzle-orm/postgres-js";
import pg from "pg";
import postgres from "postgres";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import { partitionTables, skillText } from "./fixtures.js";
import { runBackfill } from "./helpers.js";

const url = process.env.WORKER_URL!;
const index = Number(process.env.WORKER_INDEX);
const count = Number(process.env.WORKER_COUNT);
const { skills, skillEmbeddings } = partitionTables();

const pool =
  process.env.WORKER_DRIVER === "postgres.js" ? undefined : new pg.Pool({ connectionString: url, max: 3 });
const sql = pool ? undefined : postgres(url, { max: 3, onnotice: () => {} });
const db = pool ? drizzleNodePg({ client: pool }) : drizzlePostgresJs({ client: sql! });

try {
  const store = drizzleStore({
    db,
    version: "1",
    partition: { index, count },
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
  const run = await runBackfill(store, { reembed: "missing", pageSize: 7 });
  process.stdout.write(`${JSON.stringify({ index, written: run.written, ids: run.scanned })}\n`);
} finally {
  await pool?.end();
  await sql?.end({ timeout: 5 });
}
