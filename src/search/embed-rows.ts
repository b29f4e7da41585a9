import { backfill } from "../backfill/backfill.js";
import type { BackfillOptions } from "../backfill/options.js";
import type { BackfillReport } from "../backfill/report.js";
import { InvalidOptionError } from "../errors/invalid-option-error.js";
import { checkRowIds } from "./row-ids.js";

/**
 * Options of {@link embedRows}: `backfill()`'s, plus the rows' keys. Not in batch mode, and not
 * `reembed: "missing"` (an edited row has a vector, a stale one).
 */
export interface EmbedRowsOptions<Id = unknown>
  extends Omit<
    BackfillOptions<Id>,
    "mode" | "wait" | "pollIntervalMs" | "maxPollIntervalMs" | "maxInputsPerBatch" | "batchRounds"
  > {
  /**
   * Keys of the rows to embed now: at least one, at most 1,000 (`SEARCH_DEFAULTS.maxIds`; embed more
   * with `backfill()`). Keys that name no row (after the store's filter) are refused before anything
   * is embedded: `StoreError` (`unknown_rows`) with `rowIds`.
   */
  ids: readonly Id[];
}

/**
 * Embeds the given rows now, with every guarantee of `backfill()` (the same pipeline: the answer
 * validated, retries, compare-and-set writes, typed errors): for an application that wants a row it
 * just created or edited to be searchable at once. Call it after the row's transaction commits; the
 * scheduled `backfill()` stays the safety net for a call that failed or was never made.
 *
 * It takes no run lock, so it works while a backfill of the same table runs, in this process or
 * another: every write locks its source rows and writes a vector only if the row's text still has the
 * hash the vector was made from, so whichever of the two writes a row last, it writes a vector of the
 * row's current text; a row edited meanwhile is skipped (`changed_during_run`) and stays pending.
 * Rows already current (same text, model and version) are not sent again (`reembed: "stale"`); pass
 * `reembed: "all"` to force it. Use the provider of the backfill: vectors of another model make the
 * rows stale for it.
 *
 * Needs a store with `withKeys()` (`drizzleStore` and `memoryStore` have it). Throws `InvalidOptionError` (`ids`) for an
 * empty list or more than 1,000 keys, `StoreError` (`unknown_rows`, `rowIds`) for keys that name no
 * row, and otherwise rejects as `backfill()` does.
 *
 * @example
 * ```ts
 * const [skill] = await db.insert(skills).values(input).returning({ id: skills.id });
 * const report = await embedRows({ provider, store, ids: [skill.id] });
 * if (report.skippedRows.length > 0) console.warn("the nightly backfill will embed", report.skippedRows);
 * ```
 */
export async function embedRows<Id = unknown>(options: EmbedRowsOptions<Id>): Promise<BackfillReport<Id>> {
  if (typeof options !== "object" || options === null) throw new InvalidOptionError("options", "an object");
  const { ids, store, ...rest } = options;
  checkRowIds(ids, "; embed more rows with backfill()");
  if (typeof store?.withKeys !== "function") {
    throw new InvalidOptionError("store", "a store with `withKeys()` (drizzleStore and memoryStore have it)");
  }
  if ((options as { mode?: unknown }).mode === "batch") {
    throw new InvalidOptionError("mode", '"realtime": embedRows() embeds now');
  }
  if (rest.reembed === "missing") {
    throw new InvalidOptionError("reembed", '"stale" or "all" (an edited row has a stale vector, not none)');
  }
  return backfill({
    ...rest,
    reembed: rest.reembed ?? "stale",
    store: store.withKeys(ids),
    mode: "realtime",
  });
}
