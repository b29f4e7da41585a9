import { sql } from "drizzle-orm";
import type { TableName } from "./config.js";
import { type AnyPgDatabase, rowsOf } from "./driver.js";

/** What the catalog says about one column. */
export interface ColumnInfo {
  readonly name: string;
  /** `pg_type.typname`: `vector`, `text`, `int4`… */
  readonly type: string;
  /** `atttypmod`: a `vector(n)` column's `n`, -1 when the column has no fixed size. */
  readonly typmod: number;
}

/** `"name"`, with inner quotes doubled: an identifier PostgreSQL reads back exactly. */
export function quoteIdentifier(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/** `"schema"."name"`: for `to_regclass()` and for statements that cannot take Drizzle SQL (COPY). */
export function qualifiedName(table: TableName): string {
  const name = quoteIdentifier(table.name);
  return table.schema === undefined ? name : `${quoteIdentifier(table.schema)}.${name}`;
}

const regclassText = qualifiedName;

/** Installed version of the `vector` extension, and whether the server could install it. */
export async function vectorExtension(
  db: AnyPgDatabase,
): Promise<{ installed: string | undefined; available: boolean }> {
  const [row] = await rowsOf<{ installed: string | null; available: boolean | string | null }>(
    db,
    sql`select (select extversion from pg_extension where extname = 'vector') as installed,
      exists (select 1 from pg_available_extensions where name = 'vector') as available`,
  );
  return {
    installed: row?.installed ?? undefined,
    available: row?.available === true || row?.available === "t",
  };
}

/** The table's columns, or `undefined` when the table does not exist. */
export async function tableColumns(db: AnyPgDatabase, table: TableName): Promise<ColumnInfo[] | undefined> {
  const rows = await rowsOf<{ name: string | null; type: string | null; typmod: number | string | null }>(
    db,
    sql`select a.attname as name, t.typname as type, a.atttypmod as typmod
      from (select to_regclass(${regclassText(table)}) as oid) c
      left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      left join pg_type t on t.oid = a.atttypid`,
  );
  if (rows.length === 0 || rows[0]?.name === null) return undefined;
  return rows.map((row) => ({ name: String(row.name), type: String(row.type), typmod: Number(row.typmod) }));
}

/** Whether a unique, non-partial index covers exactly `column` (what `ON CONFLICT (column)` needs). */
export async function hasUniqueIndex(db: AnyPgDatabase, table: TableName, column: string): Promise<boolean> {
  const [row] = await rowsOf<{ unique: boolean | string }>(
    db,
    sql`select exists (
      select 1 from pg_index i
      join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
      where i.indrelid = to_regclass(${regclassText(table)})
        and i.indisunique and i.indnkeyatts = 1 and i.indpred is null and a.attname = ${column}
    ) as unique`,
  );
  return row?.unique === true || row?.unique === "t";
}

/** Oid of the `vector` type, which binary array parameters must name. */
export async function vectorTypeOid(db: AnyPgDatabase): Promise<number> {
  const [row] = await rowsOf<{ oid: number | string | null }>(
    db,
    sql`select to_regtype('vector')::oid as oid`,
  );
  return Number(row?.oid ?? 0);
}
