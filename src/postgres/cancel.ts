import type { PgSession } from "./session.js";

/**
 * Makes an abort reach the server: once `signal` aborts, the statement `connection` is running (a
 * write waiting for a row another transaction holds `FOR UPDATE`, say) is cancelled with
 * `pg_cancel_backend()`, sent on `canceller` (another connection to the same server). The statement
 * then fails, and its transaction rolls back. Call it at the start of a transaction on its own
 * connection, and call the function it returns once the transaction is over.
 *
 * Costs one round trip (the connection's process id) when there is a signal; nothing without one, or
 * on a session no other connection can reach (PGlite).
 *
 * @example
 * ```ts
 * const stop = await cancelOnAbort(transaction, pool, signal);
 * try {
 *   await transaction.query("select … for share", keys);
 * } finally {
 *   stop();
 * }
 * ```
 */
export async function cancelOnAbort(
  connection: PgSession,
  canceller: PgSession,
  signal: AbortSignal | undefined,
): Promise<() => void> {
  if (!signal || !connection.capabilities.sharedServer) return () => {};
  const [row] = await connection.query<{ pid: unknown }>("select pg_backend_pid() as pid");
  const pid = Number(row?.pid);
  const cancel = () => {
    canceller.query("select pg_cancel_backend($1)", [pid]).catch(() => {});
  };
  if (signal.aborted) cancel();
  signal.addEventListener("abort", cancel, { once: true });
  return () => signal.removeEventListener("abort", cancel);
}
