import { type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import type { StagedRows } from "../../src/postgres/index.js";
import { conflictColumns } from "./check-schema.js";
import type { StoreConfig } from "./config.js";
import { toSql } from "./driver.js";
import { keyType } from "./key-type.js";

const name = (column: PgColumn) => sql.identifier(column.name);

/**
 * One statement writing every staged row (the kit's `stageRows()`): `INSERT … SELECT … ON CONFLICT
 * (key) DO UPDATE` into a separate table (on (key, model[, version]) with `perModel`) (a re-run overwrites, never duplicates), `UPDATE … FROM` for
 * the same-row layout.
 */
export function upsertStatement(config: StoreConfig, rows: StagedRows, model: string): SQL {
  const { target, source, version } = config;
  const assigned: [PgColumn, SQL][] = [
    [target.embedding, sql`v.embedding`],
    [target.model, sql`${model}::text`],
    [target.hash, sql`v.hash`],
  ];
  if (target.version) assigned.push([target.version, sql`${version}::text`]);
  const prefix = rows.with ? toSql(rows.with) : sql``;
  const from = toSql(rows.from);

  if (config.layout === "same-row") {
    const sets = assigned.map(([column, value]) => sql`${name(column)} = ${value}`);
    return sql`${prefix} update ${source.table} set ${sql.join(sets, sql`, `)}
      from ${from} where ${source.key} = v.key::${keyType(source.key)}`;
  }
  const columns = [name(target.key), ...assigned.map(([column]) => name(column))];
  const values = [sql`v.key::${keyType(target.key)}`, ...assigned.map(([, value]) => value)];
  const updates = assigned.map(([column]) => sql`${name(column)} = excluded.${name(column)}`);
  return sql`${prefix} insert into ${target.table} (${sql.join(columns, sql`, `)})
    select ${sql.join(values, sql`, `)} from ${from}
    on conflict (${sql.join(conflictColumns(config).map(name), sql`, `)}) do update set ${sql.join(updates, sql`, `)}`;
}
