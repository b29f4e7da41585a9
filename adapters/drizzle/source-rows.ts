import { and, asc, gt, isNull, lte, type SQL, sql } from "drizzle-orm";
import { StoreError } from "../../src/errors/index.js";
import { hashText } from "../../src/hash.js";
import type { StoreConfig } from "./config.js";
import type { AnyPgDatabase } from "./driver.js";
import { keyType } from "./key-type.js";
import { hashExpression, sqlRecipe, targetJoin } from "./sql-text.js";

/** A source row with what the target holds for it. */
export interface SourceRowState {
  readonly key: unknown;
  /** The key as PostgreSQL prints it (`key::text`): exact, whatever the key's JavaScript value loses. */
  readonly cursor: string;
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

/** `after < key <= through`: the rows of this store's key range (`withKeyRange`). */
export function rangeCondition(config: StoreConfig): SQL | undefined {
  const { range, source } = config;
  if (!range) return undefined;
  const type = keyType(source.key);
  return and(
    range.after === undefined ? undefined : gt(source.key, sql`${range.after[0]}::${type}`),
    range.through === undefined ? undefined : lte(source.key, sql`${range.through[0]}::${type}`),
  );
}

/** `schema.table.column` of the source key, for messages. */
function keyName(config: StoreConfig): string {
  return `${config.source.name.display}.${config.source.key.name}`;
}

/**
 * One keyset page of source rows after the cursor `after` (a key in text form, ordered by key),
 * joined to their target state. `onlyMissing` filters in SQL the rows without a vector.
 *
 * The cursor is the key's text from the database cast back to the column's type, never its JavaScript
 * value: a `timestamp` read as a `Date` drops microseconds and a `bigint` read as a number rounds past
 * 2^53, and either would make the next page repeat or skip rows.
 */
export async function selectPage(
  config: StoreConfig,
  db: AnyPgDatabase,
  page: {
    readonly after: string | undefined;
    readonly limit: number;
    readonly onlyMissing: boolean;
    /** The model whose vectors a `perModel` target joins. */
    readonly model: string;
  },
): Promise<SourceRowState[]> {
  const { source, target } = config;
  const fields = {
    key: source.key,
    cursor: sql<string>`${source.key}::text`,
    row: source.columns,
    embedded: sql<number>`(${target.embedding} is not null)::int`.mapWith(Number),
    hash: target.hash,
    model: target.model,
    version: target.version ?? sql<null>`null`,
  };
  let query = db.select(fields).from(source.table).$dynamic();
  // The cursor bounds the target's side too, so a merge join does not walk its index from the start.
  if (config.layout === "separate")
    query = query.leftJoin(target.table, targetJoin(config, page.model, page.after));
  const rows = await query
    .where(
      and(
        page.after === undefined ? undefined : gt(source.key, sql`${page.after}::${keyType(source.key)}`),
        source.filter,
        partitionCondition(config),
        rangeCondition(config),
        page.onlyMissing ? isNull(target.embedding) : undefined,
      ),
    )
    .orderBy(asc(source.key))
    .limit(page.limit);
  return rows.map((row: any) => ({
    key: row.key,
    cursor: row.cursor,
    row: row.row,
    embedded: row.embedded === 1,
    hash: row.hash ?? null,
    model: row.model ?? null,
    version: row.version ?? null,
  }));
}

/**
 * The cursor after a full page: its last key's text. A page that ends where it started would be read
 * again forever, so it throws instead.
 */
export function nextCursor(
  config: StoreConfig,
  rows: readonly { readonly cursor: string }[],
  after: string | undefined,
): string {
  const last = rows[rows.length - 1]!.cursor;
  if (last === after) {
    throw new StoreError(
      `Paging ${config.source.name.display} by ${keyName(config)} made no progress past key ${JSON.stringify(last)}; the key column must be unique and ordered (a primary key)`,
      { reason: "schema" },
    );
  }
  return last;
}

/**
 * Throws unless the key's JavaScript value names exactly the row it was read from: `write()` finds the
 * row again by that value. A `bigint` column in `mode: "number"` past 2^53 rounds; a `timestamp` as a
 * `Date` keeps milliseconds only. Called before the row is yielded, so no vector is made for it.
 */
export function checkExactKey(
  config: StoreConfig,
  state: { readonly key: unknown; readonly cursor: string },
): void {
  const { key, cursor } = state;
  const name = config.source.key.name;
  let read: string | undefined;
  let fix = "";
  if (typeof key === "number" && /^-?\d+$/.test(cursor) && String(key) !== cursor) {
    read = String(key);
    fix = `bigint("${name}", { mode: "bigint" })`;
  } else if (key instanceof Date && (Number.isNaN(key.getTime()) || /\.\d{4}/.test(cursor))) {
    read = Number.isNaN(key.getTime()) ? "an invalid Date" : key.toISOString();
    const zone = config.source.key.getSQLType().includes("with time zone") ? "withTimezone: true, " : "";
    fix = `timestamp("${name}", { ${zone}mode: "string" })`;
  }
  if (read !== undefined) {
    throw new StoreError(
      `Key ${JSON.stringify(cursor)} of ${keyName(config)} reads in JavaScript as ${read}, which is another key: its rows would be skipped, repeated or written to the wrong row. Declare the column \`${fix}\` so keys keep their exact value.`,
      { reason: "schema" },
    );
  }
}

/** A source row locked for a write, and whether the target already holds a row for it. */
export interface LockedRow {
  /** The key's text form it was asked for: the row is the one whose key equals it in SQL. */
  readonly wanted: string;
  /** The key as PostgreSQL prints it. */
  readonly cursor: string;
  readonly key: unknown;
  /** The row's columns (JavaScript recipe); `{}` with a SQL recipe. */
  readonly row: Record<string, unknown>;
  /** The hash of the row's text as PostgreSQL computes it (SQL recipe); `undefined` otherwise. */
  readonly hash: string | undefined;
  /** Separate-table layout: the target has a row for this key (an upsert updates it). */
  readonly stored: boolean;
}

/**
 * The source rows with these keys (in text form), locked until the transaction ends so their text
 * cannot change before the vectors are written (`FOR SHARE`; `FOR NO KEY UPDATE` when the write
 * updates them). Each row comes back with the text it was asked by (`wanted`), matched in SQL by
 * `key = wanted::type`: never by the key's JavaScript value, which may not round-trip.
 */
export async function lockRows(
  config: StoreConfig,
  tx: AnyPgDatabase,
  keys: readonly string[],
  model: string,
): Promise<LockedRow[]> {
  const { source, target } = config;
  const separate = config.layout === "separate";
  const recipe = sqlRecipe(config);
  // Keys as one JSON array of their text forms: one bound parameter whatever the batch size.
  const wanted = sql`(select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb) as k) as relay_wanted`;
  let query = tx
    .select({
      wanted: sql<string>`relay_wanted.k`,
      cursor: sql<string>`${source.key}::text`,
      key: source.key,
      // With a SQL recipe only the text's hash leaves the database, never the row.
      ...(recipe ? { hash: sql<string>`${hashExpression(recipe)}` } : { row: source.columns }),
      stored: (separate ? sql<number>`(${target.key} is not null)::int` : sql<number>`1`).mapWith(Number),
    })
    .from(source.table)
    .innerJoin(wanted, sql`${source.key} = relay_wanted.k::${keyType(source.key)}`)
    .$dynamic();
  if (separate) query = query.leftJoin(target.table, targetJoin(config, model, undefined));
  const rows = await query
    .where(source.filter)
    .orderBy(asc(source.key))
    // OF: the target is on the nullable side of the join, which cannot be locked (nor needs to be).
    .for(separate ? "share" : "no key update", { of: source.table });
  return rows.map((found: any) => ({
    wanted: found.wanted,
    cursor: found.cursor,
    key: found.key,
    row: found.row ?? {},
    hash: found.hash,
    stored: found.stored === 1,
  }));
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
  const recipe = config.source.text;
  if (recipe.kind !== "js") throw new Error("textOf(): a SQL recipe's text is built in PostgreSQL");
  let text: unknown;
  try {
    text = recipe.build(row);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new StoreError(`source.text threw for ${where}: ${detail}`, {
      reason: "row",
      rowId: key,
      cause: error,
    });
  }
  if (typeof text !== "string") {
    throw new StoreError(`source.text returned ${typeof text} for ${where}; expected a string`, {
      reason: "row",
      rowId: key,
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
