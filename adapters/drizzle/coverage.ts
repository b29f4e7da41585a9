import { sql } from "drizzle-orm";
import type { Coverage } from "../../src/contracts/embedding-store.js";
import { abortable, guard } from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";
import type { AnyPgDatabase } from "./driver.js";
import { type ReadContext, readRecipe } from "./scan.js";
import { isCurrent, nextCursor, selectPage, textOf } from "./source-rows.js";
import {
  currentCondition,
  fromSourceAndTarget,
  hashExpression,
  sqlRecipe,
  storedCondition,
  storeRows,
} from "./sql-text.js";

const PAGE = 1_000;

/**
 * Counts the store's rows (after `filter`, `partition` and key range) by state for `model`. With a
 * SQL recipe this is one aggregate query (the texts are hashed in PostgreSQL; none leaves it), which
 * an abort cancels on the server. With a JavaScript recipe, staleness by text needs each row's text
 * hashed in JavaScript, so this reads the source a page at a time, like a `"stale"` scan; an abort
 * rejects at once with `signal.reason`, between pages and during a page's read (whose result is then
 * dropped).
 */
export async function countCoverage(
  config: StoreConfig,
  db: AnyPgDatabase,
  model: string,
  signal: AbortSignal | undefined,
  context: ReadContext,
): Promise<Coverage> {
  signal?.throwIfAborted();
  const recipe = sqlRecipe(config);
  if (recipe) {
    const counts = await readRecipe(
      config,
      db,
      context,
      signal,
      undefined,
      `Counting coverage of ${config.source.name.display}`,
      (d) => {
        const query = d
          .select({
            total: sql<number>`count(*)`.mapWith(Number),
            stored: sql<number>`count(*) filter (where ${storedCondition(config)})`.mapWith(Number),
            current:
              sql<number>`count(*) filter (where ${currentCondition(config, model, hashExpression(recipe))})`.mapWith(
                Number,
              ),
          })
          .from(config.source.table)
          .$dynamic();
        return fromSourceAndTarget(config, query, model).where(storeRows(config));
      },
    );
    const { total = 0, stored = 0, current = 0 } = counts[0] ?? {};
    return { total, embedded: current, stale: stored - current, missing: total - stored };
  }
  return context.serial.run(() => countInJavaScript(config, db, model, signal));
}

async function countInJavaScript(
  config: StoreConfig,
  db: AnyPgDatabase,
  model: string,
  signal: AbortSignal | undefined,
): Promise<Coverage> {
  let total = 0;
  let embedded = 0;
  let missing = 0;
  let after: string | undefined;
  for (;;) {
    signal?.throwIfAborted();
    const rows = await guard(
      `Counting coverage of ${config.source.name.display}`,
      () => abortable(selectPage(config, db, { after, limit: PAGE, onlyMissing: false, model }), signal),
      signal,
    );
    for (const state of rows) {
      total++;
      if (!state.embedded) missing++;
      else if (isCurrent(config, state, textOf(config, state.key, state.row).hash, model)) embedded++;
    }
    signal?.throwIfAborted();
    if (rows.length < PAGE) break;
    after = nextCursor(config, rows, after);
  }
  return { total, embedded, stale: total - embedded - missing, missing };
}
