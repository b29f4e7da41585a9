import pRetry from "p-retry";
import { APICallError } from "../errors/api-call-error.js";
import { sleep } from "./abortable.js";

/** How failed requests are retried. */
export interface RetryPolicy {
  /** Retries after the first attempt; 429s do not count against it (they are bounded by time). */
  readonly retries: number;
  /** First backoff; doubles each retry, times a random factor in [1, 2). */
  readonly minDelayMs: number;
  /** Longest backoff, and the longest `Retry-After` honoured. */
  readonly maxDelayMs: number;
  /** Longest time one request may spend retrying. */
  readonly maxRetryTimeMs: number;
}

/** What happened on a failed attempt that will be retried. */
export interface RetryEvent {
  readonly error: unknown;
  readonly attemptNumber: number;
  readonly rateLimited: boolean;
}

/**
 * Whether sending the same request again may succeed: only API failures the API marks as transient
 * (408/409/429/5xx, dropped connections, timeouts). Never other 4xx, a quota error, a request too
 * large (it is split instead), an abort, or an error that is not an API failure.
 */
export function isRetryable(error: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return false;
  return APICallError.isInstance(error) && error.isRetryable && error.reason !== "request_too_large";
}

/**
 * The one retry policy: runs `attempt` with p-retry, honouring the API's `Retry-After` (capped at
 * `maxDelayMs`) before the next attempt of this request. Other retryable failures back off
 * exponentially with jitter. A 429 is retried without a backoff of its own and without using up
 * `retries`: after what `rateLimitWait` says (by default its `Retry-After`, or `minDelayMs` without
 * one) the attempt goes back to the limiter, which has learned from the 429 (the limiter's hold
 * reports it) and paces the retry with everything else. Non-retryable errors are rethrown as
 * they are, on the first try.
 */
export function withRetry<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  context: {
    signal?: AbortSignal;
    /** Every failed attempt, retried or not. */
    onFailure?: (error: unknown) => void;
    /** Failed attempts that will be retried. */
    onRetry?: (event: RetryEvent) => void;
    /**
     * How long this request waits before its next attempt after a 429 (the limiter's answer; it
     * paces the retry itself). When it says nothing: the API's `Retry-After`, else `minDelayMs`.
     */
    rateLimitWait?: (error: APICallError) => number | undefined;
  },
): Promise<T> {
  const { signal, onFailure, onRetry, rateLimitWait } = context;
  let notBefore = 0;
  return pRetry(
    async () => {
      await sleep(notBefore - Date.now(), signal);
      return attempt();
    },
    {
      retries: policy.retries,
      factor: 2,
      minTimeout: policy.minDelayMs,
      maxTimeout: policy.maxDelayMs,
      randomize: true,
      maxRetryTime: policy.maxRetryTimeMs,
      signal,
      onFailedAttempt: ({ error }) => onFailure?.(error),
      shouldConsumeRetry: ({ error }) => !(APICallError.isInstance(error) && error.reason === "rate_limit"),
      shouldRetry: ({ error, attemptNumber }) => {
        if (!isRetryable(error, signal)) return false;
        const apiError = error as APICallError;
        const rateLimited = apiError.reason === "rate_limit";
        // A 429 waits what the limiter says, or its Retry-After, or the first backoff delay: never
        // a growing one.
        const wait = rateLimited
          ? (rateLimitWait?.(apiError) ?? apiError.retryAfterMs ?? policy.minDelayMs)
          : apiError.retryAfterMs;
        if (wait !== undefined) notBefore = Date.now() + Math.min(wait, policy.maxDelayMs);
        onRetry?.({ error, attemptNumber, rateLimited });
        return true;
      },
    },
  );
}
