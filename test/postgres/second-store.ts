/*
 * A second PostgreSQL store, written here on the kit alone (no Drizzle, no query builder: SQL text and
 * the kit's sessions), run by backfill() on every driver. It is what the README's kit section sketches:
 * the proof that a new store reuses the kit's checks, lock, staging and error mapping rather than
 * copying the Drizzle adapter.
 */
import { beforeAll, beforeEach, expect, it } from "vitest";
import type {
  Coverage,
  CoverageOptions,
  EmbeddingRecord,
  EmbeddingStore,
  EmbeddingTarget,
  PendingItem,
  ScanOptions,
  WriteOptions,
  WriteResult,
} from "../../src/contracts/embedding-store.js";
import { backfill, hashText, InvalidOptionError, StoreError } from "../../src/index.js";
import {
  acquireRunLock,
  checkTableColumns,
  checkUniqueIndex,
  checkVectorColumn,
  checkVectorExtension,
  fragmentQuery,
  guard,
  type HeldLock,
  joinFragments,
  type PgSession,
  rawFragment,
  type StagingCache,
  stageRows,
  tableName,
} from "../../src/postgres/index.js";
import { deterministicEmbedding, scriptedProvider } from "../../src/testing/index.js";
import type { TestDatabase } from "../support/index.js";
import { inTransaction, parseVector, sessionFor } from "./helpers.js";

const DIMENSIONS = 8;
const notes = tableName("notes");

interface NoteRow {
  id: number;
  body: string;
  hash: string | null;
  model: string | null;
  [column: string]: unknown;
}

/** The `notes` table keeps its own vector (same-row layout): `embedding`, `embedding_model`, `embedding_hash`. */
function notesStore(session: PgSession): EmbeddingStore<number> {
  let lock: HeldLock | undefined;
  let prepared: EmbeddingTarget | undefined;
  const cache: StagingCache = {};
  const select = "select id, body, embedding_hash as hash, embedding_model as model from notes";

  const store: EmbeddingStore<number> = {
    async prepare(target) {
      await guard("Checking notes", async () => {
        await checkVectorExtension(session);
        const columns = await checkTableColumns(session, notes, [
          "id",
          "body",
          "embedding",
          "embedding_model",
          "embedding_hash",
        ]);
        checkVectorColumn({ table: notes, column: columns.find((c) => c.name === "embedding")!, target });
        await checkUniqueIndex(session, notes, ["id"], "so rows can be paged by key");
      });
      prepared = target;
      lock ??= await acquireRunLock(session, { resource: "test:notes.embedding", display: "notes" });
    },
    async release() {
      await lock?.release();
      lock = undefined;
    },
    async *scan(options: ScanOptions): AsyncIterable<PendingItem<number>[]> {
      let after = 0;
      for (;;) {
        const rows = await guard("Reading notes", () =>
          session.query<NoteRow>(`${select} where id > $1 order by id limit $2`, [after, options.pageSize], {
            signal: options.signal,
          }),
        );
        const items = rows
          .map((row) => ({ id: row.id, text: row.body, hash: hashText(row.body), row }))
          .filter(
            (item) =>
              options.reembed === "all" || item.row.hash !== item.hash || item.row.model !== options.model,
          )
          .map(({ id, text, hash }) => ({ id, text, hash }));
        if (items.length > 0) yield items;
        if (rows.length < options.pageSize) return;
        after = rows[rows.length - 1]!.id;
      }
    },
    write(records: readonly EmbeddingRecord<number>[], options: WriteOptions): Promise<WriteResult<number>> {
      return guard(
        `Writing ${records.length} embeddings to notes`,
        () =>
          inTransaction(session, async (tx) => {
            // Compare-and-set: lock the rows, and write only the vectors of texts that did not change.
            const current = await tx.query<NoteRow>(`${select} where id = any($1::int[]) for no key update`, [
              `{${records.map((r) => r.id).join(",")}}`,
            ]);
            const bodies = new Map(current.map((row) => [row.id, row.body]));
            const fresh = records.filter((r) => bodies.has(r.id) && hashText(bodies.get(r.id)!) === r.hash);
            const rows = fresh.map((r) => ({ key: String(r.id), hash: r.hash, embedding: r.embedding }));
            await stageRows(tx, rows, { binary: true, cache }, async (staged) => {
              const { text, params } = fragmentQuery(
                joinFragments(
                  [
                    staged.with ?? rawFragment(""),
                    rawFragment(" update notes set embedding = v.embedding, embedding_hash = v.hash, "),
                    rawFragment("embedding_model = "),
                    { strings: ["", ""], values: [options.model] },
                    rawFragment(" from "),
                    staged.from,
                    rawFragment(" where notes.id = v.key::int"),
                  ],
                  "",
                ),
              );
              await tx.query(text, params);
            });
            options.signal?.throwIfAborted();
            const written = new Set(fresh.map((r) => r.id));
            return {
              written: fresh.length,
              conflicts: records.filter((r) => !written.has(r.id)).map((r) => r.id),
            };
          }),
        options.signal,
      );
    },
    async transaction() {
      throw new StoreError("This sketch has no atomic runs.", { reason: "unsupported" });
    },
    async coverage(options: CoverageOptions = {}): Promise<Coverage> {
      const model = options.model ?? prepared?.model;
      if (model === undefined) throw new InvalidOptionError("model", "given, or the store prepared first");
      const rows = await guard("Counting notes", () =>
        session.query<NoteRow>(select, [], { signal: options.signal }),
      );
      const missing = rows.filter((row) => row.hash === null).length;
      const embedded = rows.filter((row) => row.hash === hashText(row.body) && row.model === model).length;
      return { total: rows.length, embedded, stale: rows.length - embedded - missing, missing };
    },
  };
  return store;
}

/** A second store on the kit: registered by kit.test.ts inside its suite for one database (`db()` is it, once created). */
export function secondStoreTests(db: () => TestDatabase): void {
  let t: TestDatabase;

  beforeAll(async () => {
    t = db();
    await t.exec(`create table notes (id integer primary key, body text not null,
      embedding vector(${DIMENSIONS}), embedding_model text, embedding_hash text)`);
  });
  beforeEach(() =>
    t.exec(
      `truncate notes; insert into notes (id, body) select i, 'note ' || i || ' about ' || (i % 4) from generate_series(1, 45) i`,
    ),
  );

  it("backfills, resumes with nothing to do, and re-embeds an edited row", async () => {
    const store = notesStore(sessionFor(t));
    const provider = scriptedProvider({ dimensions: DIMENSIONS, limits: { maxInputsPerRequest: 10 } });
    const first = await backfill({ provider, store, pageSize: 20 });
    expect(first).toMatchObject({ scanned: 45, embedded: 45, failed: 0 });
    const rows = await sessionFor(t).query<{ id: number; body: string; embedding: string }>(
      "select id, body, embedding::text as embedding from notes order by id",
    );
    for (const row of rows) {
      expect(parseVector(row.embedding)).toEqual([...deterministicEmbedding(row.body, DIMENSIONS)]);
    }
    expect(await store.coverage({ model: provider.model })).toEqual({
      total: 45,
      embedded: 45,
      stale: 0,
      missing: 0,
    });

    await t.exec("update notes set body = 'rewritten' where id = 7");
    const second = await backfill({ provider, store });
    expect(second).toMatchObject({ scanned: 1, embedded: 1 });
    expect(provider.calls.at(-1)?.texts).toEqual(["rewritten"]);
  });
}
