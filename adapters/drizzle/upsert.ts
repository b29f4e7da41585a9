import { type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import type { StoreConfig } from "./config.js";
import { keyType } from "./key-type.js";

/**
 * Rows to write, as SQL: `from` is a FROM item named `v` with columns `key` (text), `hash` (text) and
 * `embedding` (vector); `with` an optional CTE it needs.
 */
export interface StagedRows {
  readonly with?: SQL;
  readonly from: SQL;
}

const name = (column: PgColumn) => sql.identifier(column.name);

/**
 * One statement writing every staged row: `INSERT … SELECT … ON CONFLICT (key) DO UPDATE` into a
 * separate table (a re-run overwrites, never duplicates), `UPDATE … FROM` for the same-row layout.
 */
export function upsertStatement(config: StoreConfig, rows: StagedRows, model: string): SQL {
  const { target, source, version } = config;
  const assigned: [PgColumn, SQL][] = [
    [target.embedding, sql`v.embedding`],
    [target.model, sql`${model}::text`],
    [target.hash, sql`v.hash`],
  ];
  if (target.version) assigned.push([target.version, sql`${version}::text`]);
  const prefix = rows.with ?? sql``;

  if (config.layout === "same-row") {
    const sets = assigned.map(([column, value]) => sql`${name(column)} = ${value}`);
    return sql`${prefix} update ${source.table} set ${sql.join(sets, sql`, `)}
      from ${rows.from} where ${source.key} = v.key::${keyType(source.key)}`;
  }
  const columns = [name(target.key), ...assigned.map(([column]) => name(column))];
  const values = [sql`v.key::${keyType(target.key)}`, ...assigned.map(([, value]) => value)];
  const updates = assigned.map(([column]) => sql`${name(column)} = excluded.${name(column)}`);
  return sql`${prefix} insert into ${target.table} (${sql.join(columns, sql`, `)})
    select ${sql.join(values, sql`, `)} from ${rows.from}
    on conflict (${name(target.key)}) do update set ${sql.join(updates, sql`, `)}`;
}
