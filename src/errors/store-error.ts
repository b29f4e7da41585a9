import type { Coverage } from "../contracts/embedding-store.js";
import { EmbeddingsError } from "./embeddings-error.js";

/** Why a store cannot do its work. */
export type StoreErrorReason =
  /** The `vector` extension is not installed in the database. */
  | "extension_missing"
  /** A table or column is missing, or of the wrong type. */
  | "schema"
  /** Another process holds the partition's lock. */
  | "locked"
  /** A row's text could not be built, or its vector does not fit the column (a `halfvec` overflow). */
  | "row"
  /** Keys given to embed (`embedRows()`) name no row: `rowIds` lists them. */
  | "unknown_rows"
  /** The operation does not apply to this store as configured (e.g. `prune()` on the same-row layout). */
  | "unsupported"
  /**
   * `cutover()` to a model whose vectors do not cover every row yet: `coverage` says how far it got.
   */
  | "coverage_incomplete"
  /**
   * A search on a target holding several models' vectors (`perModel`) before any model was made
   * active (`cutover()`), with no model given.
   */
  | "no_active_model"
  /** The database failed. */
  | "database";

/** A store (database adapter) cannot do its work. The message says which table, column or row. */
export class StoreError extends EmbeddingsError {
  override name = "StoreError" as const;
  readonly reason: StoreErrorReason;
  /**
   * The key of the row the error is about, when there is one (`reason: "row"`: the row whose text
   * could not be built). `backfill()` reports it in `BackfillError.rowIds`.
   */
  readonly rowId?: unknown;
  /** The keys the error is about, when there are several (`reason: "unknown_rows"`). */
  readonly rowIds?: readonly unknown[];
  /**
   * The coverage that was found short (`reason: "coverage_incomplete"`): rows in all, with a current
   * vector of the model, with a stale one, with none.
   */
  readonly coverage?: Coverage;

  constructor(
    message: string,
    fields: {
      reason: StoreErrorReason;
      rowId?: unknown;
      rowIds?: readonly unknown[];
      coverage?: Coverage;
      cause?: unknown;
    },
  ) {
    super(message, { cause: fields.cause });
    this.reason = fields.reason;
    if (fields.rowId !== undefined) this.rowId = fields.rowId;
    if (fields.rowIds !== undefined) this.rowIds = fields.rowIds;
    if (fields.coverage !== undefined) this.coverage = fields.coverage;
  }

  static override isInstance(error: unknown): error is StoreError {
    return EmbeddingsError.hasName(error, "StoreError");
  }
}
