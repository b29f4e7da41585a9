/*
 * The suite's tables, rows and store, without test-runner imports: worker.ts (a plain child process)
 * loads this file, harness.ts re-exports it for the tests.
 */
import { bigint, bit, halfvec, integer, pgTable, serial, text, uuid, vector } from "drizzle-orm/pg-core";
import { drizzleStore } from "../../adapters/drizzle/index.js";
import type { AnyDb } from "../support/index.js";

/** Vector length: the smallest Voyage allows, so tests move little data. */
export const DIMENSIONS = 256;
/** voyage-3.5's context, in the emulator's tokens: longer inputs are truncated (or refused). */
export const VOYAGE_CONTEXT = 32_000;
export const VOYAGE_MODEL = "voyage-3.5";
export const OPENAI_MODEL = "text-embedding-3-small";
export const VERSION = "1";

export type KeyKind = "integer" | "bigint" | "uuid" | "text";

function keyColumn(kind: KeyKind, name: string) {
  switch (kind) {
    case "integer":
      return integer(name);
    case "bigint":
      return bigint(name, { mode: "bigint" });
    case "uuid":
      return uuid(name);
    case "text":
      return text(name);
  }
}

/** The embedding column's pgvector type: `bit` holds DIMENSIONS bits (packed-bit providers). */
export type ColumnKind = "vector" | "halfvec" | "bit";

function embeddingColumn(column: ColumnKind) {
  switch (column) {
    case "vector":
      return vector("embedding", { dimensions: DIMENSIONS });
    case "halfvec":
      return halfvec("embedding", { dimensions: DIMENSIONS });
    case "bit":
      return bit("embedding", { dimensions: DIMENSIONS });
  }
}

/**
 * `rel_items_<suffix>` (the source: a nullable `body`, so null columns can be tested) and
 * `rel_item_embeddings_<suffix>` (the separate-table layout, unique on `item_id`, cascading deletes),
 * its embedding a `vector`, `halfvec` or `bit` column of DIMENSIONS.
 */
export function itemTables(suffix: string, kind: KeyKind = "integer", column: ColumnKind = "vector") {
  const items = pgTable(`rel_items_${suffix}`, {
    id: keyColumn(kind, "id").primaryKey(),
    title: text("title").notNull(),
    body: text("body"),
  });
  const embeddings = pgTable(`rel_item_embeddings_${suffix}`, {
    id: serial("id").primaryKey(),
    itemId: keyColumn(kind, "item_id").notNull().unique(),
    embedding: embeddingColumn(column).notNull(),
    model: text("model").notNull(),
    modelVersion: text("model_version").notNull(),
    inputHash: text("input_hash").notNull(),
  });
  const ddl = `
    create table rel_items_${suffix} (id ${kind} primary key, title text not null, body text);
    create table rel_item_embeddings_${suffix} (
      id serial primary key,
      item_id ${kind} not null unique references rel_items_${suffix}(id) on delete cascade,
      embedding ${column}(${DIMENSIONS}) not null,
      model text not null,
      model_version text not null,
      input_hash text not null
    );`;
  return { items, embeddings, ddl, suffix, column };
}

export type ItemTables = ReturnType<typeof itemTables>;
export interface ItemRow {
  id: unknown;
  title: string;
  body: string | null;
}

/** The text a row is embedded from: title, then body when there is one. */
export const itemText = (row: { title: string; body: string | null }): string =>
  row.body === null ? row.title : `${row.title}\n${row.body}`;

/** Row `i`'s seed data: unique texts, so no two rows share a vector (dedupe stays out of the way). */
export function seedRow(i: number, id: unknown = i): ItemRow {
  return { id, title: `item ${i}`, body: `alpha${i % 7} beta${i % 11} gamma${i} notes for row ${i}` };
}

/** `drizzleStore` over `tables`, separate-table layout, version 1. */
export function itemStore(
  db: AnyDb,
  tables: ItemTables,
  options: {
    text?: (row: any) => string;
    partition?: { index: number; count: number };
    lock?: boolean;
    binaryWrites?: boolean;
  } = {},
) {
  const { items, embeddings } = tables;
  return drizzleStore({
    db,
    version: VERSION,
    partition: options.partition,
    lock: options.lock,
    binaryWrites: options.binaryWrites,
    source: { table: items, key: items.id, text: options.text ?? itemText },
    target: {
      table: embeddings,
      key: embeddings.itemId,
      embedding: embeddings.embedding,
      model: embeddings.model,
      version: embeddings.modelVersion,
      hash: embeddings.inputHash,
    },
  });
}

/** `n` tokens of words for the emulator's tokenizer (4 bytes a token). */
export const longText = (tokens: number): string =>
  "wordy ab ".repeat(Math.ceil((tokens * 4) / 9)).slice(0, tokens * 4);
