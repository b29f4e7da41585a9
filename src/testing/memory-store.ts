import { formatIds } from "../backfill/format-ids.js";
import type {
  Coverage,
  CoverageOptions,
  EmbeddingRecord,
  EmbeddingStore,
  EmbeddingTarget,
  KeyBound,
  KeyBoundariesOptions,
  KeyRange,
  PendingItem,
  RefusedRow,
  RememberRefusedOptions,
  ScanOptions,
  WriteOptions,
  WriteResult,
} from "../contracts/embedding-store.js";
import { InvalidOptionError } from "../errors/invalid-option-error.js";
import { StoreError } from "../errors/store-error.js";
import { hashText } from "../hash.js";
import { checkRowIds } from "../search/row-ids.js";

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
  /**
   * Rows remembered as refused by the provider for their length: key → model → hash of the text
   * refused. A scan yields such a row with `refused: true` while its text keeps that hash (unless
   * `retryRefused`); a vector written for it (any model's refusal aside) forgets it for that model.
   */
  readonly refusals: Map<Id, Map<string, string>>;
  /** Every `write()` call's records, in order. */
  readonly writes: EmbeddingRecord<Id>[][];
  /** Called at the start of each `write()`: throw to make it fail, edit rows to race it. */
  beforeWrite?: (records: readonly EmbeddingRecord<Id>[]) => void | Promise<void>;
  /** The key of every `every`-th row in key order but the last row's, as text (`String(key)`, ISO for Dates). */
  keyBoundaries(options: KeyBoundariesOptions): Promise<KeyBound[]>;
  /** A view of this store's rows in `range`: the same rows, vectors and writes. */
  withKeyRange(range: KeyRange): EmbeddingStore<Id>;
  /**
   * A view of this store's rows with these keys, for `embedRows()`: its `prepare()` throws
   * `StoreError` (`unknown_rows`, `rowIds`) for a key that names no row.
   */
  withKeys(ids: readonly Id[]): EmbeddingStore<Id>;
}

