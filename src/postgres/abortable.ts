/**
 * `work`, or a rejection with `signal.reason` as soon as `signal` aborts, whichever comes first. The
 * database is not told: the statement runs on to its end on its connection and its result is dropped
 * (a failure of it too). Use it for reads whose result nobody needs once aborted, never for writes
 * whose outcome the caller must know.
 *
 * @example
 * ```ts
 * const rows = await abortable(session.query("select …", []), signal);
 * ```
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
