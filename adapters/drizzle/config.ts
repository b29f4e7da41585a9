import { getTableColumns, is, SQL } from "drizzle-orm";
import { getTableConfig, PgColumn, PgDialect, PgTable } from "drizzle-orm/pg-core";
import type { KeyRange } from "../../src/contracts/embedding-store.js";
import { InvalidOptionError } from "../../src/errors/index.js";
import {
  tableName as kitTableName,
  type TableName,
  type VectorColumnType,
  vectorColumnType,
} from "../../src/postgres/index.js";
import { DEFAULT_BATCH_JOBS_TABLE } from "./batch-jobs.js";
import type { AnyPgDatabase } from "./driver.js";
import type { DrizzleStoreBaseOptions, PartitionOptions } from "./options.js";
import { resolveRefusals } from "./refusals.js";
import { resolveSideTable } from "./side-table.js";

/**
 * `source.text`: a function of the row, hashed in JavaScript, or a SQL expression, built and hashed by
 * PostgreSQL (`display`: the expression's SQL, for messages).
 */
export type TextRecipe =
  | { readonly kind: "js"; readonly build: (row: any) => string }
  | { readonly kind: "sql"; readonly expression: SQL; readonly display: string };

/** The options, checked and resolved once: every operation of the store reads this. */
export interface StoreConfig {
  readonly layout: "separate" | "same-row";
  readonly source: {
    readonly table: PgTable;
    readonly name: TableName;
    readonly key: PgColumn;
    /** How a row becomes text: a JavaScript function of the row, or a SQL expression. */
    readonly text: TextRecipe;
    readonly filter: SQL | undefined;
    /** The columns `text()` gets (the same-row layout leaves out the embedding). */
    readonly columns: Record<string, PgColumn>;
  };
  readonly target: {
    readonly table: PgTable;
    readonly name: TableName;
    /** The key column on the target: `target.key`, or the source key in the same-row layout. */
    readonly key: PgColumn;
    readonly embedding: PgColumn;
    /** The embedding column's type, as the Drizzle schema declares it (`prepare()` checks the database's). */
    readonly type: VectorColumnType;
    /** Its dimensions as declared (`vector(n)`, `halfvec(n)`; bits for `bit(n)`), when declared. */
    readonly dimensions: number | undefined;
    readonly model: PgColumn;
    readonly hash: PgColumn;
    readonly version: PgColumn | undefined;
    /** One vector per (row, model, version), upserted on (key, model[, version]): `target.perModel`. */
    readonly perModel: boolean;
  };
  readonly version: string | undefined;
  /** Where the active model of a `perModel` target lives; `undefined` for the one-vector layouts. */
  readonly active: ActiveConfig | undefined;
  readonly partition: { readonly index: number; readonly count: number } | undefined;
  /** Set by `withKeyRange()`: only keys in this range are scanned, counted and locked. */
  readonly range: KeyRange | undefined;
  /** `"required"`: `lock: true` was given, so a driver that cannot hold the lock is refused. */
  readonly lock: boolean | "required";
  readonly binaryWrites: boolean;
  /** The jobs table of batch mode. */
  readonly batchJobs: { readonly table: TableName; readonly create: boolean };
  /** Where rows refused as too long are remembered; `undefined` with `refusals: false`. */
  readonly refusals: { readonly table: TableName; readonly create: boolean } | undefined;
}

/** The active model of a `perModel` target: in a table (switched by `cutover()`), or fixed in code. */
export type ActiveConfig =
  | { readonly kind: "table"; readonly table: TableName; readonly create: boolean }
  | { readonly kind: "fixed"; readonly model: string; readonly version: string | undefined };

/** The default table of active models. */
export const DEFAULT_ACTIVE_TABLE = "relay_embedding_models";

/** The table's name for the kit: its schema only when the Drizzle table declares one (`pgSchema`). */
function tableName(table: PgTable): TableName {
  const { name, schema } = getTableConfig(table);
  return kitTableName(name, schema);
}

function requireTable(value: unknown, option: string): PgTable {
  if (!is(value, PgTable)) throw new InvalidOptionError(option, "a Drizzle PostgreSQL table (pgTable)");
  return value;
}

