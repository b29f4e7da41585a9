import { abortable } from "./abortable.js";
import type { PgCapabilities, PgDriver, PgReservedSession, PgRow, PgSession } from "./session.js";

/** What differs from one client to another; {@link makeSession} adds what every session does alike. */
export interface SessionParts {
  readonly driver: PgDriver;
  readonly capabilities: PgCapabilities;
  /** Runs one statement. `signal` is for clients that can cancel it on the server; the session races it anyway. */
  run(text: string, params: unknown[], signal: AbortSignal | undefined): Promise<PgRow[]>;
  copyIn(into: string, data: Uint8Array): Promise<void>;
  reserve(): Promise<PgReservedSession>;
  /** Gives a reserved connection back (`closed`: the server closed it); absent for sessions that own nothing. */
  release?(closed: boolean): void;
}

/**
 * A session from its client-specific parts: an aborted signal rejects before anything is sent and
 * during a statement at once, with `signal.reason`; `release()` runs once.
 */
export function makeSession(parts: SessionParts): PgReservedSession {
  let released = false;
  return {
    driver: parts.driver,
    capabilities: parts.capabilities,
    async query<Row extends PgRow>(
      text: string,
      params: readonly unknown[] = [],
      options: { signal?: AbortSignal } = {},
    ) {
      options.signal?.throwIfAborted();
      return (await abortable(parts.run(text, [...params], options.signal), options.signal)) as Row[];
    },
    copyIn: (into, data) => parts.copyIn(into, data),
    reserve: () => parts.reserve(),
    async release(options = {}) {
      if (released) return;
      released = true;
      parts.release?.(options.closed === true);
    },
  };
}

/** Runs `work` on a connection reserved from `session`, given back however `work` ends. */
export async function withReserved<T>(
  session: PgSession,
  work: (connection: PgSession) => Promise<T>,
): Promise<T> {
  const connection = await session.reserve();
  try {
    return await work(connection);
  } finally {
    await connection.release();
  }
}
