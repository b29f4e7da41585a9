import { type SQL, sql } from "drizzle-orm";
import type {
  BatchJob,
  BatchJobLine,
  BatchJobState,
  BatchJobStore,
} from "../../src/contracts/batch-job-store.js";
import type { EmbeddingTarget } from "../../src/contracts/embedding-store.js";
import { StoreError } from "../../src/errors/index.js";
import { qualifiedName, quoteIdentifier } from "./catalog.js";
import type { StoreConfig, TableName } from "./config.js";
import { guard } from "./database-error.js";
import { type AnyPgDatabase, rowsOf } from "./driver.js";
import { keyType } from "./key-type.js";
import type { Serial } from "./serial.js";

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

/** A PostgreSQL array literal of texts, bound as one parameter and cast with `::text[]`. */
function textArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",")}}`;
}

/**
 * The Drizzle adapter's {@link BatchJobStore}: the jobs table (`batchJobs.table`, by default
 * `relay_embedding_batches`), created by `prepare()` when `batchJobs.create` allows it. Every
 * statement is scoped to this store's target table, partition, version and the run's model.
 */
export class DrizzleBatchJobs<Id> implements BatchJobStore<Id> {
  /** `false` when a dry run found no table: there are no jobs then. */
  private exists = true;

  constructor(
    private readonly config: StoreConfig,
    private readonly db: AnyPgDatabase,
    private readonly serial: Pick<Serial, "run">,
  ) {}

  private get table(): SQL {
    return sql.raw(qualifiedName(this.config.batchJobs.table));
  }

  private get display(): string {
    return this.config.batchJobs.table.display;
  }

  /** Which jobs belong to this store and model. */
  private scope(target: EmbeddingTarget): string {
    const { config } = this;
    const partition = config.partition ? `#${config.partition.index}/${config.partition.count}` : "";
    const version = config.version === undefined ? "" : `@${config.version}`;
    return `${config.target.name.display}.${config.target.embedding.name}${partition}${version}|${target.provider}/${target.model}/${target.dimensions}`;
  }

  private keyText(key: unknown): string {
    return String(this.config.source.key.mapToDriverValue(key));
  }

  private run<T>(operation: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return guard(`${operation} (${this.display})`, () => this.serial.run(work), signal);
  }

  async prepare(
    _target: EmbeddingTarget,
    options: { readonly signal?: AbortSignal; readonly create?: boolean } = {},
  ): Promise<void> {
    const { table, create } = this.config.batchJobs;
    const found = await this.run(
      "Looking for the batch jobs table",
      async () => {
        const [row] = await rowsOf<{ oid: unknown }>(
          this.db,
          sql`select to_regclass(${qualifiedName(table)}) as oid`,
        );
        return row?.oid !== null && row?.oid !== undefined;
      },
      options.signal,
    );
    this.exists = found;
    if (found || options.create === false) return;
    if (!create) {
      throw new StoreError(
        `The batch jobs table ${table.display} does not exist: create it with the DDL in the README (section "Batch mode"), or let prepare() create it (batchJobs.create: true).`,
        { reason: "schema" },
      );
    }
    await this.run(
      "Creating the batch jobs table",
      async () => {
        for (const statement of batchJobsDdl(table)) await this.db.execute(sql.raw(statement));
      },
      options.signal,
    );
    this.exists = true;
  }

  async open(target: EmbeddingTarget): Promise<BatchJob[]> {
    if (!this.exists) return [];
    const rows = await this.run("Reading open batch jobs", () =>
      rowsOf<{
        job_id: string;
        state: string;
        file_id: string | null;
        batch_id: string | null;
        lines: number | string;
        rows: number | string | null;
        created_at: string | Date;
      }>(
        this.db,
        sql`select job_id, state, file_id, batch_id, count(*)::int as lines,
            coalesce(sum(case when done then 0 else cardinality(keys) end), 0)::int as rows,
            min(created_at) as created_at
          from ${this.table} where scope = ${this.scope(target)}
          group by job_id, state, file_id, batch_id order by min(created_at), job_id`,
      ),
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
    const wanted = textArray([...byText.keys()]);
    const rows = await this.run("Reading rows in batches in flight", () =>
      rowsOf<{ key: string }>(
        this.db,
        sql`select distinct k as key from ${this.table}, unnest(keys) as k
          where scope = ${this.scope(target)} and not done and keys && ${wanted}::text[]
            and k = any(${wanted}::text[])`,
      ),
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
    await this.run("Recording a batch job", () =>
      this.db.execute(
        sql`insert into ${this.table} (job_id, scope, custom_id, keys, hashes, positions)
          select ${job.id}, ${this.scope(target)}, x.custom_id, x.keys, x.hashes, x.positions
          from jsonb_to_recordset(${JSON.stringify(lines)}::jsonb)
            as x(custom_id text, keys text[], hashes text[], positions integer[])`,
      ),
    );
  }

  async update(
    jobId: string,
    changes: { readonly state: BatchJobState; readonly fileId?: string; readonly batchId?: string },
  ): Promise<void> {
    await this.run("Recording a batch job's progress", () =>
      this.db.execute(
        sql`update ${this.table} set state = ${changes.state},
            file_id = coalesce(${changes.fileId ?? null}::text, file_id),
            batch_id = coalesce(${changes.batchId ?? null}::text, batch_id)
          where job_id = ${jobId}`,
      ),
    );
  }

  async lines(jobId: string): Promise<BatchJobLine<Id>[]> {
    const key = this.config.source.key;
    // Keys come back cast to the key column's type and mapped as Drizzle maps that column, exactly
    // as the scan yielded them.
    const rows = await this.run("Reading a batch job's lines", () =>
      rowsOf<{
        custom_id: string;
        done: boolean | string;
        key: unknown;
        hash: string | null;
        position: number | null;
      }>(
        this.db,
        sql`select l.custom_id, l.done, u.k::${keyType(key)} as key, u.h as hash, u.p as position
          from ${this.table} l
          left join lateral unnest(l.keys, l.hashes, l.positions) as u(k, h, p) on not l.done
          where l.job_id = ${jobId} order by l.custom_id`,
      ),
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
    const rows = await this.run("Marking batch lines done", () =>
      rowsOf<{ custom_id: string }>(
        this.db,
        sql`update ${this.table} set done = true
          where job_id = ${jobId} and custom_id = any(${textArray(customIds)}::text[]) and not done
          returning custom_id`,
      ),
    );
    return rows.map((row) => row.custom_id);
  }

  async remove(jobId: string): Promise<void> {
    await this.run("Removing a collected batch job", () =>
      this.db.execute(sql`delete from ${this.table} where job_id = ${jobId}`),
    );
  }
}