function requireColumn(value: unknown, table: PgTable, option: string, tableOption: string): PgColumn {
  if (!is(value, PgColumn)) throw new InvalidOptionError(option, "a Drizzle PostgreSQL column");
  if (value.table !== table) throw new InvalidOptionError(option, `a column of \`${tableOption}\``);
  return value;
}

function checkPartition(
  partition: PartitionOptions | undefined,
): { index: number; count: number } | undefined {
  if (partition === undefined) return undefined;
  const { index, count } = partition;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new InvalidOptionError("partition.count", "an integer of at least 1");
  }
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new InvalidOptionError(
      "partition.index",
      `an integer from 0 to ${count - 1} (partition.count - 1)`,
    );
  }
  return { index, count };
}

/** Checks `drizzleStore()`'s options and resolves the layout. Throws {@link InvalidOptionError}. */
export function resolveConfig(
  options: DrizzleStoreBaseOptions<any, any, any, any> & { readonly version?: string },
): StoreConfig & { db: AnyPgDatabase } {
  const { db, source, target } = options as Partial<DrizzleStoreBaseOptions<any, any, any, any>>;
  if (!db || typeof db.execute !== "function" || typeof db.transaction !== "function") {
    throw new InvalidOptionError("db", "a Drizzle PostgreSQL database (PgDatabase)");
  }
  if (!source) throw new InvalidOptionError("source", "an object naming the source table, key and text");
  if (!target)
    throw new InvalidOptionError("target", "an object naming the embedding, model and hash columns");

  const sourceTable = requireTable(source.table, "source.table");
  if (Array.isArray(source.key)) {
    throw new InvalidOptionError(
      "source.key",
      "one column, unique and NOT NULL: composite keys such as [tenant_id, id] are not supported (the store's row id is one value, carried by paging, row locks, writes, partitions and similarity results); use a column unique on its own, or add one (`bigint generated always as identity unique`), and scope a tenant with `filter`",
    );
  }
  const sourceKey = requireColumn(source.key, sourceTable, "source.key", "source.table");
  const text = textRecipe(source.text);

  const layout = target.key === undefined ? "same-row" : "separate";
  let targetTable: PgTable;
  if (layout === "separate") {
    targetTable = requireTable(target.table, "target.table");
    if (targetTable === sourceTable) {
      throw new InvalidOptionError(
        "target.key",
        "omitted when the vectors live on the source rows (same-row layout)",
      );
    }
  } else {
    targetTable = target.table === undefined ? sourceTable : requireTable(target.table, "target.table");
    if (targetTable !== sourceTable) {
      throw new InvalidOptionError(
        "target.key",
        "given when the vectors live in another table than the source",
      );
    }
  }
  const column = (value: unknown, option: string) =>
    requireColumn(value, targetTable, option, "target.table");
  const embedding = column(target.embedding, "target.embedding");
  const embeddingType = vectorColumnType(/^\w+/.exec(embedding.getSQLType())?.[0] ?? "");
  if (!embeddingType) {
    throw new InvalidOptionError(
      "target.embedding",
      "a pgvector column: `vector(n)`, `halfvec(n)` or `bit(n)` (Drizzle's vector(), halfvec(), bit())",
    );
  }
  const declared = (embedding as PgColumn & { dimensions?: unknown }).dimensions;
  const targetKey = layout === "separate" ? column(target.key, "target.key") : sourceKey;
  if (targetKey.dataType !== sourceKey.dataType) {
    throw new InvalidOptionError(
      "target.key",
      `a column of the source key's type (${sourceKey.dataType}, like \`source.key\`), not ${targetKey.dataType}`,
    );
  }
  const model = column(target.model, "target.model");
  const hash = column(target.hash, "target.hash");
  const versionColumn = target.version === undefined ? undefined : column(target.version, "target.version");

  const { version } = options;
  if (versionColumn && (typeof version !== "string" || version === "")) {
    throw new InvalidOptionError(
      "version",
      "a non-empty string, since `target.version` names a column for it",
    );
  }
  if (!versionColumn && version !== undefined) {
    throw new InvalidOptionError("target.version", "a column to store `version` in (it would be ignored)");
  }

  const perModel = target.perModel ?? false;
  if (typeof perModel !== "boolean") throw new InvalidOptionError("target.perModel", "a boolean");
  if (perModel && layout !== "separate") {
    throw new InvalidOptionError(
      "target.perModel",
      "false (or omitted) in the same-row layout: a row has room for one vector; keep several models' vectors in a separate table keyed by (key, model)",
    );
  }

  const columns: Record<string, PgColumn> = {};
  for (const [property, col] of Object.entries(getTableColumns(sourceTable))) {
    if (col !== embedding) columns[property] = col as PgColumn;
  }

  return {
    db,
    layout,
    source: {
      table: sourceTable,
      name: tableName(sourceTable),
      key: sourceKey,
      text,
      filter: source.filter,
      columns,
    },
    target: {
      table: targetTable,
      name: tableName(targetTable),
      key: targetKey,
      embedding,
      type: embeddingType,
      dimensions: typeof declared === "number" ? declared : undefined,
      model,
      hash,
      version: versionColumn,
      perModel,
    },
    version,
    active: perModel ? resolveActive(options.active, version) : undefined,
    partition: checkPartition(options.partition),
    range: undefined,
    lock: options.lock === true ? "required" : (options.lock ?? true),
    binaryWrites: options.binaryWrites ?? true,
    batchJobs: resolveBatchJobs(options.batchJobs),
    refusals: resolveRefusals(options.refusals),
  };
}

