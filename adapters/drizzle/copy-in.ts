import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type AnyPgDatabase, clientOf, driverOf } from "./driver.js";

/** Whether `copyIn()` can run on this driver. */
export function canCopy(db: AnyPgDatabase): boolean {
  const driver = driverOf(db);
  return driver === "node-postgres" || driver === "postgres.js" || driver === "pglite";
}

interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

const CHUNK = 64 * 1024;

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
 * node-postgres has no COPY API of its own: a "submittable" (what pg-copy-streams builds on) gets
 * the connection and the protocol events of one simple query. This one sends the whole file once
 * the server asks for it. It settles on the first error (pg queues the next query until the server
 * is ready again; a dropped connection sends no ReadyForQuery) or at ReadyForQuery.
 */
class PgCopyIn {
  private settled = false;

  constructor(
    private readonly text: string,
    private readonly file: Buffer,
    private readonly done: (error?: unknown) => void,
  ) {}

  private settle(error?: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.done(error);
  }

  submit(connection: PgConnection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: PgConnection): void {
    for (let at = 0; at < this.file.length; at += CHUNK) {
      connection.sendCopyFromChunk(this.file.subarray(at, at + CHUNK));
    }
    connection.endCopyFrom();
  }

  handleError(error: unknown): void {
    this.settle(error ?? new Error("COPY failed"));
  }

  handleReadyForQuery(): void {
    this.settle();
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/**
 * Runs `COPY … FROM STDIN (FORMAT binary)` (`statement`, without its source) with `file` on the
 * connection of `tx`, which must be a transaction: node-postgres through a submittable, postgres.js
 * through its writable COPY stream, PGlite through its `/dev/blob` device.
 */
export async function copyIn(tx: AnyPgDatabase, statement: string, file: Buffer): Promise<void> {
  const client = clientOf(tx);
  switch (driverOf(tx)) {
    case "node-postgres": {
      const pg = client as { query(submittable: PgCopyIn): unknown };
      await new Promise<void>((resolve, reject) => {
        pg.query(
          new PgCopyIn(`${statement} from stdin with (format binary)`, file, (error) =>
            error ? reject(error) : resolve(),
          ),
        );
      });
      return;
    }
    case "postgres.js": {
      const sql = client as {
        unsafe(query: string): Promise<unknown> & { writable(): Promise<Writable> };
      };
      const writable = await sql.unsafe(`${statement} from stdin with (format binary)`).writable();
      const sent = afterFinal(writable);
      const chunks: Buffer[] = [];
      for (let at = 0; at < file.length; at += CHUNK) chunks.push(file.subarray(at, at + CHUNK));
      const finished = pipeline(Readable.from(chunks), writable);
      // An error while writing destroys the stream: `finished` rejects with it.
      await Promise.race([sent, finished]);
      // postgres.js 3.4 never settles a COPY that the server rejects after CopyDone, and drops the
      // error (porsager/postgres#1173). A query queued behind it on this connection (always inside a
      // transaction here) settles either way, and fails exactly when the COPY did.
      const probe = sql.unsafe("select 1").catch((error: unknown) => {
        throw new Error(
          `${statement} was rejected by the server (postgres.js does not report why: porsager/postgres#1173)`,
          { cause: error },
        );
      });
      await Promise.race([finished.then(() => probe), probe.then(() => finished)]);
      return;
    }
    case "pglite": {
      const pglite = client as {
        query(query: string, params: unknown[], options: { blob: Blob }): Promise<unknown>;
      };
      const blob = new Blob([file as Uint8Array<ArrayBuffer>]);
      await pglite.query(`${statement} from '/dev/blob' with (format binary)`, [], { blob });
      return;
    }
    default:
      throw new Error(`COPY is not available on this driver`);
  }
}
