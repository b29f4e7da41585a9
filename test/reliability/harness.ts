/*
 * Shared by the reliability suite: the tables, the providers pointed at the emulator, and the one
 * invariant every test checks after every run (`verifyEmbeddings`):
 *
 * - no key has two rows in the embeddings table, and none belongs to a row that is gone;
 * - every stored vector is `deterministicEmbedding` of the text its stored hash names (what the
 *   emulator returns for that text), so no vector is ever wrong for the text it claims;
 * - hence every row is either embedded from its CURRENT text (stored hash = hash of the current text,
 *   vector recomputed from the current text) or still pending (no vector, or a hash of older text):
 *   never stale-but-marked-current.
 */
import { appendFileSync } from "node:fs";
import { sql } from "drizzle-orm";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openaiProvider } from "../../providers/openai/index.js";
import { voyageProvider } from "../../providers/voyage/index.js";
import { hashText } from "../../src/index.js";
import { toHalfPrecision } from "../../src/postgres/index.js";
import {
  createEmbeddingsEmulator,
  deterministicEmbedding,
  type EmbeddingsEmulator,
  type EmbeddingsEmulatorOptions,
  emulatorTruncate,
} from "../../src/testing/index.js";
import { emulatorHandlers } from "../../src/testing/msw.js";
import { type AnyDb, type DatabaseFactory, databases } from "../support/index.js";
import {
  type ColumnKind,
  DIMENSIONS,
  type ItemRow,
  type ItemTables,
  itemText,
  OPENAI_MODEL,
  VERSION,
  VOYAGE_CONTEXT,
  VOYAGE_MODEL,
} from "./schema.js";

export { reachableStrings, rejectionOf } from "../support/assertions.js";

/*
 * API keys shaped like nothing the redaction's patterns know (no `sk-`/`pa-`/`al-` prefix, no
 * Bearer): only the providers' own redaction of their key can keep them out of errors, logs and events.
 */
export const VOYAGE_KEY = "relvoy_4QmX9vTz2LwP7dRk";
export const OPENAI_KEY = "relopn_8HcN3yUe5JbG1sFa";

export * from "./schema.js";

/** Empties both tables and inserts `rows` (in chunks: a statement takes at most 65,535 parameters). */
export async function resetItems(db: AnyDb, tables: ItemTables, rows: readonly ItemRow[]): Promise<void> {
  await db.execute(sql.raw(`truncate rel_items_${tables.suffix} cascade`));
  for (let i = 0; i < rows.length; i += 5000) {
    await db.insert(tables.items).values(rows.slice(i, i + 5000) as any);
  }
}

/** What the emulator returns for `text`: lone surrogates replaced (the engine does), context truncation. */
export function expectedVector(text: string): Float32Array {
  return deterministicEmbedding(emulatorTruncate(text.toWellFormed(), VOYAGE_CONTEXT), DIMENSIONS);
}

/**
 * Whether a vector read back from a column of `column`'s type is exactly `expected` as that column
 * stores it: float4 for `vector`, rounded to half precision for `halfvec`, and for `bit` the sign bits
 * Voyage's `ubinary` packs (a component > 0 is a 1), read back as a bit string.
 */
export function storedEquals(column: ColumnKind, stored: unknown, expected: Float32Array): boolean {
  if (column === "bit") {
    return stored === Array.from(expected, (x) => (x > 0 ? "1" : "0")).join("");
  }
  const want = column === "halfvec" ? toHalfPrecision(expected) : expected;
  const got = stored as number[];
  return got.length === want.length && got.every((x, i) => Math.fround(x) === want[i]);
}

/** Counts of one verification. */
export interface Verified {
  readonly rows: number;
  /** Embedded from the current text (vector recomputed and equal). */
  readonly current: number;
  /** No vector, or one from older text: the next run picks them up. */
  readonly pending: number;
  /** Keys of the pending rows, printed (`String(key)`). */
  readonly pendingIds: string[];
}

/** Running totals for the README's figures (written when RELIABILITY_TALLY names a file). */
export const tally = { faults: 0, rowsVerified: 0, sigkills: 0 };

export function writeTally(file: string): void {
  afterAll(() => {
    const out = process.env.RELIABILITY_TALLY;
    if (out) appendFileSync(out, `${JSON.stringify({ file, ...tally })}\n`);
  });
}

