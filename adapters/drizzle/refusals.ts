import { type SQL, sql } from "drizzle-orm";
import type {
  EmbeddingRecord,
  PendingItem,
  RefusedRow,
  RememberRefusedOptions,
  ScanOptions,
} from "../../src/contracts/embedding-store.js";
import { InvalidOptionError, StoreError } from "../../src/errors/index.js";
import { type PgRow, type PgSession, qualifiedName, type TableName } from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";
import { keyTypeName } from "./key-type.js";
import type { DrizzleRefusalsOptions } from "./options.js";
import type { Serial } from "./serial.js";
import { querySideTable, resolveSideTable, sideTableExists } from "./side-table.js";

/*
 * Rows the provider refused as too long, remembered so that runs stop sending them: one row per
 * target (table and embedding column), model, version and key, with the hash of the text refused.
 * A refusal holds only while the row's text has that hash, so an edited row is pending again with no
 * bookkeeping; a vector written for the row deletes it.
 */

/** The default name of the refusals table. */
export const DEFAULT_REFUSALS_TABLE = "relay_embedding_refusals";

/** The refusals table's DDL (the README quotes it). */
export function refusalsDdl(table: TableName): string[] {
  return [
    `create table if not exists ${qualifiedName(table)} (
  target     text        not null,
  model      text        not null,
  version    text        not null,
  key        text        not null,
  hash       text        not null,
  reason     text        not null,
  refused_at timestamptz not null default now(),
  primary key (target, model, version, key)
)`,
  ];
}

/** `refusals`, checked: where refused rows are remembered, or `undefined` (`refusals: false`). */
export function resolveRefusals(
  options: DrizzleRefusalsOptions | false | undefined,
): { readonly table: TableName; readonly create: boolean } | undefined {
  if (options === false) return undefined;
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new InvalidOptionError("refusals", "an object { table?, schema?, create? }, or false");
  }
  return resolveSideTable(options, "refusals", DEFAULT_REFUSALS_TABLE);
}

/** How a scan tells the remembered rows: a SQL predicate (SQL recipe) or a lookup (JavaScript recipe). */
export interface RefusedLookup {
  /** The SQL recipe's row text and a 0/1 `refused` flag: a remembered row's text is never read. */
  select(text: SQL, hash: SQL): { text: SQL<string>; refused: SQL<number> };
  /** The JavaScript recipe's page, with the rows remembered at their current hash marked (`cursors`: `key::text`). */
  mark<Id>(
    items: PendingItem<Id>[],
    cursors: readonly string[],
    signal?: AbortSignal,
  ): Promise<PendingItem<Id>[]>;
}

/**
 * What the stores of one `drizzleStore()` (its transactions and views) learned about the table: per
 * model, whether this target has refusals of it, as of the last scan or refusal. The table itself is
 * looked for every time (once per scan): a transaction that created it may have rolled back.
 */
interface Known {
  readonly models: Map<string, boolean>;
}

/**
 * The Drizzle adapter's memory of refused rows, in the refusals table (`refusals.table`, by default
 * `relay_embedding_refusals`), created by the first refusal when `refusals.create` allows it. Every
 * statement runs on the store's kit session (the transaction's, in a bound store). Partitions and key
 * ranges share one memory: a refusal is of the row, whichever run met it.
 */
export class DrizzleRefusals {
  private readonly known: Known;
  private readonly settings: { readonly table: TableName; readonly create: boolean } | undefined;

  constructor(
    private readonly config: StoreConfig,
    private readonly session: PgSession,
    private readonly serial: Pick<Serial, "run">,
    /** The store's own, shared by its transactions and views. */
    shared?: DrizzleRefusals,
  ) {
    this.known = shared?.known ?? { models: new Map() };
    this.settings = config.refusals;
  }

  private get table(): string {
    return qualifiedName(this.settings!.table);
  }

  /** The rows' scope: target table and embedding column, model, version. */
  private scope(model: string): [string, string, string] {
    const { target, version } = this.config;
    return [`${target.name.display}.${target.embedding.name}`, model, version ?? ""];
  }

  private query<Row extends PgRow>(
    operation: string,
    text: string,
    params: readonly unknown[],
    signal?: AbortSignal,
  ): Promise<Row[]> {
    const on = { session: this.session, serial: this.serial, table: this.settings!.table };
    return querySideTable<Row>(on, operation, text, params, signal);
  }

  private tableExists(signal?: AbortSignal): Promise<boolean> {
    const on = { session: this.session, serial: this.serial, table: this.settings!.table };
    return sideTableExists(on, "Looking for the refusals table", signal);
  }

