import { and, sql } from "drizzle-orm";
import { formatIds } from "../../src/backfill/format-ids.js";
import { InvalidOptionError, StoreError } from "../../src/errors/index.js";
import { guard } from "../../src/postgres/index.js";
import { checkRowIds } from "../../src/search/row-ids.js";
import type { StoreConfig } from "./config.js";
import { type AnyPgDatabase, rowsOf } from "./driver.js";
import { keyType } from "./key-type.js";

/** The keys as the text they are sent as, cast back in SQL (`serial` 7 → "7", bigint 2n → "2"). */
function keyTexts(config: StoreConfig, ids: readonly unknown[]): string[] {
  return ids.map((id, i) => {
    if (id === undefined || id === null)
      throw new InvalidOptionError(`ids[${i}]`, "a key, not null or undefined");
    return String(config.source.key.mapToDriverValue(id));
  });
}

/** `(select jsonb_array_elements_text(keys)::type)`: the keys as one bound parameter. */
function keyList(config: StoreConfig, texts: readonly string[]) {
  return sql`(select jsonb_array_elements_text(${JSON.stringify(texts)}::jsonb)::${keyType(config.source.key)})`;
}

/** The config of a `withKeys()` store. */
export interface KeyedConfig extends StoreConfig {
  /** The keys, as given. */
  readonly keys: readonly unknown[];
  /** Whether the store had a `source.filter` of its own. */
  readonly filtered: boolean;
}

/** A store's config restricted to the rows with these keys (`withKeys()`): its filter, and no run lock. */
export function withKeys(config: StoreConfig, ids: readonly unknown[]): KeyedConfig {
  checkRowIds(ids);
  const texts = keyTexts(config, ids);
  const { source } = config;
  return {
    ...config,
    source: { ...source, filter: and(source.filter, sql`${source.key} in ${keyList(config, texts)}`) },
    // Compare-and-set writes keep a run's rows right without it; see embedRows().
    lock: false,
    keys: ids,
    filtered: source.filter !== undefined,
  };
}

/**
 * Throws `StoreError` (`unknown_rows`, `rowIds`) unless every key names a source row that the store's
 * filter keeps (`config` is a `withKeys()` config: its filter holds the keys).
 */
export async function checkKeysExist(
  config: KeyedConfig,
  db: AnyPgDatabase,
  signal?: AbortSignal,
): Promise<void> {
  const { source } = config;
  const texts = keyTexts(config, config.keys);
  const found = await guard(
    `Reading ${source.name.display}`,
    () =>
      rowsOf<{ k: string }>(
        db,
        sql`select relay_wanted.k from jsonb_array_elements_text(${JSON.stringify(texts)}::jsonb) as relay_wanted(k)
          where exists (select 1 from ${source.table}
            where ${and(sql`${source.key} = relay_wanted.k::${keyType(source.key)}`, source.filter)})`,
      ),
    signal,
  );
  const present = new Set(found.map((row) => String(row.k)));
  const unknown = config.keys.filter((_, i) => !present.has(texts[i]!));
  if (unknown.length > 0) {
    throw new StoreError(
      `No row of ${source.name.display}${config.filtered ? " that the store's filter keeps" : ""} has the key${unknown.length > 1 ? "s" : ""} ${formatIds(unknown)}; nothing was embedded.`,
      { reason: "unknown_rows", rowIds: unknown },
    );
  }
}
