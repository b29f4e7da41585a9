import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { makeSession } from "./make-session.js";
import type { PgCapabilities, PgReservedSession, PgSession } from "./session.js";

interface PendingQuery extends Promise<any[]> {
  writable(): Promise<Writable>;
  cancel(): void;
}

/**
 * The parts of a postgres.js `Sql` (or `TransactionSql`, or a reserved connection) the session uses.
 * Declared here so that the kit's types need no `postgres` import.
 */
export interface PostgresJsSql {
  unsafe(query: string, parameters?: any[]): any;
}

interface PoolSql extends PostgresJsSql {
  reserve(): Promise<PostgresJsSql & { release(): void }>;
  options?: { max?: number };
}

function isPool(sql: PostgresJsSql): sql is PoolSql {
  // `Sql` can reserve a connection; a transaction or a reserved connection cannot.
  return typeof (sql as PoolSql).reserve === "function";
}

const COPY_CHUNK = 64 * 1024;

/*
 * Resolves once postgres.js has sent CopyDone: its stream's final() does that (and only then may the
 * connection take another query). Wrapping final() is the one way to see that moment.
 */
function afterFinal(writable: Writable): Promise<void> {
  const stream = writable as Writable & { _final?: (callback: (error?: Error | null) => void) => void };
  return new Promise((resolve) => {
    const final = stream._final;
    stream._final = function (this: Writable, callback) {
      final?.call(this, callback);
      resolve();
    };
  });
}

/*
 * One connection, in a transaction: the probe below must follow on the same connection, and only a
 * transaction makes it fail after a rejected COPY.
 */
async function copyOn(sql: PostgresJsSql, into: string, data: Uint8Array): Promise<void> {
  const statement = `copy ${into} from stdin with (format binary)`;
  const writable = await (sql.unsafe(statement) as PendingQuery).writable();
  const sent = afterFinal(writable);
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += COPY_CHUNK) chunks.push(bytes.subarray(at, at + COPY_CHUNK));
  const finished = pipeline(Readable.from(chunks), writable);
  // An error while writing destroys the stream: `finished` rejects with it.
  await Promise.race([sent, finished]);
  // postgres.js 3.4 never settles a COPY that the server rejects after CopyDone, and drops the
  // error (porsager/postgres#1173). A query queued behind it on this connection settles either way,
  // and fails exactly when the COPY did.
  const probe = (sql.unsafe("select 1") as PendingQuery).catch((error: unknown) => {
    throw new Error(
      `${statement} was rejected by the server (postgres.js does not report why: porsager/postgres#1173)`,
      { cause: error },
    );
  });
  await Promise.race([finished.then(() => probe), probe.then(() => finished)]);
}

function session(
  sql: PostgresJsSql,
  capabilities: PgCapabilities,
  release?: (closed: boolean) => void,
): PgReservedSession {
  const pool = isPool(sql) ? sql : undefined;
  return makeSession({
    driver: "postgres.js",
    capabilities,
    release,
    run(text, params, signal) {
      const pending = sql.unsafe(text, params) as PendingQuery;
      if (!signal) return pending;
      const cancel = () => pending.cancel();
      const done = () => signal.removeEventListener("abort", cancel);
      signal.addEventListener("abort", cancel, { once: true });
      pending.then(done, done);
      return pending;
    },
    async copyIn(into, data) {
      if (!pool) return copyOn(sql, into, data);
      // A transaction of its own: only there does the probe of copyOn() see a rejected COPY.
      const reserved = await pool.reserve();
      try {
        await reserved.unsafe("begin");
        try {
          await copyOn(reserved, into, data);
        } catch (error) {
          await reserved.unsafe("rollback");
          throw error;
        }
        await reserved.unsafe("commit");
      } finally {
        reserved.release();
      }
    },
    async reserve() {
      if (!pool) return session(sql, capabilities);
      const reserved = await pool.reserve();
      return session(reserved, { ...capabilities, singleConnection: true, maxConnections: 1 }, (closed) => {
        // postgres.js has put a closed connection aside to reopen it; releasing it would hand the
        // dead connection to the next query, which would never settle (and throw outside any promise).
        if (!closed) reserved.release();
      });
    },
  });
}

/**
 * A {@link PgSession} over postgres.js: a `Sql` pool (`reserve()` uses postgres.js's own `reserve()`,
 * 3.4 or later), a `TransactionSql` inside `sql.begin()`, or a reserved connection. Parameters are sent
 * as text (postgres.js binds no binary), so vectors are best sent by `copyIn()` through its COPY
 * stream. An aborted query is also cancelled on the server.
 *
 * postgres.js drops the server's rejection of a COPY (porsager/postgres#1173); the session sees it
 * through the transaction the COPY runs in (on a pool it opens one itself). On a connection you
 * reserved yourself, call `copyIn()` inside a transaction.
 *
 * postgres.js prints the server's notices to stdout unless given `onnotice`; the kit issues no
 * statement that raises one.
 *
 * @example
 * ```ts
 * import postgres from "postgres";
 * import { postgresJsSession } from "@relay/embeddings/postgres";
 *
 * const session = postgresJsSession(postgres(process.env.DATABASE_URL!));
 * ```
 */
export function postgresJsSession(sql: PostgresJsSql): PgSession {
  const pool = isPool(sql) ? sql : undefined;
  return session(sql, {
    copy: true,
    binaryParameters: false,
    singleConnection: !pool,
    reserve: true,
    maxConnections: pool ? (pool.options?.max ?? 10) : 1,
    sharedServer: true,
  });
}
