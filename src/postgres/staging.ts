import { StoreError } from "../errors/index.js";
import { copyFile, textArray, vectorArray, vectorText } from "./binary.js";
import { vectorTypeOid } from "./catalog.js";
import type { PgSession } from "./session.js";
import { joinFragments, rawFragment, type SqlFragment, sqlFragment } from "./sql-fragment.js";

/** One row to write: the key in its text form (`key::text`), the hash of the embedded text, the vector. */
export interface StagedRow {
  readonly key: string;
  readonly hash: string;
  readonly embedding: Float32Array;
}

/**
 * Rows on their way to the server, as SQL to splice into one statement: `from` is a FROM item named
 * `v` with columns `key` (text), `hash` (text) and `embedding` (vector); `with`, when present, is a
 * `WITH` clause the statement must start with.
 *
 * @example
 * ```ts
 * // with Drizzle: sql`${with} insert into … select v.key::int, v.embedding … from ${from}`
 * ```
 */
export interface StagedRows {
  readonly with?: SqlFragment;
  readonly from: SqlFragment;
}

/** What {@link stageRows} remembers between calls on one store. */
export interface StagingCache {
  /** Oid of the `vector` type (binary array parameters name it). */
  vectorOid?: number;
}

/** Below the 65,535 bind parameters of one statement, at 3 parameters a row. */
const VALUES_PER_STATEMENT = 20_000;

const STAGING = "pg_temp.relay_embeddings_staging";

/*
 * A DO block rather than CREATE … IF NOT EXISTS, which raises a NOTICE on every write (postgres.js
 * prints notices). ON COMMIT DELETE ROWS is a safety net: the statement consumes the rows itself.
 */
const CREATE_STAGING = `do $$ begin
  if to_regclass('${STAGING}') is null then
    create temp table relay_embeddings_staging (key text, hash text, embedding vector) on commit delete rows;
  end if;
end $$`;

async function copyToStaging(tx: PgSession, rows: readonly StagedRow[]): Promise<StagedRows> {
  await tx.query(CREATE_STAGING);
  await tx.copyIn(
    `${STAGING} (key, hash, embedding)`,
    copyFile(rows.map((row) => [row.key, row.hash, row.embedding])),
  );
  // The statement reads the staged rows and empties the table at once.
  return {
    with: rawFragment(`with v as (delete from ${STAGING} returning key, hash, embedding)`),
    from: rawFragment("v"),
  };
}

async function binaryParameters(
  tx: PgSession,
  rows: readonly StagedRow[],
  cache: StagingCache,
): Promise<StagedRows> {
  cache.vectorOid ||= await vectorTypeOid(tx);
  if (!cache.vectorOid) {
    throw new StoreError("The `vector` type does not exist: run `CREATE EXTENSION IF NOT EXISTS vector`.", {
      reason: "extension_missing",
    });
  }
  const keys = textArray(rows.map((row) => row.key));
  const hashes = textArray(rows.map((row) => row.hash));
  const vectors = vectorArray(
    cache.vectorOid,
    rows.map((row) => row.embedding),
  );
  return {
    from: sqlFragment`unnest(${keys}::text[], ${hashes}::text[], ${vectors}::vector[]) as v(key, hash, embedding)`,
  };
}

function textValues(rows: readonly StagedRow[]): StagedRows {
  const values = rows.map(
    (row) => sqlFragment`(${row.key}, ${row.hash}, ${vectorText(row.embedding)}::vector)`,
  );
  const list = joinFragments(values, ", ");
  return {
    from: joinFragments([rawFragment("(values "), list, rawFragment(") as v(key, hash, embedding)")], ""),
  };
}

/**
 * Gets `rows` to the server the fastest way `tx` allows and calls `write` with them as SQL, once per
 * group (one group, except on the text path above 20,000 rows). `tx` must be one connection (a
 * transaction's session): the temporary table lives on it.
 *
 * - binary parameters (node-postgres): the arrays are bound in binary, so pgvector reads the floats
 *   without parsing: `unnest($1::text[], $2::text[], $3::vector[])`;
 * - COPY (postgres.js, PGlite, which bind text only): a binary `COPY` into a temporary table that the
 *   statement empties as it reads it;
 * - otherwise, or with `binary: false`: vectors as text in multi-row `VALUES` (several times slower).
 *
 * @example
 * ```ts
 * await stageRows(tx, rows, { binary: true, cache }, async (staged) => {
 *   const { text, params } = fragmentQuery(joinFragments([staged.with ?? rawFragment(""),
 *     sqlFragment`update items set embedding = v.embedding from `, staged.from,
 *     rawFragment(" where items.id = v.key::int")], ""));
 *   await tx.query(text, params);
 * });
 * ```
 */
export async function stageRows(
  tx: PgSession,
  rows: readonly StagedRow[],
  options: { readonly binary: boolean; readonly cache: StagingCache },
  write: (rows: StagedRows) => Promise<void>,
): Promise<void> {
  const { capabilities } = tx;
  if (options.binary && capabilities.binaryParameters) {
    return write(await binaryParameters(tx, rows, options.cache));
  }
  if (options.binary && capabilities.copy) return write(await copyToStaging(tx, rows));
  for (let start = 0; start < rows.length; start += VALUES_PER_STATEMENT) {
    await write(textValues(rows.slice(start, start + VALUES_PER_STATEMENT)));
  }
}
