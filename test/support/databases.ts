/*
 * Fresh databases for tests, one per suite, on every driver available here:
 * - PGlite in memory (always), with or without the pgvector extension;
 * - node-postgres and postgres.js on a real server when DATABASE_URL is set: each suite gets its own
 *   database (created from DATABASE_URL's server, dropped after), so suites never see each other.
 *
 * Real-server suites are never silently skipped: without DATABASE_URL they are reported as NOT RUN,
 * and under CI (CI set) a missing DATABASE_URL fails the run.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgresJs } from "drizzle-orm/postgres-js";
import pg from "pg";
import postgres from "postgres";

/** Any Drizzle PostgreSQL database. */
export type AnyDb = PgDatabase<PgQueryResultHKT, any>;

export type DriverName = "pglite" | "node-postgres" | "postgres.js";

/** A database made for one suite. */
export interface TestDatabase {
  readonly driver: DriverName;
  /** Drizzle over it. */
  readonly db: AnyDb;
  /** The driver's own client behind `db`: the PGlite instance, the `pg.Pool`, the postgres.js `Sql`. */
  readonly client: unknown;
  /** Whether it is a real server (several connections, locks that mean something). */
  readonly realServer: boolean;
  /** Its connection string (real server only): for child processes and extra connections. */
  readonly url: string | undefined;
  /** Runs SQL without parameters (DDL, several statements allowed). */
  exec(statements: string): Promise<void>;
  /**
   * Another Drizzle database on the same data over new connections (a separate pool: another
   * "process"). PGlite is one connection: it returns the same `db`.
   */
  connect(): Promise<{ db: AnyDb; client: unknown; close(): Promise<void> }>;
  /** Closes every connection and drops the database. */
  close(): Promise<void>;
}

/** How to get a {@link TestDatabase} on one driver. */
export interface DatabaseFactory {
  readonly driver: DriverName;
  readonly realServer: boolean;
  /** Why it cannot run here (no DATABASE_URL), when it cannot. */
  readonly unavailable: string | undefined;
  /** A fresh, empty database; `vector: false` leaves the pgvector extension out. */
  create(options?: { vector?: boolean }): Promise<TestDatabase>;
}

const DATABASE_URL = process.env.DATABASE_URL || undefined;

/** The installed version of a package (its `package.json` is not among its exports). */
async function versionOf(name: string): Promise<string> {
  let dir = dirname(createRequire(import.meta.url).resolve(name));
  for (;;) {
    try {
      const json = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (json.name === name) return json.version ?? "";
    } catch {}
    if (dir === dirname(dir)) return "";
    dir = dirname(dir);
  }
}

const templates = new Map<boolean, Promise<Blob>>();

/**
 * The data directory of a new PGlite database (with the vector extension created, or without), as a
 * tar: made once per machine and PGlite version, in the temp directory, and loaded by every later
 * instance. A new PGlite otherwise runs initdb, seconds of CPU each time; loading the tar skips it.
 */
function pgliteTemplate(withVector: boolean): Promise<Blob> {
  let template = templates.get(withVector);
  if (!template) {
    template = (async () => {
      const versions = `${await versionOf("@electric-sql/pglite")} ${await versionOf("@electric-sql/pglite-pgvector")}`;
      const key = createHash("sha256").update(`${versions} ${withVector}`).digest("hex").slice(0, 16);
      const path = join(tmpdir(), `relay-embeddings-test-pglite-${key}.tar`);
      try {
        return new Blob([await readFile(path)]);
      } catch {}
      const client = await PGlite.create(withVector ? { extensions: { vector } } : {});
      if (withVector) await client.exec("create extension if not exists vector");
      const dump = await client.dumpDataDir("none");
      await client.close();
      // Written under another name, then renamed: a process reading it never sees half a file.
      const partial = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
      await writeFile(partial, new Uint8Array(await dump.arrayBuffer()));
      await rename(partial, path);
      return dump;
    })();
    templates.set(withVector, template);
  }
  return template;
}

async function createPglite(options: { vector?: boolean } = {}): Promise<TestDatabase> {
  const withVector = options.vector ?? true;
  const loadDataDir = await pgliteTemplate(withVector);
  const client = await PGlite.create(withVector ? { extensions: { vector }, loadDataDir } : { loadDataDir });
  const db = drizzlePglite({ client }) as unknown as AnyDb;
  return {
    driver: "pglite",
    db,
    client,
    realServer: false,
    url: undefined,
    exec: async (statements) => {
      await client.exec(statements);
    },
    connect: async () => ({ db, client, close: async () => {} }),
    close: () => client.close(),
  };
}

function urlFor(database: string): string {
  const url = new URL(DATABASE_URL!);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

type Connection = { db: AnyDb; client: unknown; close(): Promise<void> };

function nodePostgres(url: string): Connection {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // Teardown drops the database `with (force)`, which terminates any backend still attached; a client
  // the pool is just shutting down then reports FATAL 57P01 after the pool stopped listening to it.
  // That is expected here, and must not surface as an uncaught exception that fails the whole run.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  return { db: drizzleNodePg({ client: pool }) as unknown as AnyDb, client: pool, close: () => pool.end() };
}

function postgresJs(url: string): Connection {
  // onnotice: keep test output clean (PostgreSQL notices are informational).
  const client = postgres(url, { max: 4, onnotice: () => {} });
  return {
    db: drizzlePostgresJs({ client }) as unknown as AnyDb,
    client,
    close: () => client.end({ timeout: 5 }),
  };
}

async function createServerDatabase(
  driver: "node-postgres" | "postgres.js",
  options: { vector?: boolean } = {},
): Promise<TestDatabase> {
  const name = `relay_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  await admin((client) => client.query(`create database ${name}`));
  const url = urlFor(name);
  const open = driver === "node-postgres" ? nodePostgres : postgresJs;
  const opened: Connection[] = [];
  const connect = async () => {
    const connection = open(url);
    opened.push(connection);
    return connection;
  };
  const main = await connect();
  const exec = async (statements: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(statements);
    } finally {
      await client.end();
    }
  };
  if (options.vector ?? true) await exec("create extension if not exists vector");
  return {
    driver,
    db: main.db,
    client: main.client,
    realServer: true,
    url,
    exec,
    connect,
    close: async () => {
      await Promise.allSettled(opened.map((connection) => connection.close()));
      await admin((client) => client.query(`drop database if exists ${name} with (force)`));
    },
  };
}

const NO_SERVER = "DATABASE_URL is not set (run `npm run test:pg`, or `source .ci/postgres.sh start`)";

/** Every driver, available or not: suites run the available ones and report the others as NOT RUN. */
export const databases: readonly DatabaseFactory[] = [
  { driver: "pglite", realServer: false, unavailable: undefined, create: createPglite },
  {
    driver: "node-postgres",
    realServer: true,
    unavailable: DATABASE_URL ? undefined : NO_SERVER,
    create: (options) => createServerDatabase("node-postgres", options),
  },
  {
    driver: "postgres.js",
    realServer: true,
    unavailable: DATABASE_URL ? undefined : NO_SERVER,
    create: (options) => createServerDatabase("postgres.js", options),
  },
];
