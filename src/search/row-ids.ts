import { SEARCH_DEFAULTS } from "../defaults.js";
import { InvalidOptionError } from "../errors/index.js";

/**
 * Throws `InvalidOptionError` (`ids`) unless `ids` is a non-empty array of at most
 * `SEARCH_DEFAULTS.maxIds` keys: the check of `embedRows()` and of every store's `withKeys()`.
 * `tooMany` ends the message for a list that is too long.
 */
export function checkRowIds(ids: unknown, tooMany = ""): asserts ids is readonly unknown[] {
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new InvalidOptionError("ids", "a non-empty array of the keys of the rows to embed");
  }
  if (ids.length > SEARCH_DEFAULTS.maxIds) {
    throw new InvalidOptionError(
      "ids",
      `at most ${SEARCH_DEFAULTS.maxIds} keys (got ${ids.length})${tooMany}`,
    );
  }
}