function textRecipe(text: unknown): TextRecipe {
  if (typeof text === "function") return { kind: "js", build: text as (row: any) => string };
  if (is(text, SQL)) return { kind: "sql", expression: text, display: new PgDialect().sqlToQuery(text).sql };
  throw new InvalidOptionError(
    "source.text",
    "a function (row) => string, or a Drizzle SQL expression over the source table's columns (sql`…`)",
  );
}

function resolveBatchJobs(options: DrizzleStoreBaseOptions["batchJobs"]): StoreConfig["batchJobs"] {
  return resolveSideTable(options, "batchJobs", DEFAULT_BATCH_JOBS_TABLE);
}

function resolveActive(
  options: DrizzleStoreBaseOptions["active"],
  version: string | undefined,
): ActiveConfig {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new InvalidOptionError("active", "{ table?, schema?, create? } or { model, version? }");
  }
  const given = (options ?? {}) as Record<string, unknown>;
  if (given.model !== undefined) {
    if (typeof given.model !== "string" || given.model === "") {
      throw new InvalidOptionError("active.model", "a model id");
    }
    if (given.table !== undefined) {
      throw new InvalidOptionError(
        "active.table",
        "omitted with `active.model` (the model is fixed in code)",
      );
    }
    if (given.version !== undefined && (typeof given.version !== "string" || given.version === "")) {
      throw new InvalidOptionError("active.version", "a non-empty string");
    }
    return { kind: "fixed", model: given.model, version: (given.version as string | undefined) ?? version };
  }
  return { kind: "table", ...resolveSideTable(given, "active", DEFAULT_ACTIVE_TABLE) };
}

function checkBound(bound: unknown, option: string): readonly string[] | undefined {
  if (bound === undefined) return undefined;
  if (!Array.isArray(bound) || bound.length !== 1 || typeof bound[0] !== "string") {
    throw new InvalidOptionError(
      option,
      'the key in its text form as a one-element array (`source.key` is one column), e.g. ["42"]',
    );
  }
  return bound;
}

/**
 * The config of `config`'s store restricted to `range` (within a range it already has). Throws
 * {@link InvalidOptionError} for a malformed range, and with `partition`: partitions and key ranges
 * are two ways to split one run, and their locks would not exclude each other.
 */
export function withRange(config: StoreConfig, range: KeyRange): StoreConfig {
  if (typeof range !== "object" || range === null) {
    throw new InvalidOptionError("range", "an object { after?, through? } of key bounds");
  }
  if (config.partition) {
    throw new InvalidOptionError(
      "partition",
      "omitted on a store split into key ranges (`withKeyRange`): use partitions or ranges, not both",
    );
  }
  const after = checkBound(range.after, "range.after");
  const through = checkBound(range.through, "range.through");
  if (config.range) {
    throw new InvalidOptionError("range", "set once: this store is already restricted to a key range");
  }
  return { ...config, range: { after, through } };
}
