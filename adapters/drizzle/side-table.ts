import { InvalidOptionError } from "../../src/errors/index.js";
import {
  abortable,
  guard,
  type PgRow,
  type PgSession,
  type TableName,
  tableExists,
  tableName,
} from "../../src/postgres/index.js";
import type { Serial } from "./serial.js";

/*
 * The store's side tables (`batchJobs`, `refusals`): named by the same options, queried the same way.
 */

/** A side table's options, checked (`option`: how the user wrote it, for errors). */
export function resolveSideTable(
  options: { readonly table?: unknown; readonly schema?: unknown; readonly create?: unknown } | undefined,
  option: string,
  defaultTable: string,
): { readonly table: TableName; readonly create: boolean } {
  const { table = defaultTable, schema, create = true } = options ?? {};
  if (typeof table !== "string" || table === "")
    throw new InvalidOptionError(`${option}.table`, "a table name");
  if (schema !== undefined && (typeof schema !== "string" || schema === "")) {
    throw new InvalidOptionError(`${option}.schema`, "a schema name");
  }
  if (typeof create !== "boolean") throw new InvalidOptionError(`${option}.create`, "a boolean");
  return { table: tableName(table, schema as string | undefined), create };
}

/** Whether the side table exists, asked like its other statements. */
export function sideTableExists(
  on: { readonly session: PgSession; readonly serial: Pick<Serial, "run">; readonly table: TableName },
  operation: string,
  signal?: AbortSignal,
): Promise<boolean> {
  return guard(
    `${operation} (${on.table.display})`,
    () => on.serial.run(() => abortable(tableExists(on.session, on.table), signal)),
    signal,
  );
}

/** One statement on a side table, its failure mapped by the kit, one at a time where the store needs it. */
export function querySideTable<Row extends PgRow>(
  on: { readonly session: PgSession; readonly serial: Pick<Serial, "run">; readonly table: TableName },
  operation: string,
  text: string,
  params: readonly unknown[],
  signal?: AbortSignal,
): Promise<Row[]> {
  return guard(
    `${operation} (${on.table.display})`,
    () => on.serial.run(() => abortable(on.session.query<Row>(text, params), signal)),
    signal,
  );
}
