import { and, asc, eq, gt, type SQL, sql } from "drizzle-orm";
import type { ReembedMode } from "../../src/contracts/embedding-store.js";
import { StoreError } from "../../src/errors/index.js";
import {
  abortable,
  cancelOnAbort,
  databaseError,
  type PgSession,
  sqlState,
} from "../../src/postgres/index.js";
import type { StoreConfig, TextRecipe } from "./config.js";
import { type AnyPgDatabase, inTransaction, rowsOf, sessionOf } from "./driver.js";
import { keyType } from "./key-type.js";
import { formatKey, partitionCondition, rangeCondition } from "./source-rows.js";

/*
 * The SQL text recipe (`source.text` given as a Drizzle `sql` expression): PostgreSQL builds each
 * row's text and its hash, so staleness is a predicate of the scan's own query and only pending rows
 * leave the database. The hash is the one `hashText()` computes in JavaScript (SHA-256 of the UTF-8
 * text, in hex), so a JavaScript recipe and its SQL twin agree on every stored hash.
 */

type SqlRecipe = Extract<TextRecipe, { kind: "sql" }>;

/** The recipe when it is SQL, else `undefined`. */
export function sqlRecipe(config: StoreConfig): SqlRecipe | undefined {
  return config.source.text.kind === "sql" ? config.source.text : undefined;
}

/** The row's text: the expression, a NULL being the empty text (skipped as `empty_input`). */
export function textExpression(recipe: SqlRecipe): SQL {
  return sql`coalesce((${recipe.expression}), '')`;
}

/** Hex SHA-256 of the row's text in UTF-8: what `hashText()` gives for the same text. */
export function hashExpression(recipe: SqlRecipe): SQL {
  return sql`encode(sha256(convert_to(${textExpression(recipe)}, 'UTF8')), 'hex')`;
}

/**
 * Whether the target holds a vector for the row. In the separate-table layout with a `NOT NULL`
 * embedding column, by the target's key (the join found a row): the vector itself is never read,
 * so the planner can hash-join narrow target rows instead of merging wide ones.
 */
export function storedCondition(config: StoreConfig): SQL {
  const { target } = config;
  return config.layout === "separate" && target.embedding.notNull
    ? sql`${target.key} is not null`
    : sql`${target.embedding} is not null`;
}

/** Whether the target holds a vector of `model` (and the store's version) for the row, text aside. */
function storedFor(config: StoreConfig, model: string): SQL {
  return sql`${storedCondition(config)} and ${modelCondition(config, model)}`;
}

/** Whether the row's vector is current: made from this text (`hash`), by `model`, at the version. */
export function currentCondition(config: StoreConfig, model: string, hash: SQL): SQL {
  return sql`(${storedFor(config, model)} and ${config.target.hash} = ${hash})`;
}

/**
 * The rows `reembed` makes pending. With `hash` (the SQL recipe's hash), exactly; without it (a
 * JavaScript recipe), the rows pending whatever their text: missing, or of another model or version.
 */
export function pendingCondition(
  config: StoreConfig,
  reembed: ReembedMode,
  model: string,
  hash: SQL | undefined,
): SQL | undefined {
  if (reembed === "all") return undefined;
  if (reembed === "missing") return sql`not (${storedCondition(config)})`;
  const current = hash ? currentCondition(config, model, hash) : sql`(${storedFor(config, model)})`;
  return sql`not coalesce(${current}, false)`;
}

/**
 * The source table joined to the target (separate-table layout), for selects over both. `after` (a
 * keyset cursor) bounds the target's side of the join too: without it, a merge join walks the
 * target's key index from its first key on every page, and a scan of n rows reads O(n²) index entries.
 */
export function fromSourceAndTarget<Query extends { leftJoin: (...args: any[]) => Query }>(
  config: StoreConfig,
  query: Query,
  model: string,
  after?: string,
): Query {
  if (config.layout !== "separate") return query;
  return query.leftJoin(config.target.table, targetJoin(config, model, after));
}

/**
 * The join condition of the target to the source, bounded by the cursor `after` when there is one.
 * A `perModel` target joins only its rows of `model` at the store's version: each source row meets at
 * most one target row, the vector staleness and writes are about.
 */
export function targetJoin(config: StoreConfig, model: string, after: string | undefined): SQL {
  const { source, target } = config;
  return and(
    eq(target.key, source.key),
    target.perModel ? modelCondition(config, model) : undefined,
    after === undefined ? undefined : gt(target.key, sql`${after}::${keyType(source.key)}`),
  )!;
}

/** `model = $model [and version = $version]`: the target rows of one model at the store's version. */
export function modelCondition(config: StoreConfig, model: string): SQL {
  const { target, version } = config;
  return sql`${target.model} = ${model}${target.version ? sql` and ${target.version} = ${version}` : sql``}`;
}

/** The store's rows: `filter`, partition and key range. */
export function storeRows(config: StoreConfig): SQL | undefined {
  return and(config.source.filter, partitionCondition(config), rangeCondition(config));
}

/**
 * Runs a long read (a whole-table aggregate, a scan page over every row) so that an abort stops it:
 * the promise rejects at once with `signal.reason`, and on a server the statement is cancelled
 * (`pg_cancel_backend()` sent on `root`), so no backend keeps reading for nobody. Without a signal, or
 * on PGlite, it is a plain read.
 */
