import type { Coverage } from "../../src/contracts/embedding-store.js";
import { abortable, guard } from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";
import type { AnyPgDatabase } from "./driver.js";
import { isCurrent, nextCursor, selectPage, textOf } from "./source-rows.js";

const PAGE = 1_000;

/**
 * Counts the store's rows (after `filter`, `partition` and key range) by state for `model`.
 * Staleness by text needs each row's text hashed in JavaScript, so this reads the source a page at a
 * time, like a `"stale"` scan. An abort rejects at once with `signal.reason`: between pages, and during a page's
 * read (whose result is then dropped).
 */
export async function countCoverage(
  config: StoreConfig,
  db: AnyPgDatabase,
  model: string,
  signal?: AbortSignal,
): Promise<Coverage> {
  let total = 0;
  let embedded = 0;
  let missing = 0;
  let after: string | undefined;
  for (;;) {
    signal?.throwIfAborted();
    const rows = await guard(
      `Counting coverage of ${config.source.name.display}`,
      () => abortable(selectPage(config, db, { after, limit: PAGE, onlyMissing: false }), signal),
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
