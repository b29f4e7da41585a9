import { sql } from "drizzle-orm";
import { StoreError } from "../../src/errors/index.js";
import { copyFile, textArray, vectorArray, vectorText } from "./binary.js";
import { vectorTypeOid } from "./catalog.js";
import { copyIn } from "./copy-in.js";
import type { TargetCopy } from "./copy-new-rows.js";
import { type AnyPgDatabase, driverOf } from "./driver.js";
import type { StagedRows } from "./upsert.js";

/** One row to write: the key in text form, the hash of the embedded text, the vector. */
export interface StagedRow {
  readonly key: string;
  readonly hash: string;
  readonly embedding: Float32Array;
}

/** What a store remembers between writes. */
export interface WriteCache {
  /** Oid of the `vector` type (binary array parameters name it). */
  vectorOid?: number;
  /** How to COPY new rows into the target; `null` when it cannot. */
  targetCopy?: TargetCopy | null;
}

/** Below the 65,535 bind parameters of one statement, at 3 parameters a row. */
const VALUES_PER_STATEMENT = 20_000;

const STAGING = "pg_temp.relay_embeddings_staging";

/*
 * A DO block rather than CREATE … IF NOT EXISTS, which sends a NOTICE on every write (postgres.js
 * prints notices). ON COMMIT DELETE ROWS is a safety net: the upsert consumes the rows itself.
 */
const CREATE_STAGING = sql.raw(`do $$ begin
  if to_regclass('${STAGING}') is null then
    create temp table relay_embeddings_staging (key text, hash text, embedding vector) on commit delete rows;
  end if;
end $$`);

async function copyToStaging(tx: AnyPgDatabase, rows: readonly StagedRow[]): Promise<StagedRows> {
  await tx.execute(CREATE_STAGING);
  await copyIn(
    tx,
    `copy ${STAGING} (key, hash, embedding)`,
    copyFile(rows.map((row) => [row.key, row.hash, row.embedding])),
  );
  // The upsert reads the staged rows and empties the table in one statement.
  return {
    with: sql.raw(`with v as (delete from ${STAGING} returning key, hash, embedding)`),
    from: sql.raw("v"),
  };
}

async function binaryParameters(
  tx: AnyPgDatabase,
  rows: readonly StagedRow[],
  cache: WriteCache,
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
    from: sql`unnest(${keys}::text[], ${hashes}::text[], ${vectors}::vector[]) as v(key, hash, embedding)`,
  };
}

function textValues(rows: readonly StagedRow[]): StagedRows {
  const values = rows.map((row) => sql`(${row.key}, ${row.hash}, ${vectorText(row.embedding)}::vector)`);
  return { from: sql`(values ${sql.join(values, sql`, `)}) as v(key, hash, embedding)` };
}

/**
 * Gets the rows to the server the fastest way the driver allows, inside the caller's transaction, and
 * calls `write` once per group (one group, except on the text path above 20,000 rows):
 * node-postgres binds the arrays in binary (pgvector's receive function reads the floats, no parsing);
 * postgres.js and PGlite, which bind text only, binary-`COPY` them into a temporary table;
 * other drivers, or `binary: false`, send vectors as text in multi-row `VALUES`.
 */
export async function stageRows(
  tx: AnyPgDatabase,
  rows: readonly StagedRow[],
  options: { readonly binary: boolean; readonly cache: WriteCache },
  write: (rows: StagedRows) => Promise<void>,
): Promise<void> {
  const driver = driverOf(tx);
  if (options.binary && driver === "node-postgres")
    return write(await binaryParameters(tx, rows, options.cache));
  if (options.binary && (driver === "pglite" || driver === "postgres.js")) {
    return write(await copyToStaging(tx, rows));
  }
  for (let start = 0; start < rows.length; start += VALUES_PER_STATEMENT) {
    await write(textValues(rows.slice(start, start + VALUES_PER_STATEMENT)));
  }
}
