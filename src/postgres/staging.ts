import { StoreError } from "../errors/index.js";
import { copyFile, textArray, vectorArray } from "./binary.js";
import { vectorTypeOid } from "./catalog.js";
import type { PgSession } from "./session.js";
import { joinFragments, rawFragment, type SqlFragment, sqlFragment } from "./sql-fragment.js";
import { type VectorColumnType, vectorBinary, vectorTextOf } from "./vector-types.js";

/**
 * One row to write: the key in its text form (`key::text`), the hash of the embedded text, the vector
 * (numbers, or packed bits for a `bit` column: see {@link VectorColumnType}).
 */
export interface StagedRow {
  readonly key: string;
  readonly hash: string;
  readonly embedding: Float32Array;
}

/**
 * Rows on their way to the server, as SQL to splice into one statement: `from` is a FROM item named
 * `v` with columns `key` (text), `hash` (text) and `embedding` (`vector`, `halfvec` or `varbit`, by
 * the `type` given to {@link stageRows}; `varbit` is assigned to a `bit(n)` column as is); `with`,
 * when present, is a `WITH` clause the statement must start with.
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
  /** Oids of the `halfvec` and `varbit` types, likewise. */
  typeOids?: { halfvec?: number; bit?: number };
}

/** The type each column type is staged as: `bit` without a length would be `bit(1)`. */
const STAGED_AS: Record<VectorColumnType, "vector" | "halfvec" | "varbit"> = {
  vector: "vector",
  halfvec: "halfvec",
  bit: "varbit",
};

/** Below the 65,535 bind parameters of one statement, at 3 parameters a row. */
const VALUES_PER_STATEMENT = 20_000;

/** One temporary table per staged type; the `vector` one keeps its original name. */
function stagingTable(type: VectorColumnType): string {
  return `relay_embeddings_staging${type === "vector" ? "" : `_${type}`}`;
}

/*
 * A DO block rather than CREATE … IF NOT EXISTS, which raises a NOTICE on every write (postgres.js
 * prints notices). ON COMMIT DELETE ROWS is a safety net: the statement consumes the rows itself.
 */
function createStaging(type: VectorColumnType): string {
  const table = stagingTable(type);
  return `do $$ begin
  if to_regclass('pg_temp.${table}') is null then
    create temp table ${table} (key text, hash text, embedding ${STAGED_AS[type]}) on commit delete rows;
  end if;
end $$`;
}

async function copyToStaging(
  tx: PgSession,
  rows: readonly StagedRow[],
  type: VectorColumnType,
): Promise<StagedRows> {
  const table = `pg_temp.${stagingTable(type)}`;
  await tx.query(createStaging(type));
  await tx.copyIn(
    `${table} (key, hash, embedding)`,
    copyFile(
      rows.map((row) => [
        row.key,
        row.hash,
        type === "vector" ? row.embedding : vectorBinary(type, row.embedding),
      ]),
    ),
  );
  // The statement reads the staged rows and empties the table at once.
  return {
    with: rawFragment(`with v as (delete from ${table} returning key, hash, embedding)`),
    from: rawFragment("v"),
  };
}

async function typeOid(tx: PgSession, type: VectorColumnType, cache: StagingCache): Promise<number> {
  if (type === "vector") {
    cache.vectorOid ||= await vectorTypeOid(tx);
    return cache.vectorOid;
  }
  cache.typeOids ??= {};
  cache.typeOids[type] ||= await vectorTypeOid(tx, STAGED_AS[type]);
  return cache.typeOids[type];
}

async function binaryParameters(
  tx: PgSession,
  rows: readonly StagedRow[],
  cache: StagingCache,
  type: VectorColumnType,
): Promise<StagedRows> {
  const oid = await typeOid(tx, type, cache);
  if (!oid) {
    throw new StoreError(
      `The \`${type}\` type does not exist: run \`CREATE EXTENSION IF NOT EXISTS vector\` (pgvector 0.7 or later for halfvec).`,
      { reason: "extension_missing" },
    );
  }
  const keys = textArray(rows.map((row) => row.key));
  const hashes = textArray(rows.map((row) => row.hash));
  const vectors = vectorArray(
    oid,
    rows.map((row) => row.embedding),
    type,
  );
  const cast = rawFragment(`::${STAGED_AS[type]}[]`);
  return {
    from: joinFragments(
      [
        sqlFragment`unnest(${keys}::text[], ${hashes}::text[], ${vectors}`,
        cast,
        rawFragment(") as v(key, hash, embedding)"),
      ],
      "",
    ),
  };
}

function textValues(rows: readonly StagedRow[], type: VectorColumnType): StagedRows {
  const cast = rawFragment(`::${STAGED_AS[type]})`);
  const values = rows.map((row) =>
    joinFragments([sqlFragment`(${row.key}, ${row.hash}, ${vectorTextOf(type, row.embedding)}`, cast], ""),
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
  options: {
    readonly binary: boolean;
    readonly cache: StagingCache;
    /**
     * The target column's type, which decides how the vectors travel.
     * @default "vector"
     */
    readonly type?: VectorColumnType;
  },
  write: (rows: StagedRows) => Promise<void>,
): Promise<void> {
  const { capabilities } = tx;
  const type = options.type ?? "vector";
  if (options.binary && capabilities.binaryParameters) {
    return write(await binaryParameters(tx, rows, options.cache, type));
  }
  if (options.binary && capabilities.copy) return write(await copyToStaging(tx, rows, type));
  for (let start = 0; start < rows.length; start += VALUES_PER_STATEMENT) {
    await write(textValues(rows.slice(start, start + VALUES_PER_STATEMENT), type));
  }
}