/** Rows of a raw query, whatever the driver (node-postgres and PGlite answer `{ rows }`, postgres.js an array). */
export async function queryRows<T>(db: AnyDb, query: ReturnType<typeof sql>): Promise<T[]> {
  const result: unknown = await db.execute(query);
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/**
 * Checks the invariant (see the top of this file) on every row and returns the counts. `history` holds
 * texts rows had earlier in the test (a stale vector must still be exactly the vector of one of them);
 * `model` is the model every vector must name.
 */
export async function verifyEmbeddings(
  db: AnyDb,
  tables: ItemTables,
  options: { text?: (row: any) => string; history?: Iterable<string>; model?: string } = {},
): Promise<Verified> {
  const { items, embeddings, suffix } = tables;
  const textOf = options.text ?? itemText;
  const model = options.model ?? VOYAGE_MODEL;

  const duplicates = await queryRows(
    db,
    sql.raw(
      `select item_id::text as key, count(*)::int as n from rel_item_embeddings_${suffix} group by item_id having count(*) > 1`,
    ),
  );
  expect(duplicates, "keys with more than one embedding row").toEqual([]);
  const orphans = await queryRows(
    db,
    sql.raw(
      `select e.item_id::text as key from rel_item_embeddings_${suffix} e left join rel_items_${suffix} i on i.id = e.item_id where i.id is null`,
    ),
  );
  expect(orphans, "embeddings of rows that are gone").toEqual([]);

  const byHash = new Map<string, string>();
  for (const t of options.history ?? []) byHash.set(hashText(t), t);
  const all = await db
    .select({
      row: items,
      embedding: embeddings.embedding,
      hash: embeddings.inputHash,
      model: embeddings.model,
      version: embeddings.modelVersion,
    })
    .from(items)
    .leftJoin(embeddings, sql`${embeddings.itemId} = ${items.id}`);

  let current = 0;
  const pendingIds: string[] = [];
  const problems: string[] = [];
  for (const { row, embedding, hash, model: storedModel, version } of all as any[]) {
    const text = textOf(row);
    const currentHash = hashText(text);
    byHash.set(currentHash, text);
    const id = String(row.id);
    if (embedding === null || embedding === undefined) {
      pendingIds.push(id);
      continue;
    }
    if (storedModel !== model || version !== VERSION)
      problems.push(`${id}: model ${storedModel} v${version}`);
    const claimed = byHash.get(hash);
    if (claimed === undefined) {
      problems.push(`${id}: stored hash names no text this row ever had`);
      continue;
    }
    const equal = storedEquals(tables.column, embedding, expectedVector(claimed));
    if (!equal) {
      problems.push(
        `${id}: vector differs from the embedding of ${hash === currentHash ? "its current" : "its stored hash's"} text`,
      );
      continue;
    }
    if (hash === currentHash) current++;
    else pendingIds.push(id);
  }
  expect(problems, "rows breaking the invariant").toEqual([]);
  tally.rowsVerified += all.length;
  return { rows: all.length, current, pending: pendingIds.length, pendingIds };
}

/** Counts the faults the emulator showed (for the figures), then forgets calls, stats and faults. */
export function resetEmulator(emulator: EmbeddingsEmulator): void {
  tally.faults += emulator.calls.filter((call) => call.fault !== undefined).length;
  emulator.reset();
}

/** Which emulator transport carries the requests. */
export type Transport = "msw" | "loopback";

/** The emulator behind one transport, for a describe block; faults and calls reset after each test. */
export interface EmulatorHarness {
  emulator: EmbeddingsEmulator;
  /** Base URLs the providers must use (the real hosts under MSW). */
  voyageBaseURL: string;
  openaiBaseURL: string;
}

export function useEmulator(transport: Transport, options: EmbeddingsEmulatorOptions = {}): EmulatorHarness {
  const h = {} as EmulatorHarness;
  let stop: (() => Promise<void> | void) | undefined;
  beforeAll(async () => {
    h.emulator = createEmbeddingsEmulator(options);
    if (transport === "msw") {
      const server = setupServer(...emulatorHandlers(h.emulator));
      server.listen({ onUnhandledRequest: "error" });
      stop = () => server.close();
      h.voyageBaseURL = "https://api.voyageai.com/v1";
      h.openaiBaseURL = "https://api.openai.com/v1";
    } else {
      const server = await h.emulator.listen();
      stop = server.close;
      h.voyageBaseURL = server.voyageBaseUrl;
      h.openaiBaseURL = server.openaiBaseUrl;
    }
  });
  afterEach(() => resetEmulator(h.emulator));
  afterAll(async () => stop?.());
  return h;
}

/** voyage-3.5 at 256 dimensions, pointed at `baseURL`. */
export function voyage(
  baseURL: string,
  options: { timeoutMs?: number; truncation?: boolean; fetch?: typeof globalThis.fetch } = {},
) {
  return voyageProvider({
    apiKey: VOYAGE_KEY,
    model: VOYAGE_MODEL,
    outputDimension: DIMENSIONS,
    baseURL,
    ...options,
  });
}

/** text-embedding-3-small at 256 dimensions, pointed at `baseURL`. */
export function openai(baseURL: string, options: { timeoutMs?: number } = {}) {
  return openaiProvider({
    apiKey: OPENAI_KEY,
    model: OPENAI_MODEL,
    dimensions: DIMENSIONS,
    baseURL,
    ...options,
  });
}

/** Fast retries, small batches, two requests in flight: many requests from few rows. */
export const FAST = {
  retryMinDelayMs: 2,
  retryMaxDelayMs: 40,
  maxInputsPerRequest: 4,
  concurrency: 2,
} as const;

/**
 * A describe block on the real server (node-postgres' factory: the test decides which drivers its
 * processes use). Without DATABASE_URL it is reported as NOT RUN, and under CI it fails instead.
 */
export function describeOnServer(title: string, suite: (database: DatabaseFactory) => void): void {
  const database = databases.find((d) => d.driver === "node-postgres")!;
  const name = `${title} [real server]`;
  if (!database.unavailable) describe(name, () => suite(database));
  else if (process.env.CI) {
    describe(name, () => {
      it("has a real PostgreSQL server (CI requires DATABASE_URL)", () => {
        throw new Error(`CI is set but the real-server part cannot run: ${database.unavailable}`);
      });
    });
  } else describe.skip(`${name} NOT RUN: ${database.unavailable}`, () => suite(database));
}
