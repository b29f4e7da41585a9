import type { PgSession } from "./session.js";

/** A table as the kit names it in catalog lookups, in statements and in messages. */
export interface TableName {
  /** Schema, when the table is qualified; otherwise the search path decides. */
  readonly schema: string | undefined;
  readonly name: string;
  /** `schema.name` or `name`, for messages. */
  readonly display: string;
}

/**
 * A {@link TableName}.
 * @example
 * ```ts
 * tableName("skill_embeddings"); // { schema: undefined, name: "skill_embeddings", display: "skill_embeddings" }
 * tableName("embeddings", "search"); // display "search.embeddings"
 * ```
 */
export function tableName(name: string, schema?: string): TableName {
  return { name, schema, display: schema ? `${schema}.${name}` : name };
}

/** What the catalog says about one column. */
export interface ColumnInfo {
  readonly name: string;
  /** `pg_type.typname`: `vector`, `text`, `int4`… */
  readonly type: string;
  /** `atttypmod`: a `vector(n)` column's `n`, -1 when the column has no fixed size. */
  readonly typmod: number;
  /** Whether the column is `NOT NULL`. */
  readonly notNull: boolean;
}

/** `"name"`, with inner quotes doubled: an identifier PostgreSQL reads back exactly. */
export function quoteIdentifier(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/** Whether `table` exists (`to_regclass`: no error when it does not). */
export async function tableExists(session: PgSession, table: TableName): Promise<boolean> {
  const [row] = await session.query<{ oid: unknown }>("select to_regclass($1)::text as oid", [
    qualifiedName(table),
  ]);
  return row?.oid !== null && row?.oid !== undefined;
}

/** `"schema"."name"`: for `to_regclass()` and for statements built as text (COPY, DDL). */
export function qualifiedName(table: TableName): string {
  const name = quoteIdentifier(table.name);
  return table.schema === undefined ? name : `${quoteIdentifier(table.schema)}.${name}`;
}

const truthy = (value: unknown) => value === true || value === "t";

/** Installed version of the `vector` extension, and whether the server could install it. */
export async function vectorExtension(
  session: PgSession,
): Promise<{ installed: string | undefined; available: boolean }> {
  const [row] = await session.query<{ installed: string | null; available: unknown }>(
    `select (select extversion from pg_extension where extname = 'vector') as installed,
      exists (select 1 from pg_available_extensions where name = 'vector') as available`,
  );
  return { installed: row?.installed ?? undefined, available: truthy(row?.available) };
}

/** The table's columns, or `undefined` when the table does not exist. */
export async function tableColumns(session: PgSession, table: TableName): Promise<ColumnInfo[] | undefined> {
  const rows = await session.query<{
    name: string | null;
    type: string | null;
    typmod: unknown;
    not_null: unknown;
  }>(
    `select a.attname as name, t.typname as type, a.atttypmod as typmod, a.attnotnull as not_null
      from (select to_regclass($1) as oid) c
      left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      left join pg_type t on t.oid = a.atttypid
      order by a.attnum`,
    [qualifiedName(table)],
  );
  if (rows.length === 0 || rows[0]?.name === null) return undefined;
  return rows.map((row) => ({
    name: String(row.name),
    type: String(row.type),
    typmod: Number(row.typmod),
    notNull: truthy(row.not_null),
  }));
}

/**
 * Whether a unique, non-partial index has exactly `columns` as its key columns, in any order: what
 * `ON CONFLICT (columns)` needs, and what makes keyset paging by them exact.
 */
export async function hasUniqueIndex(
  session: PgSession,
  table: TableName,
  columns: readonly string[],
): Promise<boolean> {
  // Columns as one JSON array: one bound parameter, and no driver-specific array encoding.
  const [row] = await session.query<{ unique: unknown }>(
    `select exists (
      select 1 from pg_index i
      where i.indrelid = to_regclass($1) and i.indisunique and i.indpred is null
        and i.indnkeyatts = jsonb_array_length($2::jsonb)
        and (select array_agg(a.attname::text order by a.attname::text)
               from pg_attribute a
              where a.attrelid = i.indrelid and a.attnum = any ((i.indkey::int2[])[0:i.indnkeyatts - 1]))
          = (select array_agg(c order by c) from jsonb_array_elements_text($2::jsonb) c)
    ) as unique`,
    [qualifiedName(table), JSON.stringify(columns)],
  );
  return truthy(row?.unique);
}

/**
 * The key columns of each unique, non-partial index of `table` that includes `column` among others
 * (a composite key such as `(tenant_id, id)`), each list in index order.
 */
export async function compositeUniqueKeys(
  session: PgSession,
  table: TableName,
  column: string,
): Promise<string[][]> {
  const rows = await session.query<{ columns: unknown }>(
    `select (select jsonb_agg(a.attname::text order by k.n)
               from unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) with ordinality k(attnum, n)
               join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum)::text as columns
       from pg_index i
      where i.indrelid = to_regclass($1) and i.indisunique and i.indpred is null and i.indnkeyatts > 1
        and exists (select 1 from pg_attribute a
                     where a.attrelid = i.indrelid and a.attname = $2
                       and a.attnum = any ((i.indkey::int2[])[0:i.indnkeyatts - 1]))`,
    [qualifiedName(table), column],
  );
  return rows.map((row) => JSON.parse(String(row.columns)) as string[]);
}

/**
 * Oid of the `vector` type, or of `type` (`halfvec`, `varbit`): binary array parameters name their
 * element type. 0 when the type does not exist (pgvector not installed).
 */
export async function vectorTypeOid(
  session: PgSession,
  type: "vector" | "halfvec" | "varbit" = "vector",
): Promise<number> {
  const [row] = await session.query<{ oid: unknown }>("select to_regtype($1)::oid as oid", [type]);
  return Number(row?.oid ?? 0);
}

/**
 * Whether a relation (table, index, sequence…) named `name` exists in the schema of `table` (where
 * `CREATE INDEX` puts an index on `table`).
 */
export async function relationExists(session: PgSession, table: TableName, name: string): Promise<boolean> {
  const [row] = await session.query<{ found: unknown }>(
    `select exists (
      select 1 from pg_class c
      where c.relname = $2
        and c.relnamespace = (select relnamespace from pg_class where oid = to_regclass($1))
    ) as found`,
    [qualifiedName(table), name],
  );
  return truthy(row?.found);
}
