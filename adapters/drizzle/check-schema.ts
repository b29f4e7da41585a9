import type { PgColumn } from "drizzle-orm/pg-core";
import type { EmbeddingTarget } from "../../src/contracts/embedding-store.js";
import { StoreError } from "../../src/errors/index.js";
import {
  type ColumnInfo,
  checkTableColumns,
  checkUniqueIndex,
  checkVectorColumn,
  checkVectorExtension,
  type PgSession,
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
      [config.target.key.name],
      "so embeddings can be upserted by key",
    );
  }
}
