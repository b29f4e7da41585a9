import type {
  Coverage,
  EmbeddingRecord,
  EmbeddingStore,
  EmbeddingTarget,
  PendingItem,
  ScanOptions,
  WriteOptions,
  WriteResult,
} from "../contracts/embedding-store.js";
import { hashText } from "../hash.js";

/** A stored vector in a {@link MemoryStore}. */
export interface MemoryRecord {
  readonly embedding: Float32Array;
  readonly hash: string;
  readonly model: string;
  readonly version: string;
}

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions<Row, Id> {
  /** The source rows. @default [] */
  rows?: Iterable<Row>;
  /** The key of a row. @default (row) => row.id */
  key?: (row: Row) => Id;
  /** The text of a row. @default (row) => row.text */
  text?: (row: Row) => string;
  /** Version stored with each vector; a different version makes rows stale. @default "1" */
  version?: string;
}

/** The in-memory store: an {@link EmbeddingStore} plus direct access for tests. */
export interface MemoryStore<Row, Id> extends EmbeddingStore<Id> {
  /** Source rows by key. Edit them freely, also while a backfill runs. */
  readonly rows: Map<Id, Row>;
  /** Stored vectors by key. */
  readonly records: Map<Id, MemoryRecord>;
  /** Every `write()` call's records, in order. */
  readonly writes: EmbeddingRecord<Id>[][];
  /** Called at the start of each `write()`: throw to make it fail, edit rows to race it. */
  beforeWrite?: (records: readonly EmbeddingRecord<Id>[]) => void | Promise<void>;
}

function compareKeys(a: unknown, b: unknown): number {
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/**
 * An in-memory {@link EmbeddingStore} for unit tests: keyset pages, compare-and-set writes,
 * transactions that roll back, coverage.
 *
 * @example
 * ```ts
 * const store = memoryStore({ rows: [{ id: 1, text: "hello" }] });
 * await backfill({ provider: scriptedProvider(), store });
 * store.records.get(1); // { embedding, hash, model, version }
 * ```
 */
export function memoryStore<Row = { id: number; text: string }, Id = number>(
  options: MemoryStoreOptions<Row, Id> = {},
): MemoryStore<Row, Id> {
  const keyOf = options.key ?? ((row: Row) => (row as { id: Id }).id);
  const textOf = options.text ?? ((row: Row) => (row as { text: string }).text);
  const version = options.version ?? "1";
  const rows = new Map<Id, Row>();
  for (const row of options.rows ?? []) rows.set(keyOf(row), row);
  const records = new Map<Id, MemoryRecord>();
  const writes: EmbeddingRecord<Id>[][] = [];

  const state = (id: Id, target: EmbeddingTarget): { item: PendingItem<Id>; status: keyof Coverage } => {
    const text = textOf(rows.get(id) as Row);
    const item = { id, text, hash: hashText(text) };
    const record = records.get(id);
    if (!record) return { item, status: "missing" };
    const current = record.hash === item.hash && record.model === target.model && record.version === version;
    return { item, status: current ? "embedded" : "stale" };
  };

  const store: MemoryStore<Row, Id> = {
    rows,
    records,
    writes,
    async *scan(scan: ScanOptions) {
      let last: Id | undefined;
      let hasLast = false;
      for (;;) {
        scan.signal?.throwIfAborted();
        const keys = [...rows.keys()]
          .filter((k) => !hasLast || compareKeys(k, last) > 0)
          .sort(compareKeys)
          .slice(0, scan.pageSize);
        if (keys.length === 0) return;
        last = keys[keys.length - 1];
        hasLast = true;
        const page = keys
          .map((k) => state(k, scan))
          .filter(({ status }) =>
            scan.reembed === "all"
              ? true
              : scan.reembed === "stale"
                ? status !== "embedded"
                : status === "missing",
          )
          .map(({ item }) => item);
        if (page.length > 0) yield page;
      }
    },
    async write(batch: readonly EmbeddingRecord<Id>[], write: WriteOptions): Promise<WriteResult<Id>> {
      writes.push([...batch]);
      await store.beforeWrite?.(batch);
      write.signal?.throwIfAborted();
      const conflicts: Id[] = [];
      let written = 0;
      for (const record of batch) {
        const row = rows.get(record.id);
        if (row === undefined || hashText(textOf(row)) !== record.hash) {
          conflicts.push(record.id);
          continue;
        }
        records.set(record.id, {
          embedding: record.embedding,
          hash: record.hash,
          model: write.model,
          version,
        });
        written++;
      }
      return { written, conflicts };
    },
    async transaction(work) {
      const saved = new Map(records);
      try {
        return await work(store);
      } catch (error) {
        records.clear();
        for (const [k, v] of saved) records.set(k, v);
        throw error;
      }
    },
    async coverage(target) {
      const counts = { total: 0, embedded: 0, stale: 0, missing: 0 };
      for (const id of rows.keys()) {
        counts.total++;
        counts[state(id, target).status]++;
      }
      return counts;
    },
  };
  return store;
}
