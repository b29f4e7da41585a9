import type {
  BatchJob,
  BatchJobLine,
  BatchJobState,
  BatchJobStore,
} from "../../src/contracts/batch-job-store.js";
import type { EmbeddingTarget } from "../../src/contracts/embedding-store.js";
import { StoreError } from "../../src/errors/index.js";
import {
  type PgRow,
  type PgSession,
  qualifiedName,
  quoteIdentifier,
  type TableName,
} from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";
import { keyTypeName } from "./key-type.js";
import type { Serial } from "./serial.js";
import { querySideTable, sideTableExists } from "./side-table.js";

/** The default name of the jobs table. */
export const DEFAULT_BATCH_JOBS_TABLE = "relay_embedding_batches";

/**
 * The jobs table's DDL (the README quotes it): one row per request line of a submitted batch, with
 * the keys and text hashes of the rows it carries. Rows are deleted once their batch is collected.
 */
export function batchJobsDdl(table: TableName): string[] {
  const name = qualifiedName(table);
  const index = (suffix: string) => quoteIdentifier(`${table.name}_${suffix}`);
  return [
    `create table if not exists ${name} (
  job_id     text        not null,
  scope      text        not null,
  custom_id  text        not null,
  state      text        not null default 'created',
  file_id    text,
  batch_id   text,
  keys       text[]      not null,
  hashes     text[]      not null,
  positions  integer[]   not null,
  done       boolean     not null default false,
  created_at timestamptz not null default now(),
  primary key (job_id, custom_id)
)`,
    `create index if not exists ${index("scope_idx")} on ${name} (scope) where not done`,
    `create index if not exists ${index("keys_idx")} on ${name} using gin (keys) where not done`,
  ];
}

/**
 * A PostgreSQL array literal of texts, bound as one text parameter and cast with `::text[]`: the
 * same on every driver (the kit's binary `textArray` needs `capabilities.binaryParameters`).
 */
function textArrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",")}}`;
}

/**
 * The Drizzle adapter's {@link BatchJobStore}: the jobs table (`batchJobs.table`, by default
 * `relay_embedding_batches`), created by `prepare()` when `batchJobs.create` allows it. Every
 * statement runs on the store's kit session (the transaction's, in a bound store) and is scoped to
 * this store's target table, partition or key range, version and the run's model.
 */
export class DrizzleBatchJobs<Id> implements BatchJobStore<Id> {
  /** `false` when a dry run found no table: there are no jobs then. */
  private exists = true;
  private readonly table: string;

  constructor(
    private readonly config: StoreConfig,
    private readonly session: PgSession,
    private readonly serial: Pick<Serial, "run">,
  ) {
    this.table = qualifiedName(config.batchJobs.table);
  }

  /** Which jobs belong to this store and model. */
  private scope(target: EmbeddingTarget): string {
    const { config } = this;
    const partition = config.partition ? `#${config.partition.index}/${config.partition.count}` : "";
    const range = config.range
      ? `~${JSON.stringify([config.range.after ?? null, config.range.through ?? null])}`
      : "";
    const version = config.version === undefined ? "" : `@${config.version}`;
    return `${config.target.name.display}.${config.target.embedding.name}${partition}${range}${version}|${target.provider}/${target.model}/${target.dimensions}`;
  }

  private keyText(key: unknown): string {
    return String(this.config.source.key.mapToDriverValue(key));
  }

  /** One statement on the session, its failure mapped by the kit, one at a time where the store needs it. */
  private query<Row extends PgRow>(
    operation: string,
    text: string,
    params: readonly unknown[],
    signal?: AbortSignal,
  ): Promise<Row[]> {
    const on = { session: this.session, serial: this.serial, table: this.config.batchJobs.table };
    return querySideTable<Row>(on, operation, text, params, signal);
  }

  async prepare(
    _target: EmbeddingTarget,
    options: { readonly signal?: AbortSignal; readonly create?: boolean } = {},
  ): Promise<void> {
    const { table, create } = this.config.batchJobs;
    const on = { session: this.session, serial: this.serial, table };
    const found = await sideTableExists(on, "Looking for the batch jobs table", options.signal);
    this.exists = found;
    if (found || options.create === false) return;
    if (!create) {
      throw new StoreError(
        `The batch jobs table ${table.display} does not exist: create it with the DDL in the README (section "Batch mode"), or let prepare() create it (batchJobs.create: true).`,
        { reason: "schema" },
      );
    }
    options.signal?.throwIfAborted();
    for (const statement of batchJobsDdl(table)) {
      await this.query("Creating the batch jobs table", statement, []);
    }
    this.exists = true;
  }

  async open(target: EmbeddingTarget): Promise<BatchJob[]> {
    if (!this.exists) return [];
    const rows = await this.query<{
      job_id: string;
      state: string;
      file_id: string | null;
      batch_id: string | null;
      lines: number | string;
      rows: number | string | null;
      created_at: string | Date;
    }>(
      "Reading open batch jobs",
      `select job_id, state, file_id, batch_id, count(*)::int as lines,
          coalesce(sum(case when done then 0 else cardinality(keys) end), 0)::int as rows,
          min(created_at) as created_at
        from ${this.table} where scope = $1
        group by job_id, state, file_id, batch_id order by min(created_at), job_id`,
      [this.scope(target)],
    );
    return rows.map((row) => ({
      id: row.job_id,
      state: row.state as BatchJobState,
      fileId: row.file_id ?? undefined,
      batchId: row.batch_id ?? undefined,
      lines: Number(row.lines),
      rows: Number(row.rows ?? 0),
      createdAt: new Date(row.created_at),
    }));
  }

  async pending(ids: readonly Id[], target: EmbeddingTarget): Promise<Id[]> {
    if (!this.exists || ids.length === 0) return [];
    const byText = new Map<string, Id>();
    for (const id of ids) byText.set(this.keyText(id), id);
    const rows = await this.query<{ key: string }>(
      "Reading rows in batches in flight",
      `select distinct k as key from ${this.table}, unnest(keys) as k
        where scope = $1 and not done and keys && $2::text[] and k = any($2::text[])`,
      [this.scope(target), textArrayLiteral([...byText.keys()])],
    );
    return rows.map((row) => byText.get(row.key)).filter((id): id is Id => id !== undefined);
  }

  async create(
    job: { readonly id: string; readonly lines: readonly BatchJobLine<Id>[] },
    target: EmbeddingTarget,
  ): Promise<void> {
    const lines = job.lines.map((line) => ({
      custom_id: line.customId,
      keys: line.items.map((item) => this.keyText(item.id)),
      hashes: line.items.map((item) => item.hash),
      positions: line.items.map((item) => item.position),
    }));
    // One statement for all lines, whatever their number: the job is recorded whole or not at all.
    await this.query(
      "Recording a batch job",
      `insert into ${this.table} (job_id, scope, custom_id, keys, hashes, positions)
        select $1, $2, x.custom_id, x.keys, x.hashes, x.positions
        from jsonb_to_recordset($3::jsonb)
          as x(custom_id text, keys text[], hashes text[], positions integer[])`,
      [job.id, this.scope(target), JSON.stringify(lines)],
    );
  }

  async update(
    jobId: string,
    changes: { readonly state: BatchJobState; readonly fileId?: string; readonly batchId?: string },
  ): Promise<void> {
    await this.query(
      "Recording a batch job's progress",
      `update ${this.table} set state = $2,
          file_id = coalesce($3::text, file_id), batch_id = coalesce($4::text, batch_id)
        where job_id = $1`,
      [jobId, changes.state, changes.fileId ?? null, changes.batchId ?? null],
    );
  }

  async lines(jobId: string): Promise<BatchJobLine<Id>[]> {
    const key = this.config.source.key;
    // Keys come back cast to the key column's type and mapped as Drizzle maps that column, exactly
    // as the scan yielded them.
    const rows = await this.query<{
      custom_id: string;
      done: boolean | string;
      key: unknown;
      hash: string | null;
      position: number | null;
    }>(
      "Reading a batch job's lines",
      `select l.custom_id, l.done, u.k::${keyTypeName(key)} as key, u.h as hash, u.p as position
        from ${this.table} l
        left join lateral unnest(l.keys, l.hashes, l.positions) as u(k, h, p) on not l.done
        where l.job_id = $1 order by l.custom_id`,
      [jobId],
    );
    const lines = new Map<
      string,
      { customId: string; done: boolean; items: BatchJobLine<Id>["items"][number][] }
    >();
    for (const row of rows) {
      let line = lines.get(row.custom_id);
      if (!line) {
        line = { customId: row.custom_id, done: row.done === true || row.done === "t", items: [] };
        lines.set(row.custom_id, line);
      }
      if (row.key === null || row.key === undefined || line.done) continue;
      line.items.push({
        id: key.mapFromDriverValue(row.key) as Id,
        hash: String(row.hash),
        position: Number(row.position),
      });
    }
    return [...lines.values()];
  }

  async finish(jobId: string, customIds: readonly string[]): Promise<string[]> {
    if (customIds.length === 0) return [];
    // `and not done` is evaluated again after a concurrent transaction's commit: of two processes
    // finishing the same line, only one gets it back.
    const rows = await this.query<{ custom_id: string }>(
      "Marking batch lines done",
      `update ${this.table} set done = true
        where job_id = $1 and custom_id = any($2::text[]) and not done
        returning custom_id`,
      [jobId, textArrayLiteral(customIds)],
    );
    return rows.map((row) => row.custom_id);
  }

  async remove(jobId: string): Promise<void> {
    await this.query("Removing a collected batch job", `delete from ${this.table} where job_id = $1`, [
      jobId,
    ]);
  }
}
