import type { BackfillReport } from "../backfill/report.js";
import { EmbeddingsError } from "./embeddings-error.js";

/**
 * A backfill stopped at an unrecoverable error. `cause` is that error; `rowIds` the rows of the batch
 * that failed; `report` what the run did before it stopped (in per-batch mode that is written and
 * stays: a re-run resumes; with `atomic: true` it was rolled back).
 */
export class BackfillError<Id = unknown> extends EmbeddingsError {
  override name = "BackfillError" as const;
  /** Rows of the batch (or batches) that failed. */
  readonly rowIds: readonly Id[];
  /** The run's counters when it stopped. */
  readonly report: BackfillReport<Id>;
  /** Whether the run's writes were rolled back (atomic mode). */
  readonly rolledBack: boolean;

  constructor(
    message: string,
    fields: { rowIds: readonly Id[]; report: BackfillReport<Id>; rolledBack: boolean; cause: unknown },
  ) {
    super(message, { cause: fields.cause });
    this.rowIds = fields.rowIds;
    this.report = fields.report;
    this.rolledBack = fields.rolledBack;
  }

  static override isInstance(error: unknown): error is BackfillError {
    return EmbeddingsError.hasName(error, "BackfillError");
  }
}
