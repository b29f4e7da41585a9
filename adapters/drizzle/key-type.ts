import { type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";

const SERIALS: Record<string, string> = { serial: "integer", bigserial: "bigint", smallserial: "smallint" };

/**
 * The SQL type keys sent as text are cast back to (`serial` is `integer`). It comes from the Drizzle
 * column definition, never from data.
 */
export function keyType(column: PgColumn): SQL {
  return sql.raw(keyTypeName(column));
}

/** {@link keyType} as statement text, for SQL run on a kit session. */
export function keyTypeName(column: PgColumn): string {
  const type = column.getSQLType();
  return SERIALS[type] ?? type;
}
