import type { EmbeddingRecord, WriteOptions, WriteResult } from "../../src/contracts/embedding-store.js";
import { DimensionMismatchError } from "../../src/errors/index.js";
import type { StagedRow } from "./binary.js";
import type { StoreConfig } from "./config.js";
import { guard } from "./database-error.js";
import type { AnyPgDatabase } from "./driver.js";
import { formatKey, lockRows, textOf } from "./source-rows.js";
import { stageRows, type WriteCache } from "./stage-rows.js";
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
  }
}

/**
 * Writes one batch as one transaction (a savepoint inside `store.transaction()`), compare-and-set:
 * locks the batch's source rows, recomputes their text hashes, and writes only the records whose
 * hash still matches. Edited, deleted or filtered-out rows come back as `conflicts`. An abort before
 * the commit rolls the whole batch back.
 */
export async function writeRecords<Id>(
  config: StoreConfig,
  db: AnyPgDatabase,
  records: readonly EmbeddingRecord<Id>[],
  options: WriteOptions,
  cache: WriteCache,
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
      db.transaction(async (tx) => {
        const current = new Map<string, { key: unknown; row: Record<string, unknown> }>();
        for (const found of await lockRows(
          config,
          tx,
          [...wanted.values()].map((record) => record.id),
        )) {
          current.set(keyText(config, found.key), found);
        }
        const accepted: StagedRow[] = [];
        const conflicts: Id[] = [];
        for (const [key, record] of wanted) {
          const found = current.get(key);
          if (found && textOf(config, found.key, found.row).hash === record.hash) {
            accepted.push({ key, hash: record.hash, embedding: record.embedding });
          } else {
            conflicts.push(record.id);
          }
        }
        signal?.throwIfAborted();
        if (accepted.length > 0) {
          await stageRows(tx, accepted, { binary: config.binaryWrites, cache }, async (rows) => {
            await tx.execute(upsertStatement(config, rows, options.model));
          });
        }
        // Throwing here rolls the batch back: nothing of it stays written.
        signal?.throwIfAborted();
        return { written: accepted.length, conflicts };
      }),
    signal,
  );
}
