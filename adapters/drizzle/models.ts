import { sql } from "drizzle-orm";
import type { Coverage } from "../../src/contracts/embedding-store.js";
import { InvalidOptionError, StoreError } from "../../src/errors/index.js";
import {
  type ActiveModel,
  type CreateIndexOptions,
  guard,
  type IndexPart,
  lockActiveModel,
  type PgSession,
  quoteIdentifier,
  quoteLiteral,
  readActiveModel,
  writeActiveModel,
} from "../../src/postgres/index.js";
import type { ActiveConfig, StoreConfig } from "./config.js";
import { countCoverage } from "./coverage.js";
import { type AnyPgDatabase, inTransaction, rowsOf, sessionOf } from "./driver.js";
import type { ReadContext } from "./scan.js";
import { modelCondition } from "./sql-text.js";

/*
 * Several models side by side (`target.perModel`): which one answers searches (the active model, in
 * a table or fixed in code), the one-step cutover between them, and pruning a model's vectors.
 */

/** The name a target's active model is recorded under: `schema.table.column` of its vectors. */
export function targetId(config: StoreConfig): string {
  const { name, embedding } = config.target;
  return `${name.schema ?? "public"}.${name.name}.${embedding.name}`;
}

/** Where a `perModel` target's active model lives; a one-vector-per-row target has none (`StoreError`). */
function activeConfig(config: StoreConfig): ActiveConfig {
  if (config.active) return config.active;
  throw new StoreError(
    `${config.target.name.display} keeps one vector per row: it has no active model to switch (give the target \`perModel: true\` to keep several models side by side).`,
    { reason: "unsupported" },
  );
}

/** The active model of a `perModel` target: fixed in code, or read from the table (`undefined`: none yet). */
export async function activeModel(
  config: StoreConfig,
  session: PgSession,
  seen?: { exists?: boolean },
): Promise<ActiveModel | undefined> {
  const active = activeConfig(config);
  if (active.kind === "fixed") {
    return { model: active.model, ...(active.version === undefined ? {} : { version: active.version }) };
  }
  return guard(`Reading the active model of ${config.target.name.display}`, () =>
    readActiveModel(session, active.table, targetId(config), seen),
  );
}

/** The store's version, when the target tracks versions: what a model's vectors are matched at. */
function trackedVersion(config: StoreConfig): string | undefined {
  return config.target.version ? config.version : undefined;
}

/** `voyage-4 (version 2)`, for messages. */
function modelLabel(model: string, version: string | undefined): string {
  return version === undefined ? model : `${model} (version ${version})`;
}

/** Locks the target's row in the table of active models for the transaction (see `lockActiveModel`). */
function lockActive(
  config: StoreConfig,
  session: PgSession,
  active: Extract<ActiveConfig, { kind: "table" }>,
): Promise<ActiveModel | undefined> {
  return guard(`Locking the active model of ${config.target.name.display}`, () =>
    lockActiveModel(session, active.table, targetId(config), active.create),
  );
}

/** Options of `cutover()`. */
export interface CutoverOptions {
  /** The model to make active: its vectors (at the store's `version`) must cover every row. */
  readonly model: string;
  /**
   * Stops the coverage count (cancelled on the server); nothing is switched.
   * @default undefined
   */
  readonly signal?: AbortSignal;
}

/** What `cutover()` did. */
export interface CutoverResult {
  /** The model active before (`undefined` for the first cutover). */
  readonly previous: ActiveModel | undefined;
  /** The model active now. */
  readonly active: ActiveModel;
  /** The new model's coverage when it was switched to: complete. */
  readonly coverage: Coverage;
}

/**
 * Makes `options.model` (at the store's version) the active model of a `perModel` target, in one
 * transaction: the target's row in the table of active models is locked (concurrent cutovers run one
 * after the other), the model's coverage is counted over the whole table (not a partition or key
 * range), and the switch happens only if every row has a current vector of it; otherwise a
 * `StoreError` (`coverage_incomplete`, with `coverage`) and nothing changes. Searches read the table on
 * every call, so running applications follow at once.
 */
