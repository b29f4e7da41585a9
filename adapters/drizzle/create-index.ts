import { type SQL, sql } from "drizzle-orm";
import { InvalidOptionError } from "../../src/errors/index.js";
import type { StoreConfig } from "./config.js";
import { guard } from "./database-error.js";
import type { AnyPgDatabase } from "./driver.js";

/**
 * Options of `createIndex()`. Build the index after a bulk backfill: inserting into an indexed table
 * is about ten times slower. Raise `maintenance_work_mem` for large tables.
 *
 * @example
 * ```ts
 * await backfill({ provider, store });
 * await store.createIndex({ method: "hnsw", ops: "vector_cosine_ops", m: 16, efConstruction: 64 });
 * ```
 */
export interface CreateIndexOptions {
  /**
   * Index method.
   * @default "hnsw"
   */
  readonly method?: "hnsw" | "ivfflat";
  /**
   * Operator class: the distance the index serves. `nearest()`/`findSimilar()` use cosine.
   * @default "vector_cosine_ops"
   */
  readonly ops?: "vector_cosine_ops" | "vector_l2_ops" | "vector_ip_ops" | "vector_l1_ops";
  /**
   * Index name.
   * @default `${table}_${column}_${method}_idx` (cut to PostgreSQL's 63 bytes)
   */
  readonly name?: string;
  /**
   * HNSW: connections per layer.
   * @default pgvector's (16)
   */
  readonly m?: number;
  /**
   * HNSW: candidate list size while building.
   * @default pgvector's (64)
   */
  readonly efConstruction?: number;
  /**
   * IVFFlat: number of lists (rows / 1000 is pgvector's advice up to 1M rows).
   * @default pgvector's (100)
   */
  readonly lists?: number;
  /**
   * `CREATE INDEX CONCURRENTLY`: does not block writes, cannot run inside a transaction.
   * @default false
   */
  readonly concurrently?: boolean;
}

const METHODS = new Set(["hnsw", "ivfflat"]);
const OPS = new Set(["vector_cosine_ops", "vector_l2_ops", "vector_ip_ops", "vector_l1_ops"]);

function storageParameters(options: CreateIndexOptions): SQL {
  const entries: [string, number | undefined][] =
    (options.method ?? "hnsw") === "hnsw"
      ? [
          ["m", options.m],
          ["ef_construction", options.efConstruction],
        ]
      : [["lists", options.lists]];
  const set = entries.filter((entry): entry is [string, number] => entry[1] !== undefined);
  for (const [name, value] of set) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidOptionError(
        name === "ef_construction" ? "efConstruction" : name,
        "a positive integer",
      );
    }
  }
  if (set.length === 0) return sql``;
  // DDL takes no bind parameters; the values are checked integers.
  return sql.raw(` with (${set.map(([name, value]) => `${name} = ${value}`).join(", ")})`);
}

/** Default index name, trimmed to 63 bytes like PostgreSQL would. */
function defaultName(config: StoreConfig, method: string): string {
  const name = `${config.target.name.name}_${config.target.embedding.name}_${method}_idx`;
  return Buffer.from(name, "utf8")
    .subarray(0, 63)
    .toString("utf8")
    .replace(/\uFFFD+$/, "");
}

/** `CREATE INDEX IF NOT EXISTS … USING hnsw (embedding vector_cosine_ops)`; returns the index name. */
export async function createIndex(
  config: StoreConfig,
  db: AnyPgDatabase,
  options: CreateIndexOptions = {},
): Promise<string> {
  const method = options.method ?? "hnsw";
  const ops = options.ops ?? "vector_cosine_ops";
  if (!METHODS.has(method)) throw new InvalidOptionError("method", '"hnsw" or "ivfflat"');
  if (!OPS.has(ops)) throw new InvalidOptionError("ops", "a pgvector `vector` operator class");
  const name = options.name ?? defaultName(config, method);
  const { table, embedding } = config.target;
  const statement = sql`create index ${sql.raw(options.concurrently ? "concurrently " : "")}if not exists ${sql.identifier(name)}
    on ${table} using ${sql.raw(method)} (${sql.identifier(embedding.name)} ${sql.raw(ops)})${storageParameters(options)}`;
  await guard(`Creating index ${name} on ${config.target.name.display}`, () => db.execute(statement));
  return name;
}
