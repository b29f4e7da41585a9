/*
 * One backfill in its own process, for the crash, multi-process and log tests:
 *   node --import tsx test/reliability/worker.ts
 * Settings come from the environment (see `WorkerSettings` in processes.ts); the API key from
 * VOYAGE_API_KEY, as an application would pass it. It prints what an application would (the console
 * reporter's lines, `console.error(error)` on failure) and, for the parent, marker lines:
 * `@embed n` before the n-th provider request, `@write n` before the n-th store write and
 * `@report {...}` at the end; in batch mode also `@upload n` after the n-th request file is
 * uploaded (before its id is recorded), `@recorded n` after the n-th batch id is recorded and
 * `@line n` after the n-th output line is read (W_LINE_DELAY_MS slows each line down). Exit codes: 0 done, 1 failed, 3 another process holds the lock.
 */
import { voyageProvider } from "../../providers/voyage/index.js";
import {
  type BackfillOptions,
  type BatchEmbeddingApi,
  backfill,
  consoleReporter,
  type EmbeddingProvider,
  type EmbeddingStore,
  StoreError,
} from "../../src/index.js";
import type { AnyDb } from "../support/index.js";
import { DIMENSIONS, itemStore, itemTables, type KeyKind, VOYAGE_MODEL } from "./schema.js";

const env = process.env;
const [kind, location] = splitOnce(env.W_DB!, ":");
const tables = itemTables(env.W_TABLE!, (env.W_KEY as KeyKind) ?? "integer");
const options = JSON.parse(env.W_OPTIONS ?? "{}") as Partial<BackfillOptions>;
const partition = env.W_PARTITION
  ? { index: Number(env.W_PARTITION.split("/")[0]), count: Number(env.W_PARTITION.split("/")[1]) }
  : undefined;

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return [text.slice(0, at), text.slice(at + 1)];
}

/** Opens the database, loading only its driver (startup time is most of a worker's cost). */
async function open(): Promise<{ db: AnyDb; close(): Promise<void> }> {
  switch (kind) {
    case "pglite": {
      const [{ PGlite }, { vector }, { drizzle }] = await Promise.all([
        import("@electric-sql/pglite"),
        import("@electric-sql/pglite-pgvector"),
        import("drizzle-orm/pglite"),
      ]);
      const client = await PGlite.create(location, { extensions: { vector } });
      return { db: drizzle({ client }) as unknown as AnyDb, close: () => client.close() };
    }
    case "node-postgres": {
      const [{ default: pg }, { drizzle }] = await Promise.all([
        import("pg"),
        import("drizzle-orm/node-postgres"),
      ]);
      const pool = new pg.Pool({ connectionString: location, max: 3 });
      return { db: drizzle({ client: pool }) as unknown as AnyDb, close: () => pool.end() };
    }
    default: {
      const [{ default: postgres }, { drizzle }] = await Promise.all([
        import("postgres"),
        import("drizzle-orm/postgres-js"),
      ]);
      const client = postgres(location, { max: 3, onnotice: () => {} });
      return { db: drizzle({ client }) as unknown as AnyDb, close: () => client.end({ timeout: 5 }) };
    }
  }
}

const mark = (line: string) => process.stdout.write(`${line}\n`);

let writes = 0;
const counts = { upload: 0, recorded: 0, line: 0 };
const lineDelayMs = Number(env.W_LINE_DELAY_MS ?? 0);
/** Marks every write, also those of the store a transaction hands out (atomic mode). */
function instrument<S extends EmbeddingStore<any>>(store: S): S {
  const write = store.write.bind(store);
  const transaction = store.transaction.bind(store);
  store.write = (records, writeOptions) => {
    mark(`@write ${++writes}`);
    return write(records, writeOptions);
  };
  store.transaction = (work) => transaction((tx) => work(instrument(tx)));
  const jobs = store.batchJobs;
  if (jobs) {
    const update = jobs.update.bind(jobs);
    jobs.update = async (jobId, changes) => {
      await update(jobId, changes);
      if (changes.state === "submitted") mark(`@recorded ${++counts.recorded}`);
    };
  }
  return store;
}

/** Marks the batch API's uploads and output lines. */
function instrumentBatch(batch: BatchEmbeddingApi): BatchEmbeddingApi {
  return {
    ...batch,
    uploadFile: async (file, options) => {
      const id = await batch.uploadFile(file, options);
      mark(`@upload ${++counts.upload}`);
      return id;
    },
    async *readFile(fileId, options) {
      for await (const line of batch.readFile(fileId, options)) {
        yield line;
        mark(`@line ${++counts.line}`);
        if (lineDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, lineDelayMs));
      }
    },
  };
}

async function main(): Promise<number> {
  const { db, close } = await open();
  try {
    const voyage = voyageProvider({
      model: VOYAGE_MODEL,
      outputDimension: DIMENSIONS,
      baseURL: env.W_VOYAGE_URL,
    });
    let requests = 0;
    const provider: EmbeddingProvider = {
      ...voyage,
      limits: voyage.limits,
      embed: (texts, callOptions) => {
        mark(`@embed ${++requests}`);
        return voyage.embed(texts, callOptions);
      },
      batch: voyage.batch && instrumentBatch(voyage.batch),
    };
    const store = instrument(itemStore(db, tables, { partition }));
    const report = await backfill({
      provider,
      store,
      onProgress: consoleReporter({ mode: "lines", stream: process.stdout }),
      ...options,
    });
    mark(`@report ${JSON.stringify(report)}`);
    return 0;
  } catch (error) {
    console.error(error);
    const cause = (error as { cause?: unknown }).cause;
    return StoreError.isInstance(error) && error.reason === "locked"
      ? 3
      : StoreError.isInstance(cause) && cause.reason === "locked"
        ? 3
        : 1;
  } finally {
    await close();
  }
}

process.exitCode = await main();