function compareKeys(a: unknown, b: unknown): number {
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/** A key part's text form, as PostgreSQL would print it for the usual key types. */
function partText(part: unknown): string {
  return part instanceof Date ? part.toISOString() : String(part);
}

/** A key's {@link KeyBound}: one text per part (a composite key is an array of parts). */
function boundOf(key: unknown): KeyBound {
  return Array.isArray(key) ? key.map(partText) : [partText(key)];
}

/** Compares one key part with its text form in a bound, reading the text as the part's type. */
function comparePart(part: unknown, text: string): number {
  if (typeof part === "number") return compareKeys(part, Number(text));
  if (typeof part === "bigint") return compareKeys(part, BigInt(text));
  if (part instanceof Date) return compareKeys(part.getTime(), Date.parse(text));
  return compareKeys(String(part), text);
}

/** Compares a key with a bound, part by part (row comparison, as SQL does for composite keys). */
function compareToBound(key: unknown, bound: KeyBound): number {
  const parts = Array.isArray(key) ? key : [key];
  for (let i = 0; i < parts.length; i++) {
    const order = comparePart(parts[i], bound[i]!);
    if (order !== 0) return order;
  }
  return 0;
}

function checkBound(bound: unknown, option: string): KeyBound | undefined {
  if (bound === undefined) return undefined;
  if (!Array.isArray(bound) || bound.length === 0 || bound.some((part) => typeof part !== "string")) {
    throw new InvalidOptionError(option, 'an array of the key\'s parts as strings, e.g. ["42"]');
  }
  return bound;
}

/** Whether `key` lies in `range` (after < key <= through). */
function inRange(key: unknown, range: KeyRange): boolean {
  if (range.after && compareToBound(key, range.after) <= 0) return false;
  if (range.through && compareToBound(key, range.through) > 0) return false;
  return true;
}

/**
 * An in-memory {@link EmbeddingStore} for unit tests: keyset pages, compare-and-set writes,
 * transactions that roll back, coverage, key ranges (`keyBoundaries`, `withKeyRange`) and given keys
 * (`withKeys`, for `embedRows()`) compared by the keys' JavaScript values (numbers, bigints, strings,
 * Dates, or arrays of them).
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
  const textOfRow = options.text ?? ((row: Row) => (row as { text: string }).text);
  /** The row's text; a throwing or non-string `text()` becomes a `StoreError` naming the row. */
  const textOf = (id: Id, row: Row): string => {
    let text: unknown;
    try {
      text = textOfRow(row);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new StoreError(`text() threw for row ${String(id)}: ${detail}`, {
        reason: "row",
        rowId: id,
        cause: error,
      });
    }
    if (typeof text !== "string") {
      throw new StoreError(`text() returned ${typeof text} for row ${String(id)}; expected a string`, {
        reason: "row",
        rowId: id,
      });
    }
    return text;
  };
  const version = options.version ?? "1";
  const rows = new Map<Id, Row>();
  for (const row of options.rows ?? []) rows.set(keyOf(row), row);
  const records = new Map<Id, MemoryRecord>();
  const writes: EmbeddingRecord<Id>[][] = [];
  const refusals = new Map<Id, Map<string, string>>();
  let prepared: EmbeddingTarget | undefined;

  const state = (
    id: Id,
    target: Pick<EmbeddingTarget, "model"> & { readonly retryRefused?: boolean },
  ): { item: PendingItem<Id>; status: keyof Coverage } => {
    const text = textOf(id, rows.get(id) as Row);
    const hash = hashText(text);
    const refused = !target.retryRefused && refusals.get(id)?.get(target.model) === hash;
    const item = refused ? { id, text: "", hash, refused } : { id, text, hash };
    const record = records.get(id);
    if (!record) return { item, status: "missing" };
    const current = record.hash === item.hash && record.model === target.model && record.version === version;
    return { item, status: current ? "embedded" : "stale" };
  };

  /** Remembers the target: `coverage()` without a model counts for its model. */
  const prepare = async (target: EmbeddingTarget): Promise<void> => {
    prepared = target;
  };

  /** The keys of the rows `keep` keeps (all rows without it), in key order. */
  const sortedKeys = (keep: ((key: Id) => boolean) | undefined): Id[] =>
    [...rows.keys()].filter((k) => keep === undefined || keep(k)).sort(compareKeys);

  async function* scan(options: ScanOptions, keep?: (key: Id) => boolean): AsyncGenerator<PendingItem<Id>[]> {
    let last: Id | undefined;
    let hasLast = false;
    for (;;) {
      options.signal?.throwIfAborted();
      const keys = sortedKeys(keep)
        .filter((k) => !hasLast || compareKeys(k, last) > 0)
        .slice(0, options.pageSize);
      if (keys.length === 0) return;
      last = keys[keys.length - 1];
      hasLast = true;
      const page = keys
        .map((k) => state(k, options))
        .filter(({ status }) =>
          options.reembed === "all"
            ? true
            : options.reembed === "stale"
              ? status !== "embedded"
              : status === "missing",
        )
        .map(({ item }) => item);
      if (page.length > 0) yield page;
    }
  }

  async function coverage(options: CoverageOptions = {}, keep?: (key: Id) => boolean): Promise<Coverage> {
    options.signal?.throwIfAborted();
    const model = options.model ?? prepared?.model;
    if (model === undefined) {
      throw new InvalidOptionError("model", "given (`coverage({ model })`), or the store prepared first");
    }
    const target = { model };
    const counts = { total: 0, embedded: 0, stale: 0, missing: 0 };
    for (const id of sortedKeys(keep)) {
      counts.total++;
      counts[state(id, target).status]++;
    }
    return counts;
  }

  /** The store's rows that `keep` keeps: same rows, vectors and writes, a narrower scan and coverage. */
  const restricted = (
    keep: (key: Id) => boolean,
    prepareView: (target: EmbeddingTarget) => Promise<void> = prepare,
  ): EmbeddingStore<Id> => {
    const view: EmbeddingStore<Id> = {
      prepare: prepareView,
      scan: (options) => scan(options, keep),
      write: (batch, options) => store.write(batch, options),
      rememberRefused: (refused, options) => store.rememberRefused!(refused, options),
      transaction: (work) => store.transaction(() => work(view)),
      coverage: (options) => coverage(options, keep),
      keyBoundaries: (options) => store.keyBoundaries(options),
      withKeyRange: (inner) => store.withKeyRange(inner),
    };
    return view;
  };

  const store: MemoryStore<Row, Id> = {
    rows,
    records,
    refusals,
    writes,
    prepare,
    scan: (options) => scan(options),
    async write(batch: readonly EmbeddingRecord<Id>[], write: WriteOptions): Promise<WriteResult<Id>> {
      writes.push([...batch]);
      await store.beforeWrite?.(batch);
      write.signal?.throwIfAborted();
      const conflicts: Id[] = [];
      const nondeterministic: Id[] = [];
      let written = 0;
      for (const record of batch) {
        const row = rows.get(record.id);
        if (row === undefined) {
          conflicts.push(record.id);
          continue;
        }
        const text = textOf(record.id, row);
        if (hashText(text) !== record.hash) {
          // The same row, built twice: a text that differs from itself is text()'s doing, not an edit.
          (textOf(record.id, row) === text ? conflicts : nondeterministic).push(record.id);
          continue;
        }
        records.set(record.id, {
          embedding: record.embedding,
          hash: record.hash,
          model: write.model,
          version,
        });
        refusals.get(record.id)?.delete(write.model);
        written++;
      }
      return { written, conflicts, ...(nondeterministic.length > 0 ? { nondeterministic } : {}) };
    },
    async rememberRefused(refused: readonly RefusedRow<Id>[], options: RememberRefusedOptions) {
      options.signal?.throwIfAborted();
      for (const { id, hash } of refused) {
        const byModel = refusals.get(id) ?? new Map<string, string>();
        byModel.set(options.model, hash);
        refusals.set(id, byModel);
      }
    },
    async transaction(work) {
      const saved = new Map(records);
      const savedRefusals = new Map([...refusals].map(([id, byModel]) => [id, new Map(byModel)]));
      try {
        return await work(store);
      } catch (error) {
        records.clear();
        for (const [k, v] of saved) records.set(k, v);
        refusals.clear();
        for (const [k, v] of savedRefusals) refusals.set(k, v);
        throw error;
      }
    },
    coverage: (options) => coverage(options),
    async keyBoundaries({ every, signal }) {
      if (!Number.isSafeInteger(every) || every < 1) {
        throw new InvalidOptionError("every", "a positive integer");
      }
      signal?.throwIfAborted();
      const keys = sortedKeys(undefined);
      const bounds: KeyBound[] = [];
      for (let i = every - 1; i < keys.length - 1; i += every) bounds.push(boundOf(keys[i]));
      return bounds;
    },
    withKeyRange(range) {
      if (typeof range !== "object" || range === null) {
        throw new InvalidOptionError("range", "an object { after?, through? }");
      }
      const bounds = {
        after: checkBound(range.after, "range.after"),
        through: checkBound(range.through, "range.through"),
      };
      return restricted((key) => inRange(key, bounds));
    },
    withKeys(ids) {
      checkRowIds(ids);
      const wanted = [...ids];
      const named = (key: Id) => wanted.some((id) => compareKeys(id, key) === 0);
      return restricted(named, async (target) => {
        const unknown = wanted.filter((id) => ![...rows.keys()].some((key) => compareKeys(key, id) === 0));
        if (unknown.length > 0) {
          throw new StoreError(
            `No row has the key${unknown.length > 1 ? "s" : ""} ${formatIds(unknown)}; nothing was embedded.`,
            { reason: "unknown_rows", rowIds: unknown },
          );
        }
        await prepare(target);
      });
    },
  };
  return store;
}
