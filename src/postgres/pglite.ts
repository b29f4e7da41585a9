import { makeSession } from "./make-session.js";
import type { PgReservedSession, PgSession } from "./session.js";

/**
 * The parts of a PGlite instance (or of a PGlite `Transaction`) the session uses. Declared here so
 * that the kit's types need no `@electric-sql/pglite` import.
 */
export interface PGliteClient {
  query(query: string, params?: any[], options?: { blob?: Blob }): Promise<{ rows: any[] }>;
}

/**
 * A {@link PgSession} over PGlite (PostgreSQL compiled to WebAssembly, in this process): a `PGlite`
 * instance, or the `Transaction` of `pg.transaction()`. One connection: `reserve()` hands out the
 * session itself, and `sharedServer` is false (no other process can take an advisory lock). COPY reads
 * the data through PGlite's `/dev/blob` device.
 *
 * @example
 * ```ts
 * import { PGlite } from "@electric-sql/pglite";
 * import { vector } from "@electric-sql/pglite-pgvector";
 * import { pgliteSession } from "@relay/embeddings/postgres";
 *
 * const session = pgliteSession(await PGlite.create({ extensions: { vector } }));
 * ```
 */
export function pgliteSession(client: PGliteClient): PgSession {
  const self: PgReservedSession = makeSession({
    driver: "pglite",
    capabilities: {
      copy: true,
      binaryParameters: false,
      singleConnection: true,
      reserve: true,
      maxConnections: 1,
      sharedServer: false,
    },
    run: async (text, params) => (await client.query(text, params)).rows,
    async copyIn(into, data) {
      const blob = new Blob([data as Uint8Array<ArrayBuffer>]);
      await client.query(`copy ${into} from '/dev/blob' with (format binary)`, [], { blob });
    },
    reserve: async () => self,
  });
  return self;
}
