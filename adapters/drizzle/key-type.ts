import { type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";

const SERIALS: Record<string, string> = { serial: "integer", bigserial: "bigint", smallserial: "smallint" };

/**
 * The SQL type keys sent as text are cast back to (`serial` is `integer`). It comes from the Drizzle
 * column definition, never from data.
 */
export function keyType(column: PgColumn): SQL {
  const type = column.getSQLType();
  return sql.raw(SERIALS[type] ?? type);
}

/**
 * `column = any(…)` over keys sent as one JSON array of their text forms: one bound parameter
 * whatever the batch size, and no per-key parameter for the driver and Drizzle to build.
 */
export function keyIn(column: PgColumn, keys: readonly string[]): SQL {
  return sql`${column} = any(array(select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb))::${keyType(column)}[])`;
}
