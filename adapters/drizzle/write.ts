import type { EmbeddingRecord, WriteOptions, WriteResult } from "../../src/contracts/embedding-store.js";
import { DimensionMismatchError, StoreError } from "../../src/errors/index.js";
import {
  cancelOnAbort,
  guard,
  HALF_MAX,
  type HeldLock,
  halfOverflow,
  type PgSession,
  type StagedRow,
  stageRows,
} from "../../src/postgres/index.js";
import type { StoreConfig } from "./config.js";
import { copyNewRows, type WriteCache } from "./copy-new-rows.js";
import { type AnyPgDatabase, inTransaction, sessionOf } from "./driver.js";
import { formatKey, type LockedRow, lockRows, textOf } from "./source-rows.js";
import { upsertStatement } from "./upsert.js";

/** The key as text, the way it is sent and cast back (`serial` 7 → "7", bigint 2n → "2"). */
function keyText(config: StoreConfig, key: unknown): string {
  return String(config.source.key.mapToDriverValue(key));
}

function checkDimensions(config: StoreConfig, records: readonly EmbeddingRecord[], dimensions: number): void {
  for (const record of records) {
    if (record.embedding.length !== dimensions) {
      const column = `${config.target.name.display}.${config.target.embedding.name}`;
      throw new DimensionMismatchError(
        `The vector for ${config.source.name.display} row ${formatKey(record.id)} has ${record.embedding.length} dimensions; ${column} is written with ${dimensions}`,
        { expected: dimensions, actual: record.embedding.length, source: "store" },
      );
    }
    const at = config.target.type === "halfvec" ? halfOverflow(record.embedding) : undefined;
    if (at !== undefined) {
      throw new StoreError(
        `The vector for ${config.source.name.display} row ${formatKey(record.id)} has ${record.embedding[at]} at position ${at}, beyond what the halfvec column ${config.target.name.display}.${config.target.embedding.name} holds (±${HALF_MAX.toLocaleString("en-US")}): use a vector column.`,
        { reason: "row", rowId: record.id },
      );
    }
  }
}

/**
 * Writes one batch as one transaction (a savepoint inside `store.transaction()`), compare-and-set:
 * locks the batch's source rows, recomputes their text hashes, and writes only the records whose
 * hash still matches. Edited, deleted or filtered-out rows come back as `conflicts`; rows whose
 * `text()` gives another text when built again from the same row, as `nondeterministic`. Rows without a
 * target row are COPYed in; the others are upserted. An abort before the commit rolls the whole
 * batch back; an abort while a statement waits (for a row another transaction holds) cancels it on
 * the server through `guards.root`. With `guards.lock`, the run's lock is verified first, inside the
 * transaction: a run that lost its lock writes nothing more.
 */
export async function writeRecords<Id>(
  config: StoreConfig,
  db: AnyPgDatabase,
  records: readonly EmbeddingRecord<Id>[],
  options: WriteOptions,
  cache: WriteCache,
  guards: { readonly lock?: HeldLock; readonly root: PgSession },
): Promise<WriteResult<Id>> {
  const { signal } = options;
  signal?.throwIfAborted();
  if (records.length === 0) return { written: 0, conflicts: [] };
  checkDimensions(config, records, options.dimensions);

  // The same row twice in a batch would make ON CONFLICT fail: the last record wins.
  const wanted = new Map<string, EmbeddingRecord<Id>>();
  for (const record of records) wanted.set(keyText(config, record.id), record);

  const operation = `Writing ${wanted.size} embeddings to ${config.target.name.display}`;
  return guard(
    operation,
    () =>
      inTransaction(db, async (tx) => {
        const session = sessionOf(tx, true);
        await guards.lock?.verify(session);
        const stopCancelling = await cancelOnAbort(session, guards.root, signal);
        try {
          return await writeLocked(tx, session);
        } finally {
          stopCancelling();
        }
      }),
    signal,
  );

  async function writeLocked(tx: AnyPgDatabase, session: PgSession): Promise<WriteResult<Id>> {
    // Matched in SQL by the key's text, never by its JavaScript value (which may not round-trip).
    // Two texts of one key ("1", "01") find the same row: the first keeps it, the other conflicts.
    const current = new Map<string, LockedRow>();
    const rows = new Set<string>();
    for (const found of await lockRows(config, tx, [...wanted.keys()], options.model)) {
      if (rows.has(found.cursor)) continue;
      rows.add(found.cursor);
      current.set(found.wanted, found);
    }
    const fresh: StagedRow[] = [];
    let stored: StagedRow[] = [];
    const conflicts: Id[] = [];
    const nondeterministic: Id[] = [];
    for (const [key, record] of wanted) {
      const found = current.get(key);
      // A SQL recipe's hash comes computed with the locked row; a JavaScript one is built here.
      const text = found && (found.hash === undefined ? textOf(config, found.key, found.row) : undefined);
      if (found && (found.hash ?? text?.hash) === record.hash) {
        const row = { key, hash: record.hash, embedding: record.embedding };
        (found.stored ? stored : fresh).push(row);
      } else if (found && text && textOf(config, found.key, found.row).text !== text.text) {
        // Built twice from the same locked row, the text differs from itself: text() is to blame.
        nondeterministic.push(record.id);
      } else {
        conflicts.push(record.id);
      }
    }
    signal?.throwIfAborted();
    if (fresh.length > 0 && !(await copyNewRows(config, tx, fresh, options.model, cache))) {
      stored = stored.concat(fresh);
    }
    if (stored.length > 0) {
      const staging = { binary: config.binaryWrites, cache, type: config.target.type };
      await stageRows(session, stored, staging, async (rows) => {
        await tx.execute(upsertStatement(config, rows, options.model));
      });
    }
    // Throwing here rolls the batch back: nothing of it stays written.
    signal?.throwIfAborted();
    return {
      written: wanted.size - conflicts.length - nondeterministic.length,
      conflicts,
      // Only when there are some: most stores never report any.
      ...(nondeterministic.length > 0 ? { nondeterministic } : {}),
    };
  }
}
