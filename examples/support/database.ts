/*
 * The database an example runs on: PostgreSQL at DATABASE_URL through node-postgres, or else an
 * embedded PGlite database (PostgreSQL compiled to WASM, with pgvector) kept in a local folder, so
 * that `npm run example` needs no setup and a second run finds the first run's data.
 *
 * PGlite is one process per data folder: two processes on one folder corrupt it. A lock file beside
 * the folder makes a second process stop with a clear message instead.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import pg from "pg";

/** Any Drizzle PostgreSQL database: what `drizzleStore({ db })` accepts. */
export type Database = PgDatabase<PgQueryResultHKT>;

export interface ExampleDatabase {
  readonly db: Database;
  /** Whether this is the embedded PGlite database (the examples seed it). */
  readonly embedded: boolean;
  /** One line saying which database this is, without credentials. */
  readonly description: string;
  close(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The folder holding the embedded databases: `EXAMPLES_DATA_DIR`, or `.data/` at the repository root
 * (gitignored). `npm run examples` and the tests point it at a fresh temporary folder.
 */
export function dataRoot(): string {
  return process.env.EXAMPLES_DATA_DIR || join(REPO_ROOT, ".data");
}

/** Opens PostgreSQL at `DATABASE_URL`, or the embedded database `name` (its own folder). */
export async function openDatabase(name: string): Promise<ExampleDatabase> {
  const url = process.env.DATABASE_URL;
  if (url) {
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    const { host, pathname } = new URL(url);
    return {
      db: drizzleNodePg({ client: pool }),
      embedded: false,
      description: `PostgreSQL at ${host}${pathname} (DATABASE_URL)`,
      close: () => pool.end(),
    };
  }
  const folder = join(dataRoot(), name);
  mkdirSync(dirname(folder), { recursive: true });
  const unlock = lockFolder(folder);
  try {
    const client = await PGlite.create({ dataDir: folder, extensions: { vector } });
    const shown = relative(process.cwd(), folder) || folder;
    return {
      db: drizzlePglite({ client }),
      embedded: true,
      description: `embedded PGlite database in ${shown.startsWith("..") ? folder : shown} (set DATABASE_URL to use PostgreSQL)`,
      close: async () => {
        await client.close();
        unlock();
      },
    };
  } catch (error) {
    unlock();
    throw error;
  }
}

/** Takes `<folder>.lock` for this process, or throws if a live process holds it. */
function lockFolder(folder: string): () => void {
  const file = `${folder}.lock`;
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number.parseInt(readFileSync(file, "utf8"), 10);
      if (isAlive(holder)) {
        throw new FolderInUseError(
          `${folder} is in use by process ${holder}: PGlite allows one process per data folder. ` +
            "Wait for that run to finish, or set EXAMPLES_DATA_DIR to another folder.",
        );
      }
      rmSync(file, { force: true }); // left by a process that died
    }
  }
  const unlock = () => {
    process.off("exit", unlock);
    rmSync(file, { force: true });
  };
  process.on("exit", unlock);
  return unlock;
}

/** A condition to report, not a bug: shown without a stack trace. */
class FolderInUseError extends Error {
  override name = "FolderInUseError";
  constructor(message: string) {
    super(message);
    this.stack = `${this.name}: ${message}`;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
