import { and, asc, eq, gt, type SQL, sql } from "drizzle-orm";
import type { PendingItem, ScanOptions } from "../../src/contracts/embedding-store.js";
import { InvalidOptionError } from "../../src/errors/index.js";
import { guard, type PgSession } from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";
import type { AnyPgDatabase } from "./driver.js";
import { keyType } from "./key-type.js";
import type { DrizzleRefusals, RefusedLookup } from "./refusals.js";
import { concurrent, type Serial } from "./serial.js";
import { checkExactKey, isCurrent, nextCursor, selectPage, textOf } from "./source-rows.js";
import {
  cancellableRead,
  fromSourceAndTarget,
  hashExpression,
  pendingCondition,
  rowFailure,
  sqlRecipe,
  storeRows,
  textExpression,
} from "./sql-text.js";

const MODES = new Set(["missing", "stale", "all"]);

/** How a scan reads: one at a time on a single connection, and cancelled on the server through `root`. */
export interface ReadContext {
  readonly serial: Pick<Serial, "run">;
  /** The session aborted reads are cancelled through (the store's pool); none on PGlite. */
  readonly root?: PgSession;
}

/**
 * Pending rows, a keyset page at a time (`WHERE key > last ORDER BY key LIMIT pageSize`): memory stays
 * one page and rows written meanwhile never shift the pages. The cursor is the last key's text from
 * the database, so keys whose JavaScript value is inexact still page exactly; such keys are refused
 * (`checkExactKey`) before they are yielded, since `write()` could not find their rows again. Pages
 * that hold no pending row are not yielded, so yielded pages may be shorter than `pageSize`.
 *
 * With a SQL recipe, staleness is a predicate of each page's query: only pending rows (key, text,
 * hash) are read, and the first page's query also counts them all (`onCount`, exact). With a
 * JavaScript recipe, `"missing"` filters in SQL and `"stale"` reads every row, since the text (hence
 * its hash) is built in JavaScript; `onCount` then gets a count made without reading any text: exact
 * for `"missing"` and `"all"`, a lower bound for `"stale"` (rows whose text changed are found as the
 * scan reads them).
 */
export async function* scanRows<Id>(
  config: StoreConfig,
  db: AnyPgDatabase,
  options: ScanOptions,
  context: ReadContext = { serial: concurrent },
  refusals?: Pick<DrizzleRefusals, "lookup">,
): AsyncGenerator<PendingItem<Id>[]> {
  const { reembed, pageSize } = options;
  if (!MODES.has(reembed)) throw new InvalidOptionError("reembed", '"missing", "stale" or "all"');
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw new InvalidOptionError("pageSize", "a positive integer");
  }
  // Rows remembered as refused (too long) at their current text are yielded marked, text unread.
  const refused = await refusals?.lookup(options);
  if (sqlRecipe(config)) yield* scanInDatabase<Id>(config, db, options, context, refused);
  else yield* scanInJavaScript<Id>(config, db, options, context, refused);
}

async function* scanInJavaScript<Id>(
  config: StoreConfig,
  db: AnyPgDatabase,
  options: ScanOptions,
  context: ReadContext,
  refused: RefusedLookup | undefined,
): AsyncGenerator<PendingItem<Id>[]> {
  const { reembed, pageSize, model, signal, onCount } = options;
  const { serial, root } = context;
  if (onCount) {
    signal?.throwIfAborted();
    const rows = await guard(
      `Counting the rows to embed in ${config.source.name.display}`,
      () => serial.run(() => cancellableRead(db, root, signal, (d) => countWithoutText(config, d, options))),
      signal,
    );
    onCount({ rows, exact: reembed !== "stale" });
  }
  let after: string | undefined;
  let limit = firstPage(options);
  for (;;) {
    signal?.throwIfAborted();
    const rows = await guard(
      `Reading ${config.source.name.display}`,
      () =>
        serial.run(() => selectPage(config, db, { after, limit, onlyMissing: reembed === "missing", model })),
      signal,
    );
    let items: PendingItem<Id>[] = [];
    const cursors: string[] = [];
    for (const state of rows) {
      checkExactKey(config, state);
      const { text, hash } = textOf(config, state.key, state.row);
      if (reembed === "stale" && isCurrent(config, state, hash, model)) continue;
      items.push({ id: state.key as Id, text, hash });
      cursors.push(state.cursor);
    }
    if (refused) items = await refused.mark(items, cursors, signal);
    if (items.length > 0) yield items;
    if (rows.length < limit) return;
    limit = pageSize;
    after = nextCursor(config, rows, after);
  }
}

