import {
  APICallError,
  type APICallErrorReason,
  parseRetryAfter,
  reasonForStatus,
} from "../errors/api-call-error.js";
import { redactSecrets } from "../errors/redact.js";
import { extractErrorCodes, extractErrorDetail, isRequestTooLarge, parseJson } from "./error-body.js";
import { type HeadersLike, parseRateLimitHeaders, waitFromRateLimit } from "./rate-limit-headers.js";
import { sanitizeCause } from "./sanitize-cause.js";
import type { Redact } from "./secret-redactor.js";

/** Who failed: enough to say so in a message, and the provider's redactor. */
export interface CallContext {
  /** Provider id (`"voyage"`): the error's `provider`. */
  readonly provider: string;
  /** How messages name the service (`"Voyage"`). */
  readonly label: string;
  /** Model id: the error's `model`, and named in its message. */
  readonly model: string;
  /** The request URL: the error's `url` (redacted). */
  readonly url: string;
  /** Time for the call in milliseconds: when it is up, a `timeout` error that says how long it was. */
  readonly timeoutMs: number;
  /** Extra advice per reason, replacing the default. */
  readonly hints?: Partial<Record<APICallErrorReason, string>>;
  /**
   * Removes the provider's secrets from every text that goes into an error (see
   * {@link secretRedactor}).
   * @default redacts bearer tokens and key-shaped strings only
   */
  readonly redact?: Redact;
}

const DEFAULT_HINTS: Record<APICallErrorReason, string> = {
  rate_limit: "Rate limited: back off and retry; lower concurrency or the requests/tokens per minute.",
  quota_exceeded: "Out of credit or quota: add credit or raise the quota; retrying will not help.",
  request_too_large:
    "The request is too large: split it into fewer or shorter inputs; never repeat it as is.",
  invalid_request:
    "The request was refused and would be refused again: check the model and options, and that no input is empty.",
  authentication: "The API key was refused: check `apiKey`.",
  permission: "The API key may not do this: check its project and model access.",
  not_found: "Unknown model or endpoint: check `model` and `baseURL`.",
  server: "The service failed: retry after a short wait.",
  timeout: "No answer in time: retry, or raise `timeoutMs`.",
  connection: "Could not reach the API: check the network and `baseURL`; retry.",
  unknown: "Unexpected failure.",
};

function message(ctx: CallContext, reason: APICallErrorReason, status?: number, detail?: string): string {
  const what = status === undefined ? "failed" : `failed with HTTP ${status}`;
  let hint = ctx.hints?.[reason] ?? DEFAULT_HINTS[reason];
  if (reason === "timeout") hint = `No answer within ${ctx.timeoutMs} ms: retry, or raise \`timeoutMs\`.`;
  if (reason === "connection" && !ctx.hints?.connection) {
    hint = `Could not reach ${ctx.url}: check the network and \`baseURL\`; retry.`;
  }
  // The API's own message usually ends with a period already: do not add a second one.
  const said = detail ? `: ${detail.trim().replace(/[.!]+$/, "")}` : "";
  return `${ctx.label} embeddings request (model "${ctx.model}") ${what} (${reason})${said}. ${hint}`;
}

/** An HTTP error answer, as far as it is known. */
export interface HttpFailure {
  /** The HTTP status. */
  readonly status: number;
  /** Response headers: `retry-after-ms`, `retry-after`, `x-ratelimit-*`. */
  readonly headers?: HeadersLike | undefined;
  /** The body as an SDK parsed it, used when `text` is not known. */
  readonly body?: unknown;
  /** The raw body: becomes the error's `responseBody` (redacted), and its message the `detail`. */
  readonly text?: string | undefined;
  /** What was thrown: attached as a sanitized copy (see {@link sanitizeCause}). */
  readonly cause?: unknown;
}

/**
 * Maps an HTTP error answer to an {@link APICallError}: reason from the status, except a 429 with
 * code `insufficient_quota` (`quota_exceeded`, never retried) and a 400/413/422 whose message says
 * the request was too big (`request_too_large`: split, never repeat); `retryAfterMs` from
 * `retry-after-ms` / `retry-after`, or on a 429 from the exhausted `x-ratelimit-*` budget. The body
 * is redacted with `ctx.redact` before anything is read from it, so no part of a secret survives in
 * `detail`, `responseBody`, the message or the cause.
 */
export function httpCallError(ctx: CallContext, failure: HttpFailure): APICallError {
  const redact = ctx.redact ?? redactSecrets;
  const { status, headers } = failure;
  const raw =
    failure.text ??
    (typeof failure.body === "string"
      ? failure.body
      : failure.body === undefined
        ? undefined
        : safeStringify(failure.body));
  const responseBody = raw === undefined ? undefined : redact(raw);
  const body = parseJson(responseBody);
  const detail = extractErrorDetail(body, responseBody);
  const codes = extractErrorCodes(body);
  let reason = reasonForStatus(status);
  if (codes.includes("insufficient_quota")) reason = "quota_exceeded";
  else if ((status === 400 || status === 413 || status === 422) && isRequestTooLarge(detail, ...codes)) {
    reason = "request_too_large";
  }
  const retryAfterMs =
    parseRetryAfter(headers) ??
    (status === 429 ? waitFromRateLimit(parseRateLimitHeaders(headers)) : undefined);
  return new APICallError(redact(message(ctx, reason, status, detail)), {
    provider: ctx.provider,
    model: ctx.model,
    url: redact(ctx.url),
    status,
    reason,
    retryAfterMs,
    detail,
    responseBody,
    cause: sanitizeCause(failure.cause, redact),
  });
}

function safeStringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** An {@link APICallError} for a request that got no HTTP answer (`timeout`, `connection`, `unknown`). */
export function transportCallError(
  ctx: CallContext,
  reason: "timeout" | "connection" | "unknown",
  cause?: unknown,
): APICallError {
  const redact = ctx.redact ?? redactSecrets;
  const detail = reason === "unknown" && cause instanceof Error ? redact(cause.message) : undefined;
  return new APICallError(redact(message(ctx, reason, undefined, detail)), {
    provider: ctx.provider,
    model: ctx.model,
    url: redact(ctx.url),
    reason,
    detail,
    cause: sanitizeCause(cause, redact),
  });
}
