import { and, sql } from "drizzle-orm";
import type { KeyBound, KeyBoundariesOptions } from "../../src/contracts/embedding-store.js";
import { InvalidOptionError } from "../../src/errors/index.js";
import { abortable, guard } from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";
import { type AnyPgDatabase, rowsOf } from "./driver.js";
import { partitionCondition, rangeCondition } from "./source-rows.js";

/**
 * The key (as `key::text`) of every `every`-th source row in key order, after `filter`, except the
 * last row's (the range after the last boundary is never empty). One query, one ordered walk over the
 * key's index (index-only when the table has no `filter` and is vacuumed): only the boundaries leave
 * the database, never the rows. An abort rejects at once with `signal.reason` (the query's result is
 * then dropped).
 */
export async function keyBoundaries(
  config: StoreConfig,
  db: AnyPgDatabase,
  options: KeyBoundariesOptions,
): Promise<KeyBound[]> {
  const { every, signal } = options;
  if (!Number.isSafeInteger(every) || every < 1) throw new InvalidOptionError("every", "a positive integer");
  signal?.throwIfAborted();
  const { source } = config;
  const where = and(source.filter, partitionCondition(config), rangeCondition(config)) ?? sql`true`;
  const rows = await guard(
    `Reading the keys of ${config.source.name.display}`,
    () =>
      abortable(
        rowsOf<{ k: string }>(
          db,
          sql`select k from (
            select ${source.key}::text as k, row_number() over w as n, lead(true) over w as more
            from ${source.table} where ${where}
            window w as (order by ${source.key})
          ) relay_keys where n % ${every}::bigint = 0 and more order by n`,
        ),
        signal,
      ),
    signal,
  );
  return rows.map((row) => [row.k]);
}