/** The rows `reembed` makes pending whatever their text (a JavaScript recipe): no text is read. */
async function countWithoutText(
  config: StoreConfig,
  db: AnyPgDatabase,
  options: ScanOptions,
): Promise<number> {
  const query = db
    .select({ rows: sql<number>`count(*)`.mapWith(Number) })
    .from(config.source.table)
    .$dynamic();
  const [row] = await fromSourceAndTarget(config, query, options.model).where(
    and(storeRows(config), pendingCondition(config, options.reembed, options.model, undefined)),
  );
  return row?.rows ?? 0;
}

interface PendingRow {
  readonly key: unknown;
  readonly cursor: string;
  readonly text: string;
  readonly hash: string;
  readonly pending: number | null;
  readonly refused: boolean;
}

async function* scanInDatabase<Id>(
  config: StoreConfig,
  db: AnyPgDatabase,
  options: ScanOptions,
  context: ReadContext,
  refused: RefusedLookup | undefined,
): AsyncGenerator<PendingItem<Id>[]> {
  const { pageSize, signal, onCount } = options;
  let after: string | undefined;
  let count = onCount !== undefined;
  let limit = firstPage(options);
  for (;;) {
    signal?.throwIfAborted();
    const page = { after, limit, count };
    const rows = await readRecipe(
      config,
      db,
      context,
      signal,
      after,
      `Reading the rows to embed in ${config.source.name.display}`,
      (d) => selectPending(config, d, options, page, refused),
    );
    if (count) onCount?.({ rows: rows[0]?.pending ?? 0, exact: true });
    count = false;
    const items: PendingItem<Id>[] = [];
    for (const row of rows) {
      checkExactKey(config, row);
      items.push({
        id: row.key as Id,
        text: row.text,
        hash: row.hash,
        ...(row.refused ? { refused: true } : {}),
      });
    }
    if (items.length > 0) yield items;
    if (rows.length < limit) return;
    limit = pageSize;
    after = nextCursor(config, rows, after);
  }
}

/** The first page's size: `firstPageSize` when it is a positive integer under `pageSize`. */
function firstPage({ pageSize, firstPageSize }: ScanOptions): number {
  const first = firstPageSize ?? pageSize;
  return Number.isSafeInteger(first) && first >= 1 ? Math.min(pageSize, first) : pageSize;
}

/**
 * A read that evaluates the SQL recipe, one at a time where the store must, cancelled on abort; a
 * failure the recipe caused for one row becomes a `StoreError` naming that row.
 */
export function readRecipe<T>(
  config: StoreConfig,
  db: AnyPgDatabase,
  context: ReadContext,
  signal: AbortSignal | undefined,
  after: string | undefined,
  operation: string,
  read: (db: AnyPgDatabase) => Promise<T>,
): Promise<T> {
  return context.serial.run(async () => {
    try {
      return await guard(operation, () => cancellableRead(db, context.root, signal, read), signal);
    } catch (error) {
      throw (await rowFailure(config, db, error, after, signal)) ?? error;
    }
  });
}

/**
 * One page of pending rows after `after`, by the SQL recipe: the keys are chosen in a subquery that
 * decides staleness (the text's hash against the target's), then only those rows' text is built.
 * `count`: the subquery also counts every pending row (`count(*) over ()`, keys only).
 */
async function selectPending(
  config: StoreConfig,
  db: AnyPgDatabase,
  options: ScanOptions,
  page: { readonly after: string | undefined; readonly limit: number; readonly count: boolean },
  refused: RefusedLookup | undefined,
): Promise<PendingRow[]> {
  const recipe = sqlRecipe(config)!;
  const { source } = config;
  const hash = hashExpression(recipe);
  const text = refused?.select(textExpression(recipe), hash) ?? { text: textExpression(recipe) };
  const keys = db
    .select({
      k: sql`${source.key}`.as("relay_k"),
      pending: (page.count ? sql`count(*) over ()` : sql`null::bigint`).as("relay_pending"),
    })
    .from(source.table)
    .$dynamic();
  const chosen = fromSourceAndTarget(config, keys, options.model, page.after)
    .where(
      and(
        page.after === undefined ? undefined : gt(source.key, sql`${page.after}::${keyType(source.key)}`),
        storeRows(config),
        pendingCondition(config, options.reembed, options.model, hash),
      ),
    )
    .orderBy(asc(source.key))
    .limit(page.limit)
    .as("relay_page");
  const rows = await db
    .select({
      key: source.key,
      cursor: sql<string>`${source.key}::text`,
      text: sql<string>`${text.text}`,
      hash: sql<string>`${hash}`,
      pending: sql<number | null>`${chosen.pending}`,
      ...("refused" in text ? { refused: text.refused } : {}),
    })
    .from(source.table)
    .innerJoin(chosen, eq(source.key, chosen.k as unknown as SQL))
    .orderBy(asc(source.key));
  return rows.map((row: any) => ({
    key: row.key,
    cursor: row.cursor,
    text: row.text,
    hash: row.hash,
    pending: row.pending === null || row.pending === undefined ? null : Number(row.pending),
    refused: row.refused === 1,
  }));
}
