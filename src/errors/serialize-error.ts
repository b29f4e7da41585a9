import { formatId } from "../backfill/format-ids.js";
import type { BackfillCounters } from "../backfill/report.js";
import { APICallError } from "./api-call-error.js";
import { BackfillError } from "./backfill-error.js";
import { EmbeddingsError } from "./embeddings-error.js";
import { InvalidOptionError } from "./invalid-option-error.js";
import { redactSecrets } from "./redact.js";
import { StoreError } from "./store-error.js";

/** Row keys kept in a {@link SerializedError} (the count says how many failed in all). */
const MAX_ROW_IDS = 100;
const MAX_DEPTH = 5;

/** The counters of a failed run, as a {@link SerializedError} carries them. */
export type SerializedReport = Pick<
  BackfillCounters,
  "embedded" | "skipped" | "failed" | "tokens" | "requests" | "retries" | "rateLimited"
>;

const REPORT_FIELDS = [
  "embedded",
  "skipped",
  "failed",
  "tokens",
  "requests",
  "retries",
  "rateLimited",
] as const;

/** The report's counters, numbers only (zeros where a field is missing). */
export function reportCounters(report: Partial<BackfillCounters> | undefined): SerializedReport {
  const out: Record<string, number> = {};
  for (const field of REPORT_FIELDS) out[field] = Number(report?.[field]) || 0;
  return out as unknown as SerializedReport;
}

/**
 * An error as plain JSON-safe data, every string redacted of API keys: what may be stored in a job
 * queue, a database or a log. Fields beyond `name` and `message` appear when the error has them.
 */
export interface SerializedError {
  /** `"BackfillError"`, `"APICallError"`… or the name of a foreign error. */
  readonly name: string;
  /** The message, redacted. */
  readonly message: string;
  /** `APICallError` / `StoreError`: why it failed (`"authentication"`, `"rate_limit"`, `"database"`…). */
  readonly reason?: string;
  /** `APICallError`: the HTTP status. */
  readonly status?: number;
  /** `APICallError`: the provider and model called. */
  readonly provider?: string;
  readonly model?: string;
  /** `APICallError`: whether the same request may succeed later. */
  readonly isRetryable?: boolean;
  /** `APICallError`: the API's own message, redacted. */
  readonly detail?: string;
  /** `InvalidOptionError`: the option at fault. */
  readonly option?: string;
  /**
   * `BackfillError`: the first 100 failed rows' keys (numbers and strings as they are, others
   * printed); `StoreError`: the row it is about, when there is one.
   */
  readonly rowIds?: readonly (string | number)[];
  /** `BackfillError`: how many rows failed. */
  readonly rowCount?: number;
  /** `BackfillError`: whether the run's writes were rolled back. */
  readonly rolledBack?: boolean;
  /** `BackfillError`: what the run did before it stopped. */
  readonly report?: SerializedReport;
  /** A string `code` the error carried (a database SQLSTATE, a Node.js error code). */
  readonly code?: string;
  /** The cause, serialized the same way (up to 5 levels). */
  readonly cause?: SerializedError;
}

function jsonKey(id: unknown): string | number {
  return typeof id === "number" && Number.isFinite(id) ? id : redactSecrets(formatId(id));
}

/**
 * Turns any thrown value into a {@link SerializedError}: the fields this library's errors carry
 * (reason, status, rows, report…), never response bodies, headers or stacks, and every string passed
 * through the library's redaction, so a stored error never holds an API key.
 *
 * @example
 * ```ts
 * try {
 *   await backfill({ provider, store });
 * } catch (error) {
 *   await db.insert(failures).values({ error: serializeError(error) }); // safe to keep
 * }
 * ```
 */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error) && !EmbeddingsError.isInstance(error)) {
    return { name: "Error", message: redactSecrets(String(error)) };
  }
  const e = error as Error & { code?: unknown };
  const out: Record<string, unknown> = { name: redactSecrets(e.name), message: redactSecrets(e.message) };
  if (APICallError.isInstance(error)) {
    Object.assign(out, {
      reason: error.reason,
      status: error.status,
      provider: error.provider,
      model: error.model,
      isRetryable: error.isRetryable,
      detail: error.detail === undefined ? undefined : redactSecrets(error.detail),
    });
  } else if (StoreError.isInstance(error)) {
    out.reason = error.reason;
    if (error.rowId !== undefined) out.rowIds = [jsonKey(error.rowId)];
    if (error.rowIds !== undefined) {
      Object.assign(out, {
        rowIds: error.rowIds.slice(0, MAX_ROW_IDS).map(jsonKey),
        rowCount: error.rowIds.length,
      });
    }
  } else if (InvalidOptionError.isInstance(error)) {
    out.option = error.option;
  } else if (BackfillError.isInstance(error)) {
    Object.assign(out, {
      rowIds: error.rowIds.slice(0, MAX_ROW_IDS).map(jsonKey),
      rowCount: error.rowIds.length,
      rolledBack: error.rolledBack,
      report: reportCounters(error.report),
    });
  }
  if (typeof e.code === "string") out.code = redactSecrets(e.code);
  if (e.cause !== undefined && e.cause !== null && depth < MAX_DEPTH) {
    out.cause = serializeError(e.cause, depth + 1);
  }
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key];
  return out as unknown as SerializedError;
}
