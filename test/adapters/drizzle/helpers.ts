import type { DrizzleStore } from "../../../adapters/drizzle/index.js";
import type { EmbeddingTarget, ReembedMode } from "../../../src/contracts/embedding-store.js";
import { deterministicEmbedding } from "../../../src/testing/deterministic-embedding.js";
import { MODEL } from "./fixtures.js";

/** What one {@link runBackfill} did. */
export interface BackfillRun<Id> {
  readonly scanned: Id[];
  readonly written: number;
  readonly conflicts: Id[];
  readonly pages: number[];
}

/**
 * The engine's loop, reduced to what the store sees: prepare, scan page by page, embed each page with
 * the deterministic test embedding, write it, release.
 */
export async function runBackfill<Id>(
  store: DrizzleStore<Id>,
  options: {
    reembed?: ReembedMode;
    pageSize?: number;
    firstPageSize?: number;
    target?: EmbeddingTarget;
  } = {},
): Promise<BackfillRun<Id>> {
  const target = options.target ?? MODEL;
  const run = { scanned: [] as Id[], written: 0, conflicts: [] as Id[], pages: [] as number[] };
  await store.prepare(target);
  try {
    for await (const page of store.scan({
      ...target,
      reembed: options.reembed ?? "stale",
      pageSize: options.pageSize ?? 7,
      ...(options.firstPageSize === undefined ? {} : { firstPageSize: options.firstPageSize }),
    })) {
      run.pages.push(page.length);
      run.scanned.push(...page.map((item) => item.id));
      const records = page.map((item) => ({
        id: item.id,
        hash: item.hash,
        embedding: deterministicEmbedding(item.text, target.dimensions),
      }));
      const result = await store.write(records, target);
      run.written += result.written;
      run.conflicts.push(...result.conflicts);
    }
  } finally {
    await store.release();
  }
  return run;
}

/** Every pending item of a scan, flattened. */
export async function scanAll<Id>(
  store: DrizzleStore<Id>,
  reembed: ReembedMode,
  pageSize = 5,
  target: EmbeddingTarget = MODEL,
) {
  const items = [];
  for await (const page of store.scan({ ...target, reembed, pageSize })) items.push(...page);
  return items;
}

/** A pgvector text value (`[1,2,3]`) as numbers. */
export function parseVector(value: unknown): number[] {
  if (Array.isArray(value)) return value.map(Number);
  return JSON.parse(String(value)) as number[];
}