export async function cutover(
  config: StoreConfig,
  db: AnyPgDatabase,
  options: CutoverOptions,
  context: ReadContext,
): Promise<CutoverResult> {
  if (typeof options !== "object" || options === null) throw new InvalidOptionError("options", "{ model }");
  const { model, signal } = options;
  if (typeof model !== "string" || model === "") throw new InvalidOptionError("model", "a model id");
  const active = activeConfig(config);
  if (active.kind !== "table") {
    throw new StoreError(
      `The active model of ${config.target.name.display} is fixed in code (the store's \`active: { model: "${active.model}" }\`): change it there, or keep it in a table (\`active: { table }\`) to switch with cutover().`,
      { reason: "unsupported" },
    );
  }
  signal?.throwIfAborted();
  // The whole table: a partition's or a key range's coverage says nothing about the other rows.
  const whole: StoreConfig = { ...config, partition: undefined, range: undefined };
  delete (whole as { keys?: unknown }).keys;
  const version = trackedVersion(config);
  return context.serial.run(() =>
    inTransaction(db, async (tx) => {
      const session = sessionOf(tx, true);
      const previous = await lockActive(config, session, active);
      const coverage = await countCoverage(whole, tx, model, signal, { serial: { run: (work) => work() } });
      if (coverage.total === 0 || coverage.embedded < coverage.total) {
        const short = coverage.total - coverage.embedded;
        throw new StoreError(
          coverage.total === 0
            ? `Not switching ${config.target.name.display} to ${model}: the source has no rows, so no coverage can be checked.`
            : `Not switching ${config.target.name.display} to ${modelLabel(model, version)}: ${coverage.embedded.toLocaleString("en-US")} of ${coverage.total.toLocaleString("en-US")} rows have a current vector of it (${coverage.missing.toLocaleString("en-US")} missing, ${coverage.stale.toLocaleString("en-US")} stale); run backfill() with its provider until all ${short.toLocaleString("en-US")} are embedded, then cut over.`,
          { reason: "coverage_incomplete", coverage },
        );
      }
      const dimensions = await storedDimensions(config, tx, model);
      const next = await guard(`Switching the active model of ${config.target.name.display}`, () =>
        writeActiveModel(session, active.table, targetId(config), {
          model,
          ...(version === undefined ? {} : { version }),
          ...(dimensions === undefined ? {} : { dimensions }),
        }),
      );
      return { previous, active: next, coverage };
    }),
  );
}

/** The size of `model`'s stored vectors (at the store's version), read from one of them. */
export async function storedDimensions(
  config: StoreConfig,
  db: AnyPgDatabase,
  model: string,
): Promise<number | undefined> {
  const { target } = config;
  const size =
    target.type === "bit" ? sql`bit_length(${target.embedding})` : sql`vector_dims(${target.embedding})`;
  const [row] = await guard(`Reading the size of ${model}'s vectors`, () =>
    rowsOf<{ dimensions: number | string | null }>(
      db,
      sql`select ${size} as dimensions from ${target.table} where ${modelCondition(config, model)} limit 1`,
    ),
  );
  return row?.dimensions === null || row?.dimensions === undefined ? undefined : Number(row.dimensions);
}

/** Options of `prune()`. */
export interface PruneOptions {
  /**
   * With `target.perModel`: delete every vector of this model (at the store's `version`) instead of
   * the orphans — what is left of the old model after a cutover. The active model's are refused.
   * @default undefined (delete the vectors whose source row is gone)
   */
  readonly model?: string;
}

/**
 * Deletes every vector of `model` (at the store's version) from a `perModel` target; refuses the
 * active model's (`StoreError` `unsupported`). Returns how many were deleted.
 */
export async function pruneModel(config: StoreConfig, db: AnyPgDatabase, model: string): Promise<number> {
  if (!config.target.perModel) {
    throw new StoreError(
      `prune({ model }) applies to targets keeping several models side by side (\`target.perModel\`); ${config.target.name.display} keeps one vector per row, which the next backfill() overwrites.`,
      { reason: "unsupported" },
    );
  }
  const { target } = config;
  return inTransaction(db, async (tx) => {
    const session = sessionOf(tx, true);
    // Locked like a cutover's: a cutover to this model cannot slip in between the check and the delete.
    const { active } = config;
    const current =
      active?.kind === "table"
        ? await lockActive(config, session, active)
        : await activeModel(config, session);
    const version = trackedVersion(config);
    if (current && current.model === model && current.version === version) {
      throw new StoreError(
        `Not pruning ${modelLabel(model, version)} from ${target.name.display}: it is the active model, which searches use. Cut over to another model first.`,
        { reason: "unsupported" },
      );
    }
    const [row] = await guard(`Pruning ${model} from ${target.name.display}`, () =>
      rowsOf<{ deleted: number | string }>(
        tx,
        sql`with deleted as (delete from ${target.table} where ${modelCondition(config, model)} returning 1)
          select count(*)::int as deleted from deleted`,
      ),
    );
    return Number(row?.deleted ?? 0);
  });
}

/**
 * Options of the store's `createIndex()`: the kit's, plus the model whose vectors a `perModel`
 * target indexes.
 */
export interface StoreIndexOptions extends CreateIndexOptions {
  /**
   * With `target.perModel`: the model (at the store's `version`) whose vectors the index covers — a
   * partial index (`where model = '…'`), cast to the model's size when the column has none. Build one
   * per model; searches of a model use its index.
   * @default the active model
   */
  readonly model?: string;
}

/**
 * The partial index of one model's vectors: its predicate (literals, which the planner matches with
 * the literals of a search's condition), the size to cast a column of no declared size to, and a
 * label for the default name (`skill_embeddings_embedding_voyage_4_hnsw_idx`).
 */
export function indexPart(
  config: StoreConfig,
  space: { readonly model: string; readonly version: string | undefined; readonly cast?: number },
): IndexPart {
  const { target } = config;
  let where = `${quoteIdentifier(target.model.name)} = ${quoteLiteral(space.model, "model")}`;
  if (target.version && space.version !== undefined) {
    where += ` and ${quoteIdentifier(target.version.name)} = ${quoteLiteral(space.version, "version")}`;
  }
  const label = [space.model, ...(target.version && space.version !== undefined ? [space.version] : [])]
    .join("_")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  return { where, label: label || "model", ...(space.cast === undefined ? {} : { dimensions: space.cast }) };
}
