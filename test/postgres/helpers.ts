import {
  type NodePostgresClient,
  nodePostgresSession,
  type PGliteClient,
  type PgSession,
  type PostgresJsSql,
  pgliteSession,
  postgresJsSession,
  withReserved,
} from "../../src/postgres/index.js";
import type { TestDatabase } from "../support/index.js";

/** Runs `work` in a transaction on one connection of `session`: committed, or rolled back if it throws. */
export async function inTransaction<T>(session: PgSession, work: (tx: PgSession) => Promise<T>): Promise<T> {
  return withReserved(session, async (tx) => {
    await tx.query("begin");
    try {
      const result = await work(tx);
      await tx.query("commit");
      return result;
    } catch (error) {
      await tx.query("rollback");
      throw error;
    }
  });
}

/** The kit's session over the test database's own client (a `pg.Pool`, a postgres.js `Sql`, PGlite). */
export function sessionFor(t: Pick<TestDatabase, "driver" | "client">): PgSession {
  switch (t.driver) {
    case "node-postgres":
      return nodePostgresSession(t.client as NodePostgresClient);
    case "postgres.js":
      return postgresJsSession(t.client as PostgresJsSql);
    case "pglite":
      return pgliteSession(t.client as PGliteClient);
  }
}

/** A vector whose float4 values differ in every position: bit-exact round trips show. */
export function vectorOf(seed: number, dimensions: number): Float32Array {
  return Float32Array.from({ length: dimensions }, (_, i) => Math.fround(Math.sin(seed * 7.1 + i) * (i + 1)));
}

/** A pgvector text value (`[1,2,3]`) as float4 numbers. */
export function parseVector(value: unknown): number[] {
  const numbers = Array.isArray(value) ? value.map(Number) : (JSON.parse(String(value)) as number[]);
  return numbers.map(Math.fround);
}
