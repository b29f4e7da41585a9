import { sql } from "drizzle-orm";
import { StoreError } from "../../src/errors/index.js";
import { guard } from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";
import { type AnyPgDatabase, rowsOf } from "./driver.js";

/**
 * Deletes the embeddings whose source row no longer exists (separate-table layout). Rows merely
 * excluded by `source.filter` keep theirs. Returns how many were deleted. In the same-row layout a
 * vector is deleted with its row, so there is never anything to prune: a `StoreError`
 * (`unsupported`) says so rather than a 0 that would read as "checked, nothing found".
 */
export async function prune(config: StoreConfig, db: AnyPgDatabase): Promise<number> {
  if (config.layout === "same-row") {
    throw new StoreError(
      `prune() does not apply to the same-row layout: the vectors of ${config.source.name.display} live on its rows and are deleted with them, so there is never an orphan to delete. Call it only on stores whose target is a separate table.`,
      { reason: "unsupported" },
    );
  }
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
