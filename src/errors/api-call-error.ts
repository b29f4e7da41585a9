import { EmbeddingsError } from "./embeddings-error.js";

/** Why an API call failed, as far as the engine needs to know. */
export type APICallErrorReason =
  /** 429 rate limit: back off and retry. */
  | "rate_limit"
  /** Out of credit (OpenAI's `insufficient_quota`): never retried. */
  | "quota_exceeded"
  /** Too many tokens or inputs in the request, or one input over the context: split, never repeat. */
  | "request_too_large"
  /** 400: the request is wrong and will stay wrong. */
  | "invalid_request"
  /** 401: bad or missing API key. */
  | "authentication"
  /** 403: the key may not do this. */
  | "permission"
  /** 404: unknown model or endpoint. */
  | "not_found"
  /** 408/409/5xx: the service failed; retried. */
  | "server"
  /** No answer in time; retried. */
  | "timeout"
  /** The connection failed or dropped; retried. */
  | "connection"
  /** Anything else. */
  | "unknown";

const RETRYABLE: ReadonlySet<APICallErrorReason> = new Set(["rate_limit", "server", "timeout", "connection"]);

/** Maps an HTTP status to a reason (400 → `invalid_request`, 429 → `rate_limit`, 5xx → `server`…). */
export function reasonForStatus(status: number | undefined): APICallErrorReason {
  if (status === undefined) return "unknown";
  if (status === 429) return "rate_limit";
  if (status === 408 || status === 409 || status >= 500) return "server";
  if (status === 401) return "authentication";
  if (status === 403) return "permission";
  if (status === 404) return "not_found";
  if (status === 413) return "request_too_large";
  if (status >= 400) return "invalid_request";
  return "unknown";
}

/** Fields of an {@link APICallError}. */
export interface APICallErrorFields {
  /** Provider id (`"voyage"`). */
  provider: string;
  /** Model id. */
  model: string;
  /** Request URL (never with credentials). */
  url?: string;
  /** HTTP status, when the API answered. */
  status?: number;
  /** Why it failed; derived from `status` when omitted. */
  reason?: APICallErrorReason;
  /** Whether sending the same request again may succeed; derived from `reason` when omitted. */
  isRetryable?: boolean;
  /** How long the API asked us to wait (`retry-after-ms` / `retry-after`), in milliseconds. */
  retryAfterMs?: number;
  /** The API's own message (Voyage's `detail`, OpenAI's `error.message`). */
  detail?: string;
  /** What the API returned, for debugging. */
  responseBody?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * An embeddings API call failed. Carries what the retry policy needs: `status`, `reason`,
 * `isRetryable` and `retryAfterMs`.
 */
export class APICallError extends EmbeddingsError {
  override name = "APICallError" as const;
  readonly provider: string;
  readonly model: string;
  readonly url: string | undefined;
  readonly status: number | undefined;
  readonly reason: APICallErrorReason;
  readonly isRetryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly detail: string | undefined;
  readonly responseBody: string | undefined;

  constructor(message: string, fields: APICallErrorFields) {
    super(message, { cause: fields.cause });
    this.provider = fields.provider;
    this.model = fields.model;
    this.url = fields.url;
    this.status = fields.status;
    this.reason = fields.reason ?? reasonForStatus(fields.status);
    this.isRetryable = fields.isRetryable ?? RETRYABLE.has(this.reason);
    this.retryAfterMs = fields.retryAfterMs;
    this.detail = fields.detail;
    this.responseBody = fields.responseBody;
  }

  static override isInstance(error: unknown): error is APICallError {
    return EmbeddingsError.hasName(error, "APICallError");
  }
}

/**
 * Reads `retry-after-ms` (milliseconds) or `retry-after` (seconds or an HTTP date) from response
 * headers. Returns `undefined` when neither is usable.
 */
export function parseRetryAfter(
  headers: { get(name: string): string | null } | Record<string, string | undefined> | undefined,
  now: number = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const get = (name: string): string | null | undefined =>
    typeof (headers as { get?: unknown }).get === "function"
      ? (headers as { get(name: string): string | null }).get(name)
      : (headers as Record<string, string | undefined>)[name];
  const ms = Number.parseFloat(get("retry-after-ms") ?? "");
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = get("retry-after");
  if (!raw) return undefined;
  const seconds = Number.parseFloat(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}
