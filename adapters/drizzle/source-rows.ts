import { and, asc, eq, gt, isNull, type SQL, sql } from "drizzle-orm";
import { StoreError } from "../../src/errors/index.js";
import { hashText } from "../../src/hash.js";
import type { StoreConfig } from "./config.js";
import type { AnyPgDatabase } from "./driver.js";
import { keyIn } from "./key-type.js";

/** A source row with what the target holds for it. */
export interface SourceRowState {
  readonly key: unknown;
  readonly row: Record<string, unknown>;
  readonly embedded: boolean;
  readonly hash: string | null;
  readonly model: string | null;
  readonly version: string | null;
}

/** `abs(hashtext(key::text)) % count = index`: the rows of this store's partition. */
export function partitionCondition(config: StoreConfig): SQL | undefined {
  const { partition, source } = config;
  if (!partition) return undefined;
  // ::bigint before abs(): abs(-2147483648::int4) overflows.
  return sql`mod(abs(hashtext(${source.key}::text)::bigint), ${partition.count}::bigint) = ${partition.index}::bigint`;
}

/**
 * One keyset page of source rows after `after` (ordered by key), joined to their target state.
 * `onlyMissing` filters in SQL the rows without a vector.
 */
export async function selectPage(
  config: StoreConfig,
  db: AnyPgDatabase,
  page: { readonly after: unknown; readonly limit: number; readonly onlyMissing: boolean },
): Promise<SourceRowState[]> {
  const { source, target } = config;
  const fields = {
    key: source.key,
    row: source.columns,
    embedded: sql<number>`(${target.embedding} is not null)::int`.mapWith(Number),
    hash: target.hash,
    model: target.model,
    version: target.version ?? sql<null>`null`,
  };
  let query = db.select(fields).from(source.table).$dynamic();
  if (config.layout === "separate") query = query.leftJoin(target.table, eq(target.key, source.key));
  const rows = await query
    .where(
      and(
        page.after === undefined ? undefined : gt(source.key, page.after),
        source.filter,
        partitionCondition(config),
        page.onlyMissing ? isNull(target.embedding) : undefined,
      ),
    )
    .orderBy(asc(source.key))
    .limit(page.limit);
  return rows.map((row: any) => ({
    key: row.key,
    row: row.row,
    embedded: row.embedded === 1,
    hash: row.hash ?? null,
    model: row.model ?? null,
    version: row.version ?? null,
  }));
}

/** A source row locked for a write, and whether the target already holds a row for it. */
export interface LockedRow {
  readonly key: unknown;
  readonly row: Record<string, unknown>;
  /** Separate-table layout: the target has a row for this key (an upsert updates it). */
  readonly stored: boolean;
}

/**
 * The source rows with these keys (in text form), locked until the transaction ends so their text
 * cannot change before the vectors are written (`FOR SHARE`; `FOR NO KEY UPDATE` when the write
 * updates them).
 */
export async function lockRows(
  config: StoreConfig,
  tx: AnyPgDatabase,
  keys: readonly string[],
): Promise<LockedRow[]> {
  const { source, target } = config;
  const separate = config.layout === "separate";
  // A join, not a correlated subquery: Drizzle writes select-list columns of a single-table query
  // without their table, which a subquery on the target would resolve to its own columns.
  let query = tx
    .select({
      key: source.key,
      row: source.columns,
      stored: (separate ? sql<number>`(${target.key} is not null)::int` : sql<number>`1`).mapWith(Number),
    })
    .from(source.table)
    .$dynamic();
  if (separate) query = query.leftJoin(target.table, eq(target.key, source.key));
  const rows = await query
    .where(and(keyIn(source.key, keys), source.filter))
    .orderBy(asc(source.key))
    // OF: the target is on the nullable side of the join, which cannot be locked (nor needs to be).
    .for(config.layout === "separate" ? "share" : "no key update", { of: source.table });
  return rows.map((found) => ({ key: found.key, row: found.row, stored: found.stored === 1 }));
}

/** How a key prints in messages. */
export function formatKey(key: unknown): string {
  return typeof key === "string" ? JSON.stringify(key) : String(key);
}

/** The row's text and its hash; a throwing or non-string `text()` becomes a `StoreError` naming the row. */
export function textOf(
  config: StoreConfig,
  key: unknown,
  row: Record<string, unknown>,
): { text: string; hash: string } {
  const where = `${config.source.name.display} row ${formatKey(key)}`;
  let text: unknown;
  try {
    text = config.source.text(row);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new StoreError(`source.text threw for ${where}: ${detail}`, { reason: "row", cause: error });
  }
  if (typeof text !== "string") {
    throw new StoreError(`source.text returned ${typeof text} for ${where}; expected a string`, {
      reason: "row",
    });
  }
  return { text, hash: hashText(text) };
}

/** Whether the row's vector is current for this text hash, model and version. */
export function isCurrent(config: StoreConfig, state: SourceRowState, hash: string, model: string): boolean {
  return (
    state.embedded &&
    state.hash === hash &&
    state.model === model &&
    (config.target.version === undefined || state.version === config.version)
  );
}