  /**
   * How a scan for `options` tells the remembered rows: `undefined` when it need not (no refusal of
   * this model, `retryRefused`, or `refusals: false`), so the scan's queries stay as they are.
   */
  async lookup(options: ScanOptions): Promise<RefusedLookup | undefined> {
    if (!this.settings) return undefined;
    const { model, signal } = options;
    let any = false;
    if (await this.tableExists(signal)) {
      const [row] = await this.query<{ any: unknown }>(
        "Looking for refused rows",
        `select exists (select 1 from ${this.table} where target = $1 and model = $2 and version = $3) as any`,
        this.scope(model),
        signal,
      );
      any = row?.any === true || row?.any === "t";
    }
    // Known even when the run retries them: a vector written for one of them forgets it.
    this.known.models.set(model, any);
    if (!any || options.retryRefused) return undefined;
    const [target, , version] = this.scope(model);
    const table = sql.raw(this.table);
    const key = this.config.source.key;
    const remembered = (hash: SQL) =>
      sql`exists (select 1 from ${table} relay_r where relay_r.target = ${target} and relay_r.model = ${model} and relay_r.version = ${version} and relay_r.key = ${key}::text and relay_r.hash = ${hash})`;
    return {
      select: (text, hash) => ({
        text: sql<string>`case when ${remembered(hash)} then '' else ${text} end`,
        refused: sql<number>`(${remembered(hash)})::int`.mapWith(Number),
      }),
      mark: async (items, cursors, markSignal) => {
        if (items.length === 0) return items;
        const rows = await this.query<{ key: string; hash: string }>(
          "Looking for refused rows",
          `select key, hash from ${this.table}
            where target = $1 and model = $2 and version = $3 and key in (select jsonb_array_elements_text($4::jsonb))`,
          [...this.scope(model), JSON.stringify(cursors)],
          markSignal,
        );
        const refused = new Map(rows.map((row) => [row.key, row.hash]));
        return items.map((item, i) =>
          refused.get(cursors[i]!) === item.hash
            ? { id: item.id, text: "", hash: item.hash, refused: true }
            : item,
        );
      },
    };
  }

  /** Remembers rows refused as too long, creating the table first when it is missing and allowed. */
  async remember<Id>(rows: readonly RefusedRow<Id>[], options: RememberRefusedOptions): Promise<void> {
    if (!this.settings || rows.length === 0) return;
    const { signal } = options;
    if (!(await this.tableExists(signal))) {
      const { table, create } = this.settings;
      if (!create) {
        throw new StoreError(
          `The refusals table ${table.display} does not exist: create it with the DDL in the README (section "Rows refused as too long"), let the store create it (refusals.create: true), or turn remembering off (refusals: false).`,
          { reason: "schema" },
        );
      }
      signal?.throwIfAborted();
      for (const statement of refusalsDdl(table)) {
        await this.query("Creating the refusals table", statement, []);
      }
    }
    // One row per key (twins of one text are refused together): an upsert may touch a row once.
    const byKey = new Map<string, string>();
    for (const row of rows) byKey.set(this.keyText(row.id), row.hash);
    await this.query(
      "Remembering rows refused as too long",
      `insert into ${this.table} (target, model, version, key, hash, reason)
        select $1, $2, $3, (x.k::${keyTypeName(this.config.source.key)})::text, x.h, $4
        from jsonb_to_recordset($5::jsonb) as x(k text, h text)
        on conflict (target, model, version, key)
          do update set hash = excluded.hash, reason = excluded.reason, refused_at = now()`,
      [...this.scope(options.model), options.reason, JSON.stringify([...byKey].map(([k, h]) => ({ k, h })))],
      signal,
    );
    this.known.models.set(options.model, true);
  }

  /**
   * Forgets the refusals of rows just written (their vector is current now), when this target has
   * refusals of the model: the table keeps only rows still refused, or refused at an old text.
   */
  async forget<Id>(
    records: readonly EmbeddingRecord<Id>[],
    model: string,
    signal?: AbortSignal,
  ): Promise<void> {
    if (!this.settings || records.length === 0 || this.known.models.get(model) !== true) return;
    await this.query(
      "Forgetting refusals of rows written",
      `delete from ${this.table}
        where target = $1 and model = $2 and version = $3
          and key in (select (k::${keyTypeName(this.config.source.key)})::text from jsonb_array_elements_text($4::jsonb) as k)`,
      [...this.scope(model), JSON.stringify(records.map((record) => this.keyText(record.id)))],
      signal,
    );
  }

  /** The key as text, the way it is sent and cast back (`serial` 7 → "7", bigint 2n → "2"). */
  private keyText(key: unknown): string {
    return String(this.config.source.key.mapToDriverValue(key));
  }
}
