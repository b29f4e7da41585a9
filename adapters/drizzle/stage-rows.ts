import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { sql } from "drizzle-orm";
import { StoreError } from "../../src/errors/index.js";
import { copyFile, type StagedRow, textArray, vectorArray, vectorText } from "./binary.js";
import { vectorTypeOid } from "./catalog.js";
import { type AnyPgDatabase, clientOf, driverOf } from "./driver.js";
import type { StagedRows } from "./upsert.js";

/** What a store remembers between writes. */
export interface WriteCache {
  vectorOid?: number;
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

const COPY_COLUMNS = `${STAGING} (key, hash, embedding)`;

interface PgliteClient {
  query(query: string, params: unknown[], options: { blob: Blob }): Promise<unknown>;
}

interface PostgresJsClient {
  unsafe(query: string): { writable(): Promise<NodeJS.WritableStream> };
}

async function copyToStaging(tx: AnyPgDatabase, rows: readonly StagedRow[]): Promise<StagedRows> {
  await tx.execute(CREATE_STAGING);
  const file = copyFile(rows);
  if (driverOf(tx) === "pglite") {
    const client = clientOf(tx) as PgliteClient;
    await client.query(`copy ${COPY_COLUMNS} from '/dev/blob' with (format binary)`, [], {
      blob: new Blob([file as Uint8Array<ArrayBuffer>]),
    });
  } else {
    const client = clientOf(tx) as PostgresJsClient;
    const writable = await client.unsafe(`copy ${COPY_COLUMNS} from stdin with (format binary)`).writable();
    await pipeline(Readable.from([file]), writable);
  }
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
