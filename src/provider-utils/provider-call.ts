import { EmbeddingsError } from "../errors/embeddings-error.js";
import { type CallContext, transportCallError } from "./api-call-failure.js";
import { callWithDeadline } from "./deadline.js";
import { sanitizeCause } from "./sanitize-cause.js";
import type { Redact } from "./secret-redactor.js";

/**
 * Redacts, in place, every text of an error this library made (message, stack, `detail`,
 * `responseBody`, `url` and any other string field) and replaces its `cause` by a sanitized copy (see
 * {@link sanitizeCause}). Anything else that is not a library error is replaced by a sanitized copy.
 * Returns the error to throw.
 */
export function redactError(error: unknown, redact: Redact): unknown {
  if (!EmbeddingsError.isInstance(error)) return sanitizeCause(error, redact) ?? error;
  const fields = error as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === "string") fields[name] = redact(value);
  }
  error.message = redact(error.message);
  if (error.stack !== undefined) error.stack = redact(error.stack);
  if (error.cause !== undefined) {
    Object.defineProperty(error, "cause", {
      value: sanitizeCause(error.cause, redact),
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  return error;
}

/**
 * Runs one API call the way every provider must: it settles within `ctx.timeoutMs` (a retryable
 * `timeout` {@link APICallError}) or as soon as `signal` aborts (rejecting with exactly
 * `signal.reason`), even if `run` ignores its signal; whatever else `run` throws goes through
 * `toError` (map it to an `APICallError` or `InvalidResponseError`; the library's own errors pass as
 * they are); and every error that leaves is redacted with `ctx.redact` (see {@link redactError}).
 *
 * {@link apiConnection} builds on this; use it directly for a client that is not an HTTP SDK, or
 * whose key you do not hold (the AI SDK bridge).
 */
export async function runProviderCall<T>(
  ctx: CallContext,
  signal: AbortSignal | undefined,
  run: (signal: AbortSignal) => Promise<T>,
  toError: (error: unknown) => unknown | Promise<unknown>,
): Promise<T> {
  const redact = ctx.redact ?? ((text: string) => text);
  try {
    return await callWithDeadline(
      async (combined) => {
        try {
          return await run(combined);
        } catch (error) {
          // An abort of the caller's signal is settled by callWithDeadline with signal.reason; the
          // library's own errors (thrown by `run` itself) need no mapping.
          if (signal?.aborted || combined.aborted || EmbeddingsError.isInstance(error)) throw error;
          throw await toError(error);
        }
      },
      { signal, timeoutMs: ctx.timeoutMs, onTimeout: () => transportCallError(ctx, "timeout") },
    );
  } catch (error) {
    if (signal?.aborted && error === signal.reason) throw error;
    throw redactError(error, redact);
  }
}
