import { InvalidOptionError, StoreError } from "../errors/index.js";
import { qualifiedName, type TableName, tableExists } from "./catalog.js";
import type { PgSession } from "./session.js";

/**
 * The embedding model whose vectors answer searches, for a target that keeps vectors of several models
 * side by side: what `cutover()` switches.
 */
export interface ActiveModel {
  /** Model id, as stored beside each vector. */
  readonly model: string;
  /** The embedding version, when the target tracks versions. */
  readonly version?: string;
  /** The model's vector length (for packed bits, in bytes), when known. */
  readonly dimensions?: number;
  /** When it became active (`undefined` when fixed in code). */
  readonly switchedAt?: Date;
}

/**
 * The DDL of the table of active models (the README quotes it): one row per target (`schema.table.column`
 * of the vectors), replaced by each cutover.
 */
export function activeModelsDdl(table: TableName): string {
  return `create table if not exists ${qualifiedName(table)} (
  target      text        primary key,
  model       text        not null,
  version     text,
  dimensions  integer,
  switched_at timestamptz not null default now()
)`;
}

interface ActiveRow extends Record<string, unknown> {
  readonly model: string;
  readonly version: string | null;
  readonly dimensions: number | string | null;
  readonly switched_at: Date | string;
}

/** The statement reading `target`'s row (a parameter, `$1`). */
function selectRow(table: TableName): string {
  return `select model, version, dimensions, switched_at from ${qualifiedName(table)} where target = $1`;
}

function fromRow(row: ActiveRow): ActiveModel {
  return {
    model: row.model,
    ...(row.version === null ? {} : { version: row.version }),
    ...(row.dimensions === null ? {} : { dimensions: Number(row.dimensions) }),
    switchedAt: row.switched_at instanceof Date ? row.switched_at : new Date(row.switched_at),
  };
}

/**
 * The active model of `target` (a name such as `public.skill_embeddings.embedding`), read from the
 * table; `undefined` when none was ever switched to (or the table does not exist yet). `seen`: the
 * caller's memory that the table exists, which saves the catalog lookup on later calls.
 */
export async function readActiveModel(
  session: PgSession,
  table: TableName,
  target: string,
  seen: { exists?: boolean } = {},
): Promise<ActiveModel | undefined> {
  // Once the table was seen, a search reads its row in one statement (no catalog lookup first).
  if (!seen.exists && !(await tableExists(session, table))) return undefined;
  seen.exists = true;
  const [row] = await session.query<ActiveRow>(selectRow(table), [target]);
  return row ? fromRow(row) : undefined;
}

/**
 * Creates the table when it is missing and `create` allows it (otherwise a `StoreError` `schema`
 * naming the DDL's place in the README), then locks `target`'s row for the rest of the transaction
 * `session` is in (creating it empty-handed is not possible: a row is made only by a switch), so that
 * concurrent cutovers of one target run one after the other. Returns the current active model.
 */
export async function lockActiveModel(
  session: PgSession,
  table: TableName,
  target: string,
  create: boolean,
): Promise<ActiveModel | undefined> {
  if (!(await tableExists(session, table))) {
    if (!create) {
      throw new StoreError(
        `The table of active models ${table.display} does not exist: create it with the DDL in the README (section "Changing models"), or let cutover() create it (active.create: true).`,
        { reason: "schema" },
      );
    }
    await session.query(activeModelsDdl(table));
  }
  // A transaction-level advisory lock: the target's row may not exist yet, so FOR UPDATE alone would
  // not make two first cutovers wait for each other.
  await session.query("select pg_advisory_xact_lock(hashtextextended($1, 0))", [
    `relay.embeddings.active:${target}`,
  ]);
  const [row] = await session.query<ActiveRow>(`${selectRow(table)} for update`, [target]);
  return row ? fromRow(row) : undefined;
}

/** Makes `next` the active model of `target` (in the transaction that locked it); returns it. */
export async function writeActiveModel(
  session: PgSession,
  table: TableName,
  target: string,
  next: Omit<ActiveModel, "switchedAt">,
): Promise<ActiveModel> {
  const [row] = await session.query<ActiveRow>(
    `insert into ${qualifiedName(table)} as a (target, model, version, dimensions, switched_at)
     values ($1, $2, $3, $4, now())
     on conflict (target) do update set model = excluded.model, version = excluded.version,
       dimensions = excluded.dimensions, switched_at = excluded.switched_at
     returning model, version, dimensions, switched_at`,
    [target, next.model, next.version ?? null, next.dimensions ?? null],
  );
  return fromRow(row!);
}

/**
 * A string as an SQL literal: for values that must appear in a statement's text, such as the model of
 * a partial index's predicate (which the planner matches only against a constant, never a parameter).
 */
export function quoteLiteral(value: string, option: string): string {
  if (value.includes("\0")) throw new InvalidOptionError(option, "a string without NUL characters");
  const quoted = `'${value.replaceAll("'", "''")}'`;
  // E'' reads backslashes the same way whatever standard_conforming_strings says.
  return value.includes("\\") ? `E${quoted.replaceAll("\\", "\\\\")}` : quoted;
}
