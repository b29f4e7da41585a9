import type { PendingItem, ScanOptions } from "../../src/contracts/embedding-store.js";
import { InvalidOptionError } from "../../src/errors/index.js";
import { guard } from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";
import type { AnyPgDatabase } from "./driver.js";
import { concurrent, type Serial } from "./serial.js";
import { checkExactKey, isCurrent, nextCursor, selectPage, textOf } from "./source-rows.js";

const MODES = new Set(["missing", "stale", "all"]);

/**
 * Pending rows, a keyset page at a time (`WHERE key > last ORDER BY key LIMIT pageSize`): memory stays
 * one page and rows written meanwhile never shift the pages. The cursor is the last key's text from
 * the database, so keys whose JavaScript value is inexact still page exactly; such keys are refused
 * (`checkExactKey`) before they are yielded, since `write()` could not find their rows again. `"missing"` filters in SQL; `"stale"`
 * must read every row, since the text (hence its hash) is built in JavaScript. Pages that hold no
 * pending row are not yielded, so yielded pages may be shorter than `pageSize`.
 */
export async function* scanRows<Id>(
  config: StoreConfig,
  db: AnyPgDatabase,
  options: ScanOptions,
  serial: Pick<Serial, "run"> = concurrent,
): AsyncGenerator<PendingItem<Id>[]> {
  const { reembed, pageSize, model, signal } = options;
  if (!MODES.has(reembed)) throw new InvalidOptionError("reembed", '"missing", "stale" or "all"');
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw new InvalidOptionError("pageSize", "a positive integer");
  }
  let after: string | undefined;
  for (;;) {
    signal?.throwIfAborted();
    const rows = await guard(
      `Reading ${config.source.name.display}`,
      () =>
        serial.run(() =>
          selectPage(config, db, { after, limit: pageSize, onlyMissing: reembed === "missing" }),
        ),
      signal,
    );
    const items: PendingItem<Id>[] = [];
    for (const state of rows) {
      checkExactKey(config, state);
      const { text, hash } = textOf(config, state.key, state.row);
      if (reembed === "stale" && isCurrent(config, state, hash, model)) continue;
      items.push({ id: state.key as Id, text, hash });
    }
    if (items.length > 0) yield items;
    if (rows.length < pageSize) return;
    after = nextCursor(config, rows, after);
  }
}
