/*
 * Write-path speed of drizzleStore().write() against a raw binary COPY of the same vectors.
 *
 *   npx tsx test/adapters/measure-write.ts                 # PGlite only
 *   DATABASE_URL=… npx tsx test/adapters/measure-write.ts  # + node-postgres and postgres.js
 *   (or: bash .ci/postgres.sh run npx tsx test/adapters/measure-write.ts)
 *
 * Settings (environment): ROWS (default 20000; PGlite uses ROWS / 4), DIMENSIONS (1024), BATCH (1000),
 * ROUNDS (3). Each write() is one batch in one transaction: the compare-and-set read of the source
 * rows, then COPY (new rows) or a binary upsert (existing rows), then the commit. The baseline COPYs
 * the same rows, batch by batch (each in a transaction), into a plain table with no index.
 * Measurements alternate round by round and the best round of each counts, so that load from other
 * processes on the machine skews them as little as possible; ratios are to the baseline's best.
 */
import net from "node:net";
import { integer, pgTable, text, vector } from "drizzle-orm/pg-core";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { sessionOf } from "../../adapters/drizzle/driver.js";
import { drizzleStore } from "../../adapters/drizzle/index.js";
import type { EmbeddingRecord } from "../../src/contracts/embedding-store.js";
import { hashText } from "../../src/hash.js";
import { copyFile } from "../../src/postgres/index.js";
import { type DriverName, databases, type TestDatabase } from "../support/databases.js";

const ROWS = Number(process.env.ROWS ?? 20_000);
const DIMENSIONS = Number(process.env.DIMENSIONS ?? 1024);
const BATCH = Number(process.env.BATCH ?? 1_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

const items = pgTable("items", { id: integer("id").primaryKey(), body: text("body").notNull() });
const itemEmbeddings = pgTable("item_embeddings", {
  itemId: integer("item_id").primaryKey(),
  embedding: vector("embedding", { dimensions: DIMENSIONS }).notNull(),
  model: text("model").notNull(),
  hash: text("hash").notNull(),
});
const docs = pgTable("docs", {
  id: integer("id").primaryKey(),
  body: text("body").notNull(),
  embedding: vector("embedding", { dimensions: DIMENSIONS }),
  model: text("model"),
  hash: text("hash"),
});
const DDL = `
  create table items (id integer primary key, body text not null);
  create table item_embeddings (item_id integer primary key, embedding vector(${DIMENSIONS}) not null,
    model text not null, hash text not null);
  create table docs (id integer primary key, body text not null, embedding vector(${DIMENSIONS}), model text, hash text);
  create table raw_copy (item_id integer, embedding vector(${DIMENSIONS}), model text, hash text);`;

const TARGET = { provider: "bench", model: "bench-1024", dimensions: DIMENSIONS };

function records(rows: number): EmbeddingRecord<number>[] {
  let seed = 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed / 0x7fffffff - 0.5;
  };
  return Array.from({ length: rows }, (_, i) => {
    const embedding = new Float32Array(DIMENSIONS);
    for (let d = 0; d < DIMENSIONS; d++) embedding[d] = random();
    return { id: i + 1, hash: hashText(`item ${i + 1}`), embedding };
  });
}

function batches<T>(values: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += BATCH) out.push(values.slice(i, i + BATCH));
  return out;
}

/** Best rows/s per measurement, over the rounds. */
class Results {
  private readonly best = new Map<string, number>();

  async time(label: string, rows: number, work: () => Promise<void>): Promise<void> {
    const start = performance.now();
    await work();
    const rate = rows / ((performance.now() - start) / 1000);
    this.best.set(label, Math.max(this.best.get(label) ?? 0, rate));
  }

  print(baseline: string): void {
    const base = this.best.get(baseline) ?? Number.NaN;
    for (const [label, rate] of this.best) {
      const ratio = label === baseline ? "" : `  ${Math.round((100 * rate) / base)}% of the baseline`;
      console.log(`  ${label.padEnd(62)} ${String(Math.round(rate)).padStart(7)} rows/s${ratio}`);
    }
  }
}

async function seed(t: TestDatabase, rows: number): Promise<void> {
  await t.exec(DDL);
  await t.exec(`insert into items select i, 'item ' || i from generate_series(1, ${rows}) i;
    insert into docs select i, 'item ' || i from generate_series(1, ${rows}) i;`);
}

