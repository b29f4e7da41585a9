import type { PgColumn } from "drizzle-orm/pg-core";
import type { EmbeddingTarget } from "../../src/contracts/embedding-store.js";
import { DimensionMismatchError, StoreError } from "../../src/errors/index.js";
import {
  type ColumnInfo,
  checkTableColumns,
  checkUniqueIndex,
  checkVectorColumn,
  checkVectorExtension,
  type PgSession,
  qualifiedName,
  quoteIdentifier,
} from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";

/**
 * Everything `prepare()` checks before the first provider call: the `vector` extension, the tables
 * and columns, the embedding column's type (`vector`, `halfvec` or `bit`, the one the Drizzle schema
 * declares and the provider's vectors fit) and dimensions, and the unique indexes keyset paging and
 * upserts rely on. Each failure is a typed error saying what to do (the PostgreSQL kit's checks, fed
 * with the Drizzle tables and columns).
 */
export async function checkSchema(
  config: StoreConfig,
  session: PgSession,
  target: EmbeddingTarget,
): Promise<void> {
  await checkVectorExtension(session);
  const { source } = config;
  const columns: PgColumn[] = [config.target.embedding, config.target.model, config.target.hash];
  if (config.target.version) columns.push(config.target.version);
  let key: ColumnInfo | undefined;
  if (config.layout === "separate") {
    [key] = await checkTableColumns(session, source.name, [source.key.name]);
    columns.push(config.target.key);
  } else {
    columns.push(source.key);
  }
  const found = await checkTableColumns(
    session,
    config.target.name,
    columns.map((column) => column.name),
  );
  key ??= found.find((info) => info.name === source.key.name);
  if (key && !key.notNull) {
    // A unique index lets any number of NULLs through: those rows could be neither paged nor written.
    throw new StoreError(
      `${source.name.display}.${source.key.name} can be NULL: rows with a NULL key can be neither paged nor written, and would be left out without a word. Declare the column NOT NULL (or use the primary key as source.key).`,
      { reason: "schema" },
    );
  }
  const { dimensions, type } = config.target;
  checkVectorColumn({
    table: config.target.name,
    column: found.find((info) => info.name === config.target.embedding.name)!,
    target,
    declared: dimensions === undefined ? undefined : { dimensions, type, where: "the Drizzle schema" },
  });
  await checkUniqueIndex(session, source.name, [source.key.name], "so rows can be paged by key");
  if (config.layout === "separate") {
    await checkUniqueIndex(
      session,
      config.target.name,
      conflictColumns(config).map((column) => column.name),
      config.target.perModel
        ? "so each model's embeddings can be upserted by key and model (target.perModel)"
        : "so embeddings can be upserted by key",
    );
  }
  if (config.target.perModel && dimensions === undefined)
    await checkStoredDimensions(config, session, target);
}

/**
 * The target's upsert key: `key`, or with `perModel` (`key`, `model`[, `version`]) — one vector per
 * row and model.
 */
export function conflictColumns(config: StoreConfig): PgColumn[] {
  const { target } = config;
  if (!target.perModel) return [target.key];
  return [target.key, target.model, ...(target.version ? [target.version] : [])];
}

/**
 * With vectors of several models in a column of no declared size, the model's vectors already stored
 * must be of the provider's size: a provider asked for another output dimension under the same model
 * id would otherwise mix two sizes in one model's index.
 */
async function checkStoredDimensions(
  config: StoreConfig,
  session: PgSession,
  target: EmbeddingTarget,
): Promise<void> {
  const { target: t, version } = config;
  if (t.type === "bit") return;
  const column = quoteIdentifier(t.embedding.name);
  const params: unknown[] = [target.model, target.dimensions];
  let where = `${quoteIdentifier(t.model.name)} = $1`;
  if (t.version) {
    params.push(version);
    where += ` and ${quoteIdentifier(t.version.name)} = $3`;
  }
  const rows = await session.query<{ dimensions: number }>(
    `select vector_dims(${column}) as dimensions from ${qualifiedName(t.name)} where ${where} and vector_dims(${column}) <> $2 limit 1`,
    params,
  );
  const found = rows[0]?.dimensions;
  if (found === undefined) return;
  throw new DimensionMismatchError(
    `${t.name.display}.${t.embedding.name} holds ${found}-dimension vectors of ${target.model}, but ${target.provider} model ${target.model} now makes ${target.dimensions}: one model's vectors must have one size (its index and its searches compare them). Prune them (\`store.prune({ model: "${target.model}" })\`) or keep the model's output dimension.`,
    { expected: Number(found), actual: target.dimensions, source: "store" },
  );
}
