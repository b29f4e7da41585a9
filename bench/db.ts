/*
 * The benchmark's databases: PGlite in memory (always available) or a fresh database on the real
 * PostgreSQL server of DATABASE_URL, dropped afterwards, through node-postgres (the default, the
 * most used driver) or postgres.js.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import pg from "pg";
import postgres from "postgres";
import { type DataOptions, skillRange } from "./data.js";
import { DDL, skills } from "./schema.js";

export type AnyDb = PgDatabase<PgQueryResultHKT, any>;
export type DatabaseKind = "pglite" | "node-postgres" | "postgres.js";

export interface BenchDatabase {
  readonly kind: DatabaseKind;
  readonly db: AnyDb;
  /** The PGlite instance (PGlite only). */
  readonly pglite?: PGlite;
  /** A postgres.js client on the same database (real server only; the raw COPY goes through it). */
  readonly sql?: postgres.Sql;
  /** The database's own connection string (real server only). */
  readonly url?: string;
  exec(statements: string): Promise<void>;
  close(): Promise<void>;
}

async function admin<T>(serverUrl: string, work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    return await work(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function noDelaySocket(options: { host: string[]; port: number[] }): Promise<import("node:net").Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(options.port[0]!, options.host[0]!);
    socket.setNoDelay(true);
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * Where a seeded copy of the data waits, made once per run and row count: a PGlite data directory
 * dump (a file), or a template database on the real server. Opening from it skips initdb and seeding.
 */
export type SeedHandle =
  | { readonly kind: "pglite"; readonly file: string }
  | { readonly kind: "server"; readonly template: string };

const dumpDirectory = fileURLToPath(new URL("./.out/", import.meta.url));

/** Seeds the data once, for every child of this run to open a copy of. */
export async function prepareSeed(
  kind: DatabaseKind,
  data: DataOptions,
  serverUrl: string | undefined,
): Promise<SeedHandle> {
  if (kind === "pglite") {
    const pglite = await PGlite.create({ extensions: { vector } });
    try {
      await seedTables(pglite.exec.bind(pglite), drizzlePglite({ client: pglite }) as unknown as AnyDb, data);
      const dump = await pglite.dumpDataDir("none");
      await mkdir(dumpDirectory, { recursive: true });
      const file = join(dumpDirectory, `seed-${process.pid}-${data.rows}-${data.seed}.tar`);
      await writeFile(file, Buffer.from(await dump.arrayBuffer()));
      return { kind: "pglite", file };
    } finally {
      await pglite.close();
    }
  }
  if (!serverUrl) throw new Error("a real-server run needs DATABASE_URL");
  const template = `relay_bench_seed_${process.pid}_${data.rows}_${randomBytes(2).toString("hex")}`;
  await admin(serverUrl, (sql) => sql.unsafe(`create database ${template}`));
  const sql = postgres(urlOf(serverUrl, template), { onnotice: () => {}, max: 1 });
  try {
    await seedTables(
      (q) => sql.unsafe(q).then(() => {}),
      drizzlePostgres({ client: sql }) as unknown as AnyDb,
      data,
    );
  } finally {
    await sql.end({ timeout: 5 });
  }
  return { kind: "server", template };
}

/** Deletes what `prepareSeed` made. */
export async function dropSeed(seed: SeedHandle, serverUrl: string | undefined): Promise<void> {
  if (seed.kind === "pglite") await rm(seed.file, { force: true });
  else if (serverUrl)
    await admin(serverUrl, (sql) => sql.unsafe(`drop database if exists ${seed.template} with (force)`));
}

function urlOf(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A fresh copy of the seeded data: its own PGlite instance, or its own database on the server. */
export async function openDatabase(
  kind: DatabaseKind,
  seed: SeedHandle,
  serverUrl?: string,
): Promise<BenchDatabase> {
  if (kind === "pglite") {
    if (seed.kind !== "pglite") throw new Error("a PGlite database opens from a PGlite seed");
    const pglite = await PGlite.create({
      extensions: { vector },
      loadDataDir: new Blob([await readFile(seed.file)]),
    });
    return {
      kind,
      db: drizzlePglite({ client: pglite }) as unknown as AnyDb,
      pglite,
      exec: async (statements) => {
        await pglite.exec(statements);
      },
      close: () => pglite.close(),
    };
  }
  if (!serverUrl || seed.kind !== "server")
    throw new Error("a real-server run needs DATABASE_URL and a server seed");
  const name = `relay_bench_${process.pid}_${randomBytes(3).toString("hex")}`;
  await admin(serverUrl, (sql) => sql.unsafe(`create database ${name} template ${seed.template}`));
  const url = urlOf(serverUrl, name);
  // The raw COPY baseline gets TCP_NODELAY, which postgres.js does not set: without it, every COPY
  // waits ~40 ms for a delayed ACK before its CopyDone leaves (Nagle). The baseline is at its best.
  // (`socket` is a documented postgres.js option its types leave out.)
  const options = { onnotice: () => {}, max: 1, socket: noDelaySocket } as Parameters<typeof postgres>[1];
  const sql = postgres(url, options);
  // The contenders' driver, with the defaults a user gets.
  const pool = kind === "node-postgres" ? new pg.Pool({ connectionString: url }) : undefined;
  const client = kind === "postgres.js" ? postgres(url, { onnotice: () => {} }) : undefined;
  return {
    kind,
    db: (pool ? drizzleNodePg({ client: pool }) : drizzlePostgres({ client: client! })) as unknown as AnyDb,
    sql,
    url,
    exec: async (statements) => {
      await sql.unsafe(statements);
    },
    close: async () => {
      await pool?.end();
      await client?.end({ timeout: 5 });
      await sql.end({ timeout: 5 });
      await admin(serverUrl, (s) => s.unsafe(`drop database if exists ${name} with (force)`));
    },
  };
}

/** Creates the tables and inserts the skills, 500 rows a statement, in constant memory. */
async function seedTables(
  exec: (statements: string) => Promise<unknown>,
  db: AnyDb,
  data: DataOptions,
): Promise<void> {
  await exec(DDL);
  const chunk = 500;
  for (let from = 0; from < data.rows; from += chunk) {
    const rows = [...skillRange(data, from, Math.min(data.rows, from + chunk))].map((s) => ({
      ...s,
      tags: [...s.tags],
    }));
    await db.insert(skills).values(rows);
  }
  await exec("analyze skills");
}

/**
 * A database of its own on the real server for a bench script (`bench:models`, `bench:duplicates`):
 * created empty, reached through a node-postgres pool of `max` connections, dropped `with (force)` by
 * `drop()`. The pool ignores connection errors, which the forced drop causes.
 */
export async function scratchDatabase(
  serverUrl: string,
  prefix: string,
  max = 3,
): Promise<{ readonly pool: pg.Pool; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const pool = new pg.Pool({ connectionString: urlOf(serverUrl, name), max });
  pool.on("error", () => {});
  return {
    pool,
    async drop() {
      await pool.end();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
