import type { PgColumn } from "drizzle-orm/pg-core";
import type { EmbeddingTarget } from "../../src/contracts/embedding-store.js";
import { DimensionMismatchError, StoreError } from "../../src/errors/index.js";
import { hasUniqueIndex, tableColumns, vectorExtension } from "./catalog.js";
import type { StoreConfig, TableName } from "./config.js";
import type { AnyPgDatabase } from "./driver.js";

async function checkExtension(db: AnyPgDatabase): Promise<void> {
  const { installed, available } = await vectorExtension(db);
  if (installed) return;
  const hint = available
    ? "run `CREATE EXTENSION IF NOT EXISTS vector;` (once, as a user allowed to create extensions)"
    : "install pgvector on the server (https://github.com/pgvector/pgvector), then run `CREATE EXTENSION IF NOT EXISTS vector;`";
  throw new StoreError(`The \`vector\` extension is not installed in this database: ${hint}.`, {
    reason: "extension_missing",
  });
}

async function checkColumns(db: AnyPgDatabase, table: TableName, columns: readonly PgColumn[]) {
  const found = await tableColumns(db, table);
  if (!found) {
    throw new StoreError(`Table ${table.display} does not exist: create it (run your migrations) first.`, {
      reason: "schema",
    });
  }
  const missing = columns.filter((column) => !found.some((info) => info.name === column.name));
  if (missing.length > 0) {
    const names = missing.map((column) => `${table.display}.${column.name}`).join(", ");
    throw new StoreError(`Column(s) ${names} do not exist: run your migrations first.`, { reason: "schema" });
  }
  return found;
}

function checkDimensions(config: StoreConfig, typmod: number, target: EmbeddingTarget): void {
  const { embedding, name } = config.target;
  const column = `${name.display}.${embedding.name}`;
  const declared = (embedding as PgColumn & { dimensions?: unknown }).dimensions;
  const [dimensions, where] =
    typmod > 0
      ? [typmod, "holds"]
      : typeof declared === "number"
        ? [declared, "is declared in the Drizzle schema as"]
        : [];
  if (dimensions === undefined || dimensions === target.dimensions) return;
  throw new DimensionMismatchError(
    `${column} ${where} vector(${dimensions}), but ${target.provider} model ${target.model} makes ${target.dimensions}-dimension vectors: ` +
      `use a model or output dimension of ${dimensions}, or migrate the column to vector(${target.dimensions}) and re-embed.`,
    { expected: dimensions, actual: target.dimensions, source: "store" },
  );
}

async function checkUnique(
  db: AnyPgDatabase,
  table: TableName,
  column: PgColumn,
  why: string,
): Promise<void> {
  if (await hasUniqueIndex(db, table, column.name)) return;
  throw new StoreError(
    `${table.display}.${column.name} needs a unique index (primary key or .unique()) ${why}.`,
    { reason: "schema" },
  );
}

/**
 * Everything `prepare()` checks before the first provider call: the `vector` extension, the tables
 * and columns, the embedding column's dimensions, and the unique indexes keyset paging and upserts
 * rely on. Each failure is a typed error saying what to do.
 */
export async function checkSchema(
  config: StoreConfig,
  db: AnyPgDatabase,
  target: EmbeddingTarget,
): Promise<void> {
  await checkExtension(db);
  const { source } = config;
  const columns = [config.target.embedding, config.target.model, config.target.hash];
  if (config.target.version) columns.push(config.target.version);
  if (config.layout === "separate") {
    await checkColumns(db, source.name, [source.key]);
    columns.push(config.target.key);
  } else {
    columns.push(source.key);
  }
  const found = await checkColumns(db, config.target.name, columns);
  const embedding = found.find((info) => info.name === config.target.embedding.name)!;
  if (embedding.type !== "vector") {
    throw new StoreError(
      `${config.target.name.display}.${embedding.name} is of type ${embedding.type}; the store writes pgvector \`vector\` columns.`,
      { reason: "schema" },
    );
  }
  checkDimensions(config, embedding.typmod, target);
  await checkUnique(db, source.name, source.key, "so rows can be paged by key");
  if (config.layout === "separate") {
    await checkUnique(db, config.target.name, config.target.key, "so embeddings can be upserted by key");
  }
}