function stores(t: TestDatabase, binaryWrites = true) {
  const separate = drizzleStore({
    db: t.db,
    binaryWrites,
    source: { table: items, key: items.id, text: (row) => row.body },
    target: {
      table: itemEmbeddings,
      key: itemEmbeddings.itemId,
      embedding: itemEmbeddings.embedding,
      model: itemEmbeddings.model,
      hash: itemEmbeddings.hash,
    },
  });
  const sameRow = drizzleStore({
    db: t.db,
    binaryWrites,
    source: { table: docs, key: docs.id, text: (row) => row.body },
    target: { embedding: docs.embedding, model: docs.model, hash: docs.hash },
  });
  return { separate, sameRow };
}

async function writeAll(store: ReturnType<typeof stores>["separate"], data: EmbeddingRecord<number>[]) {
  for (const batch of batches(data)) {
    const result = await store.write(batch, TARGET);
    if (result.written !== batch.length) throw new Error(`wrote ${result.written} of ${batch.length}`);
  }
}

/** The baseline's COPY file: the same rows, in the target's shape (int4 key, vector, model, hash). */
function rawFile(batch: readonly EmbeddingRecord<number>[]): Buffer {
  return copyFile(
    batch.map((record) => {
      const key = Buffer.allocUnsafe(4);
      key.writeInt32BE(record.id);
      return [key, record.embedding, TARGET.model, record.hash];
    }),
  );
}

const BASELINE = `raw binary COPY into a plain table, ${BATCH}-row batches`;

/** One round of every measurement, in turn. */
async function round(t: TestDatabase, data: EmbeddingRecord<number>[], results: Results): Promise<void> {
  const { separate, sameRow } = stores(t);
  await t.exec("truncate raw_copy");
  await results.time(BASELINE, data.length, async () => {
    for (const batch of batches(data)) {
      const file = rawFile(batch);
      await t.db.transaction((tx) =>
        sessionOf(tx, true).copyIn("raw_copy (item_id, embedding, model, hash)", file),
      );
    }
  });
  await t.exec("truncate item_embeddings; update docs set embedding = null, model = null, hash = null");
  await results.time("write(), separate table, new rows (COPY)", data.length, () => writeAll(separate, data));
  await results.time("write(), separate table, existing rows (upsert)", data.length, () =>
    writeAll(separate, data),
  );
  await results.time("write(), same row (UPDATE … FROM)", data.length, () => writeAll(sameRow, data));
}

async function measure(t: TestDatabase, data: EmbeddingRecord<number>[]): Promise<void> {
  const results = new Results();
  for (let i = 0; i < ROUNDS; i++) await round(t, data, results);
  if (t.realServer) {
    // Once: it is slow, and only there to show what the binary paths save.
    const text = stores(t, false).separate;
    const slice = data.slice(0, Math.min(data.length, 5_000));
    await t.exec("truncate item_embeddings");
    await results.time("write(), new rows, text vectors (binaryWrites: false)", slice.length, () =>
      writeAll(text, slice),
    );
  }
  results.print(BASELINE);
}

/*
 * postgres.js leaves Nagle's algorithm on: the small message that ends a large one (COPY's CopyDone,
 * the tail of a big Bind) then waits for the server's delayed ACK, ~40 ms per statement on Linux.
 * Its `socket` option (README, "Custom socket") fixes that; node-postgres sets TCP_NODELAY itself.
 */
const noDelaySocket = ({ host, port }: { host: string[]; port: number[] }) =>
  new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host: host[0]!, port: port[0]!, noDelay: true });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });

function postgresJs(url: string) {
  const options = { max: 4, onnotice: () => {}, socket: noDelaySocket };
  return postgres(url, options as postgres.Options<Record<string, postgres.PostgresType>>);
}

async function main(): Promise<void> {
  console.log(`${DIMENSIONS}-dimension vectors, ${BATCH}-row batches, best of ${ROUNDS} rounds`);
  for (const factory of databases) {
    if (factory.unavailable) {
      console.log(`\n${factory.driver}: NOT RUN (${factory.unavailable})`);
      continue;
    }
    const rows = factory.driver === "pglite" ? Math.floor(ROWS / 4) : ROWS;
    const data = records(rows);
    const t = await factory.create();
    try {
      await seed(t, rows);
      console.log(`\n${factory.driver as DriverName}: ${rows} rows`);
      await measure(t, data);
      if (factory.driver === "postgres.js") {
        const client = postgresJs(t.url!);
        try {
          console.log(`\npostgres.js with a TCP_NODELAY socket: ${rows} rows`);
          await measure({ ...t, db: drizzle({ client }) as unknown as TestDatabase["db"] }, data);
        } finally {
          await client.end({ timeout: 5 });
        }
      }
    } finally {
      await t.close();
    }
  }
}

await main();
