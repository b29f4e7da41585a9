import { sql } from "drizzle-orm";
import type { StoreConfig } from "./config.js";
import { guard } from "./database-error.js";
import { type AnyPgDatabase, rowsOf } from "./driver.js";

/**
 * Deletes the embeddings whose source row no longer exists (separate-table layout; in the same-row
 * layout a vector goes with its row, so there is nothing to prune). Rows merely excluded by
 * `source.filter` keep theirs. Returns how many were deleted.
 */
export async function prune(config: StoreConfig, db: AnyPgDatabase): Promise<number> {
  if (config.layout === "same-row") return 0;
  const { source, target } = config;
  const [row] = await guard(`Pruning ${target.name.display}`, () =>
    rowsOf<{ deleted: number | string }>(
      db,
      sql`with deleted as (
        delete from ${target.table}
        where not exists (select 1 from ${source.table} where ${source.key} = ${target.key})
        returning 1
      ) select count(*)::int as deleted from deleted`,
    ),
  );
  return Number(row?.deleted ?? 0);
}
