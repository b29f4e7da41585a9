import { InvalidOptionError } from "../errors/index.js";
import { qualifiedName, quoteIdentifier, relationExists, type TableName, tableColumns } from "./catalog.js";
import { guard, sqlState } from "./database-error.js";
import { withReserved } from "./make-session.js";
import type { PgSession } from "./session.js";
import { castType, type VectorColumnType, vectorColumnType } from "./vector-types.js";

/**
 * pgvector operator classes, one per column type and distance: `vector_*` for `vector` columns,
 * `halfvec_*` for `halfvec`, `bit_*` for `bit` (Hamming `<~>`, Jaccard `<%>`; IVFFlat serves only
 * Hamming).
 */
export type VectorIndexOps =
  | "vector_cosine_ops"
  | "vector_l2_ops"
  | "vector_ip_ops"
  | "vector_l1_ops"
  | "halfvec_cosine_ops"
  | "halfvec_l2_ops"
  | "halfvec_ip_ops"
  | "halfvec_l1_ops"
  | "bit_hamming_ops"
  | "bit_jaccard_ops";

/**
 * Options of `createIndex()` / {@link createVectorIndex}. Build the index after a bulk backfill:
 * inserting into an indexed table is about ten times slower. Raise `maintenance_work_mem` for large
 * tables.
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
   * Operator class: the distance the index serves, of the column's type (`vector_*`, `halfvec_*`,
   * `bit_*`). `nearest()`/`findSimilar()` use cosine on `vector` and `halfvec` columns, Hamming on
   * `bit` columns.
   * @default by the column's type: "vector_cosine_ops", "halfvec_cosine_ops" or "bit_hamming_ops"
   */
  readonly ops?: VectorIndexOps;
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

/**
 * A partial index over part of a table's vectors, e.g. one model's when several models share the column:
 * `where` is its predicate (SQL text with literals, which the planner matches against queries' own),
 * `dimensions` the size to cast a column of no declared size to, `label` what the default name adds.
 */
export interface IndexPart {
  readonly where: string;
  readonly dimensions?: number;
  readonly label: string;
}

const METHODS = new Set(["hnsw", "ivfflat"]);
const OPS: Record<VectorColumnType, readonly VectorIndexOps[]> = {
  vector: ["vector_cosine_ops", "vector_l2_ops", "vector_ip_ops", "vector_l1_ops"],
  halfvec: ["halfvec_cosine_ops", "halfvec_l2_ops", "halfvec_ip_ops", "halfvec_l1_ops"],
  bit: ["bit_hamming_ops", "bit_jaccard_ops"],
};
const ALL_OPS: ReadonlySet<string> = new Set(Object.values(OPS).flat());

/** The column's pgvector type from the catalog; `undefined` when there is no such column (the build says so). */
async function columnType(session: PgSession, table: TableName, column: string) {
  const found = await tableColumns(session, table);
  const info = found?.find((candidate) => candidate.name === column);
  return info && vectorColumnType(info.type);
}

/** The operator class to build with: `ops`, checked against the column's type, or the type's default. */
function resolveOps(
  type: VectorColumnType | undefined,
  method: string,
  ops: string | undefined,
  where: string,
): string {
  if (ops === undefined) return OPS[type ?? "vector"][0]!;
  if (!ALL_OPS.has(ops)) {
    throw new InvalidOptionError("ops", `a pgvector operator class (${[...ALL_OPS].join(", ")})`);
  }
  if (type && !OPS[type].includes(ops as VectorIndexOps)) {
    throw new InvalidOptionError(
      "ops",
      `an operator class of ${where}'s type, ${type}: ${OPS[type].join(", ")}`,
    );
  }
  if (method === "ivfflat" && ops === "bit_jaccard_ops") {
    throw new InvalidOptionError(
      "ops",
      'bit_hamming_ops with method "ivfflat" (pgvector serves Jaccard with HNSW only)',
    );
  }
  return ops;
}

function storageParameters(options: CreateIndexOptions): string {
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
  if (set.length === 0) return "";
  // DDL takes no bind parameters; the values are checked integers.
  return ` with (${set.map(([name, value]) => `${name} = ${value}`).join(", ")})`;
}