export function cancellableRead<T>(
  db: AnyPgDatabase,
  root: PgSession | undefined,
  signal: AbortSignal | undefined,
  read: (db: AnyPgDatabase) => Promise<T>,
): Promise<T> {
  if (!signal || !root?.capabilities.sharedServer) return abortable(read(db), signal);
  return abortable(
    inTransaction(db, async (tx) => {
      const stop = await cancelOnAbort(sessionOf(tx, true), root, signal);
      try {
        return await read(tx);
      } finally {
        stop();
      }
    }),
    signal,
  );
}

/** The server's message of a database error, without the operation `databaseError()` prefixes. */
function serverMessage(error: unknown): string {
  // A read already turned into a StoreError keeps the driver's error as its cause.
  const driver = StoreError.isInstance(error) && error.cause !== undefined ? error.cause : error;
  return (databaseError("-", driver) as Error).message.replace(/^- failed: /, "");
}

const TEXT_TYPES = new Set(["text", "character varying"]);

/**
 * `prepare()`'s check of a SQL recipe, before any provider call and without reading a row: the
 * expression's type, from `pg_typeof` of a subquery over the source table alone (a scalar subquery
 * has its column's type even when it returns no row). A column of another table (or of the target)
 * is unknown there. Throws `StoreError` (`schema`) naming the expression.
 */
export async function checkSqlText(config: StoreConfig, db: AnyPgDatabase): Promise<void> {
  const recipe = sqlRecipe(config);
  if (!recipe) return;
  const { source } = config;
  const where = `source.text (SQL \`${recipe.display}\`) over ${source.name.display}`;
  let type: string | undefined;
  try {
    const [row] = await rowsOf<{ type: string }>(
      db,
      sql`select pg_typeof((select ${recipe.expression} from ${source.table} limit 0))::text as type`,
    );
    type = row?.type;
  } catch (error) {
    const detail = serverMessage(error);
    const other =
      sqlState(error) === "42P01" ? " It may use only the columns of the source table (no other table)." : "";
    throw new StoreError(`${where} cannot be evaluated: ${detail}.${other}`, {
      reason: "schema",
      cause: error,
    });
  }
  if (type === undefined || !TEXT_TYPES.has(type)) {
    throw new StoreError(
      `${where} is of type ${type ?? "unknown"}; it must give text: cast it (\`…::text\`) or build a string`,
      { reason: "schema" },
    );
  }
}

/** SQLSTATE classes a row's value cannot cause: connection, resources, cancellation, syntax, state. */
const NOT_A_ROW = /^(08|25|40|42|53|54|55|57|58|XX)/;

/**
 * After a read that evaluates the SQL recipe failed with `error`, finds the row that makes the
 * expression fail: walks the store's rows after `after` in key order, a thousand keys at a time (keys
 * only), evaluating the expression for each set and halving a failing set down to its row. Returns a
 * `StoreError` (`reason: "row"`) naming the row, or `undefined` when no row fails on its own (the
 * error was not a row's, or the row changed meanwhile): the caller reports `error` as it is.
 */
export async function rowFailure(
  config: StoreConfig,
  db: AnyPgDatabase,
  error: unknown,
  after: string | undefined,
  signal: AbortSignal | undefined,
): Promise<StoreError | undefined> {
  const recipe = sqlRecipe(config);
  const state = sqlState(error);
  if (!recipe || state === undefined || NOT_A_ROW.test(state) || signal?.aborted) return undefined;
  const { source } = config;
  const type = keyType(source.key);
  const fails = async (keys: readonly string[]): Promise<boolean> => {
    const wanted = sql`(select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb) as k) as relay_wanted`;
    try {
      await db
        .select({ n: sql`count(${hashExpression(recipe)})` })
        .from(source.table)
        .innerJoin(wanted, sql`${source.key} = relay_wanted.k::${type}`);
      return false;
    } catch {
      return true;
    }
  };
  try {
    let cursor = after;
    for (;;) {
      signal?.throwIfAborted();
      const page: { key: unknown; cursor: string }[] = await db
        .select({ key: source.key, cursor: sql<string>`${source.key}::text` })
        .from(source.table)
        .where(
          and(cursor === undefined ? undefined : gt(source.key, sql`${cursor}::${type}`), storeRows(config)),
        )
        .orderBy(asc(source.key))
        .limit(1000);
      if (page.length === 0) return undefined;
      let rows = page;
      if (await fails(rows.map((r) => r.cursor))) {
        while (rows.length > 1) {
          const half = rows.slice(0, Math.ceil(rows.length / 2));
          rows = (await fails(half.map((r) => r.cursor))) ? half : rows.slice(half.length);
        }
        const [row] = rows;
        if (!row || !(await fails([row.cursor]))) return undefined;
        const detail = serverMessage(error);
        return new StoreError(
          `source.text (SQL \`${recipe.display}\`) failed for ${source.name.display} row ${formatKey(row.key)}: ${detail}`,
          { reason: "row", rowId: row.key, cause: error },
        );
      }
      if (page.length < 1000) return undefined;
      cursor = page[page.length - 1]!.cursor;
    }
  } catch {
    return undefined;
  }
}
