import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StoreError } from "../errors/index.js";
import { makeSession, withReserved } from "./make-session.js";
import type { PgCapabilities, PgReservedSession, PgSession } from "./session.js";

/**
 * The parts of a node-postgres (`pg`) `Pool`, `Client` or pooled client the session uses. Declared here
 * so that the kit's types need no `@types/pg`.
 */
export interface NodePostgresClient {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

/** A client checked out of a pool: an event emitter, given back with `release()`. */
interface PooledClient extends NodePostgresClient {
  release(error?: Error | boolean): void;
  on(event: "error", listener: (error: Error) => void): unknown;
  off(event: "error", listener: (error: Error) => void): unknown;
}

interface PoolLike extends NodePostgresClient {
  totalCount: number;
  options?: { max?: number };
  connect(): Promise<PooledClient>;
}

interface SubmittableClient {
  query<T extends Writable>(submittable: T): T;
}

function isPool(client: NodePostgresClient): client is PoolLike {
  // A Pool counts its clients; a Client or a pooled client does not.
  return "totalCount" in client && typeof (client as PoolLike).connect === "function";
}

/** COPY data goes out in 64 KiB CopyData messages (the stream sends each behind a 5-byte header). */
const COPY_CHUNK = 64 * 1024;

type CopyFrom = (text: string) => Writable;
let copyFrom: Promise<CopyFrom> | undefined;

/*
 * pg-copy-streams is loaded on the first COPY, so that importing the library (or using another driver)
 * never loads it. It is an optional dependency: when it was left out, COPY is unavailable and says so.
 */
function loadCopyFrom(): Promise<CopyFrom> {
  copyFrom ??= import("pg-copy-streams").then(
    (module) =>
      (module.from ?? (module as unknown as { default: { from: CopyFrom } }).default.from) as CopyFrom,
    (error: unknown) => {
      copyFrom = undefined;
      throw new StoreError(
        "COPY on node-postgres needs the `pg-copy-streams` package (an optional dependency of @relay/embeddings that is not installed): `npm install pg-copy-streams`.",
        { reason: "unsupported", cause: error },
      );
    },
  );
  return copyFrom;
}

async function copyOn(client: NodePostgresClient, into: string, data: Uint8Array): Promise<void> {
  const from = await loadCopyFrom();
  const stream = (client as unknown as SubmittableClient).query(
    from(`copy ${into} from stdin with (format binary)`),
  );
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += COPY_CHUNK) chunks.push(bytes.subarray(at, at + COPY_CHUNK));
  // Settles at ReadyForQuery, or with the server's error (the connection then takes queries again).
  await pipeline(Readable.from(chunks), stream);
}

function session(
  client: NodePostgresClient,
  capabilities: PgCapabilities,
  release?: (closed: boolean) => void,
): PgReservedSession {
  const pool = isPool(client) ? client : undefined;
  const self: PgReservedSession = makeSession({
    driver: "node-postgres",
    capabilities,
    release,
    run: async (text, params) => (await client.query(text, params)).rows,
    copyIn: (into, data) =>
      pool ? withReserved(self, (connection) => connection.copyIn(into, data)) : copyOn(client, into, data),
    async reserve() {
      if (!pool) return session(client, capabilities);
      const connection = await pool.connect();
      // A checked-out client emits "error" when the server closes its connection (terminated, timed
      // out): with no listener, that kills the process. The pool listens only while it is idle.
      let closed: Error | undefined;
      const onError = (error: Error) => {
        closed ??= error;
      };
      connection.on("error", onError);
      return session(connection, { ...capabilities, singleConnection: true, maxConnections: 1 }, (gone) => {
        connection.off("error", onError);
        // A closed connection is dropped from the pool, not handed to the next caller.
        connection.release(closed ?? gone);
      });
    },
  });
  return self;
}

/**
 * A {@link PgSession} over node-postgres: a `pg.Pool` (each query on any connection; `reserve()` checks
 * one out), a `pg.Client`, or a client checked out of a pool (one connection: inside a transaction,
 * pass the transaction's client). Parameters that are `Buffer`s or `Uint8Array`s are sent in binary;
 * COPY goes through `pg-copy-streams`, loaded on first use.
 *
 * @example
 * ```ts
 * import pg from "pg";
 * import { nodePostgresSession } from "@relay/embeddings/postgres";
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const session = nodePostgresSession(pool);
 * ```
 */
export function nodePostgresSession(client: NodePostgresClient): PgSession {
  const pool = isPool(client) ? client : undefined;
  return session(client, {
    copy: true,
    binaryParameters: true,
    singleConnection: !pool,
    reserve: true,
    maxConnections: pool ? (pool.options?.max ?? 10) : 1,
    sharedServer: true,
  });
}
