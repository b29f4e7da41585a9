/** Options of {@link callWithDeadline}. */
export interface DeadlineOptions {
  /** The caller's signal: when it aborts, the call rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Time for the whole call, response body included. */
  readonly timeoutMs: number;
  /** The error to reject with when `timeoutMs` passes. */
  readonly onTimeout: () => Error;
}

/**
 * Runs `run` with a signal that aborts when the caller's signal does or when the time is up, and
 * settles as soon as either happens, even if `run` (an SDK, a custom fetch) ignores its signal.
 * An abort always rejects with the caller's `signal.reason`, never with an error of `run`'s own,
 * so it can never be mistaken for a retryable failure.
 */
export async function callWithDeadline<T>(
  run: (signal: AbortSignal) => Promise<T>,
  { signal, timeoutMs, onTimeout }: DeadlineOptions,
): Promise<T> {
  signal?.throwIfAborted();
  const deadline = new AbortController();
  const combined = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = onTimeout();
      deadline.abort(error);
      reject(error);
    }, timeoutMs);
    if (signal) {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  const work = (async () => run(combined))();
  try {
    return await Promise.race([work, stopped]);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (deadline.signal.aborted) throw deadline.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    // Whatever `run` still does after we settled must not surface as an unhandled rejection.
    work.catch(() => {});
    stopped.catch(() => {});
  }
}
