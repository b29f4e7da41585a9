import type { PgColumn } from "drizzle-orm/pg-core";
import { type CopyField, copyFile } from "./binary.js";
import { qualifiedName, quoteIdentifier, tableColumns } from "./catalog.js";
import type { StoreConfig } from "./config.js";
import { canCopy, copyIn } from "./copy-in.js";
import { sqlState } from "./database-error.js";
import type { AnyPgDatabase } from "./driver.js";
import type { StagedRow, WriteCache } from "./stage-rows.js";

/** How to COPY rows straight into the target table, worked out once per store. */
export interface TargetCopy {
  /** `copy "table" ("key", "embedding", "model", "hash"[, "version"])`. */
  readonly statement: string;
  /** The key, from its text form to the binary form of the key column's type. */
  readonly encodeKey: (key: string) => CopyField;
}

function fixed(size: number, write: (buffer: Buffer, key: string) => void) {
  return (key: string) => {
    const buffer = Buffer.allocUnsafe(size);
    write(buffer, key);
    return buffer;
  };
}

/** Binary forms of the key types COPY can take here; other key types go through the upsert. */
const KEY_ENCODERS: Record<string, (key: string) => CopyField> = {
  int2: fixed(2, (buffer, key) => buffer.writeInt16BE(Number(key))),
  int4: fixed(4, (buffer, key) => buffer.writeInt32BE(Number(key))),
  int8: fixed(8, (buffer, key) => buffer.writeBigInt64BE(BigInt(key))),
  uuid: (key) => Buffer.from(key.replaceAll("-", ""), "hex"),
  text: (key) => key,
  varchar: (key) => key,
};

/** feature_not_supported (COPY FROM under row-level security), insufficient_privilege. */
const COPY_REFUSED = new Set(["0A000", "42501"]);

/** Column types whose binary form is plain UTF-8, as the model, hash and version are sent. */
const TEXT_TYPES = new Set(["text", "varchar"]);

async function planTargetCopy(config: StoreConfig, tx: AnyPgDatabase): Promise<TargetCopy | null> {
  const { target } = config;
  const columns = await tableColumns(tx, target.name);
  const typeOf = (column: PgColumn) => columns?.find((info) => info.name === column.name)?.type;
  const encodeKey = KEY_ENCODERS[typeOf(target.key) ?? ""];
  const texts = [target.model, target.hash, ...(target.version ? [target.version] : [])];
  if (
    !encodeKey ||
    typeOf(target.embedding) !== "vector" ||
    !texts.every((c) => TEXT_TYPES.has(typeOf(c) ?? ""))
  ) {
    return null;
  }
  const names = [target.key, target.embedding, ...texts].map((column) => quoteIdentifier(column.name));
  return { statement: `copy ${qualifiedName(target.name)} (${names.join(", ")})`, encodeKey };
}

/**
 * Inserts rows that have no target row yet with a binary `COPY` straight into the target table:
 * about twice as fast as `INSERT … SELECT … ON CONFLICT` (COPY inserts in bulk). Runs in a savepoint;
 * returns `false`, having written nothing, when the caller must upsert the rows instead: separate
 * layout off, driver without COPY, key or text columns of other types, or the COPY failed (another
 * writer inserted one of the rows meanwhile, a value was refused…; when COPY itself is refused, by
 * row-level security or a missing privilege, the store stops trying).
 */
export async function copyNewRows(
  config: StoreConfig,
  tx: AnyPgDatabase,
  rows: readonly StagedRow[],
  model: string,
  cache: WriteCache,
): Promise<boolean> {
  if (!config.binaryWrites || config.layout !== "separate" || !canCopy(tx) || cache.targetCopy === null) {
    return false;
  }
  cache.targetCopy ??= await planTargetCopy(config, tx);
  const plan = cache.targetCopy;
  if (!plan) return false;
  const version = config.target.version ? [config.version ?? null] : [];
  const file = copyFile(
    rows.map((row) => [plan.encodeKey(row.key), row.embedding, model, row.hash, ...version]),
  );
  try {
    await tx.transaction((savepoint) => copyIn(savepoint, plan.statement, file));
    return true;
  } catch (error) {
    if (COPY_REFUSED.has(sqlState(error) ?? "")) cache.targetCopy = null;
    return false;
  }
}