/** Default index name, trimmed to 63 bytes like PostgreSQL would. */
function defaultName(table: TableName, column: string, method: string): string {
  const name = `${table.name}_${column}_${method}_idx`;
  return Buffer.from(name, "utf8")
    .subarray(0, 63)
    .toString("utf8")
    .replace(/\uFFFD+$/, "");
}

/** Message levels below `warning`, which PostgreSQL sends as notices. */
const QUIETER_THAN_WARNING = new Set([
  "debug5",
  "debug4",
  "debug3",
  "debug2",
  "debug1",
  "debug",
  "log",
  "notice",
  "info",
]);

/*
 * Runs `work` with the connection's `client_min_messages` at `warning` or above, then puts back what it
 * was: pgvector reports on index builds with NOTICEs ("ivfflat index created with little data", "hnsw
 * graph no longer fits into maintenance_work_mem"), and postgres.js prints every notice to stdout
 * unless the application gave it `onnotice`. A library never writes to stdout on its own.
 */
async function withoutNotices<T>(
  session: PgSession,
  work: (connection: PgSession) => Promise<T>,
): Promise<T> {
  if (!session.capabilities.reserve) return work(session);
  return withReserved(session, async (connection) => {
    const [row] = await connection.query<{ level: string }>(
      "select current_setting('client_min_messages') as level",
    );
    const level = String(row?.level ?? "notice");
    if (!QUIETER_THAN_WARNING.has(level)) return await work(connection);
    await connection.query("select set_config('client_min_messages', 'warning', false)");
    try {
      return await work(connection);
    } finally {
      // In a transaction that the statement aborted this fails, and the rollback restores the level.
      await connection.query("select set_config('client_min_messages', $1, false)", [level]).catch(() => {});
    }
  });
}

/**
 * Builds a pgvector index on `table.column` unless a relation of its name already exists in the table's
 * schema (the catalog is read first: `CREATE INDEX IF NOT EXISTS` would raise a NOTICE), and returns its
 * name. The build runs with notices silenced on its connection; a build that another process finished
 * first counts as done. The operator class defaults to cosine for `vector` and `halfvec` columns and
 * Hamming for `bit` columns (read from the catalog). Throws `InvalidOptionError` for a wrong option
 * (an operator class of another column type included) and `StoreError` for a failed build.
 *
 * @example
 * ```ts
 * const name = await createVectorIndex(session, tableName("skill_embeddings"), "embedding", { m: 16 });
 * ```
 */
export async function createVectorIndex(
  session: PgSession,
  table: TableName,
  column: string,
  options: CreateIndexOptions = {},
  part?: IndexPart,
): Promise<string> {
  const method = options.method ?? "hnsw";
  if (!METHODS.has(method)) throw new InvalidOptionError("method", '"hnsw" or "ivfflat"');
  const where = `${table.display}.${column}`;
  // Options that are wrong whatever the column are refused before any query.
  resolveOps(undefined, method, options.ops, where);
  if (options.name !== undefined && (typeof options.name !== "string" || options.name === "")) {
    throw new InvalidOptionError("name", "a non-empty string");
  }
  const parameters = storageParameters(options);
  const declared = await guard(`Reading ${table.display}'s columns`, () =>
    columnType(session, table, column),
  );
  // A column of no declared size is indexed through a cast to the part's size (as halfvec beyond
  // pgvector's 2,000 dimensions for a vector index): queries order by the same cast.
  const type = part?.dimensions === undefined ? declared : castType(declared ?? "vector", part.dimensions);
  const ops = resolveOps(type, method, options.ops, where);
  const name = options.name ?? defaultName(table, part ? `${column}_${part.label}` : column, method);
  const indexed =
    part?.dimensions === undefined
      ? quoteIdentifier(column)
      : `(${quoteIdentifier(column)}::${type}(${part.dimensions}))`;
  const statement = `create index ${options.concurrently ? "concurrently " : ""}${quoteIdentifier(name)}
    on ${qualifiedName(table)} using ${method} (${indexed} ${ops})${parameters}${part ? ` where ${part.where}` : ""}`;
  await guard(`Creating index ${name} on ${table.display}`, async () => {
    if (await relationExists(session, table, name)) return;
    await withoutNotices(session, (connection) =>
      connection.query(statement).catch((error: unknown) => {
        // duplicate_table: another process built it between the check and now.
        if (sqlState(error) !== "42P07") throw error;
        return [];
      }),
    );
  });
  return name;
}
