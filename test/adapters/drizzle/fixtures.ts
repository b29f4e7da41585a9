/*
 * Tables for the adapter tests, Drizzle definitions beside the DDL that creates them: the original
 * plan's `skills` / `skill_embeddings` (one pair per key type) and a `docs` table that carries its own
 * embedding (same-row layout).
 */
import type { SQL } from "drizzle-orm";
import { bigint, integer, pgTable, serial, text, uuid, vector } from "drizzle-orm/pg-core";
import type { EmbeddingTarget } from "../../../src/contracts/embedding-store.js";

export const DIMENSIONS = 8;

/** Words the similarity tests build texts from: texts sharing words have close vectors. */
export const WORDS = [
  "csv",
  "json",
  "parse",
  "http",
  "retry",
  "vector",
  "index",
  "cache",
  "queue",
  "auth",
  "sql",
  "log",
];

/** The provider the tests pretend to use. */
export const MODEL: EmbeddingTarget = { provider: "test", model: "det-8", dimensions: DIMENSIONS };

/** `bigint-number`: `bigint` in `mode: "number"`, keys within 2^53 (exact as numbers). */
export type KeyKind = "integer" | "bigint" | "bigint-number" | "uuid" | "text";

const SQL_TYPES: Record<KeyKind, string> = {
  integer: "integer",
  bigint: "bigint",
  "bigint-number": "bigint",
  uuid: "uuid",
  text: "text",
};

function keyColumn(kind: KeyKind, name: string) {
  switch (kind) {
    case "integer":
      return integer(name);
    case "bigint":
      return bigint(name, { mode: "bigint" });
    case "bigint-number":
      return bigint(name, { mode: "number" });
    case "uuid":
      return uuid(name);
    case "text":
      return text(name);
  }
}

/** `skills_<suffix>` and `skill_embeddings_<suffix>`, keyed by `kind`. */
export function skillTables(kind: KeyKind, suffix: string = kind, options: { foreignKey?: boolean } = {}) {
  const skills = pgTable(`skills_${suffix}`, {
    id: keyColumn(kind, "id").primaryKey(),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    content: text("content").notNull().default(""),
    tags: text("tags").array(),
  });
  const skillEmbeddings = pgTable(`skill_embeddings_${suffix}`, {
    id: serial("id").primaryKey(),
    skillId: keyColumn(kind, "skill_id").notNull().unique(),
    embedding: vector("embedding", { dimensions: DIMENSIONS }).notNull(),
    modelName: text("model_name").notNull(),
    modelVersion: text("model_version").notNull(),
    inputHash: text("input_hash").notNull(),
  });
  const type = SQL_TYPES[kind];
  const references = options.foreignKey === false ? "" : ` references skills_${suffix}(id) on delete cascade`;
  const ddl = `
    create table skills_${suffix} (
      id ${type} primary key,
      name text not null,
      description text not null default '',
      content text not null default '',
      tags text[]
    );
    create table skill_embeddings_${suffix} (
      id serial primary key,
      skill_id ${type} not null unique${references},
      embedding vector(${DIMENSIONS}) not null,
      model_name text not null,
      model_version text not null,
      input_hash text not null
    );`;
  return { skills, skillEmbeddings, ddl };
}

/** drizzleStore's options over `skillTables()` (separate table, version "1"), plus `extra`. */
export function skillStoreOptions<Db>(
  db: Db,
  tables: Pick<ReturnType<typeof skillTables>, "skills" | "skillEmbeddings">,
  extra: { filter?: SQL; partition?: { index: number; count: number } } = {},
) {
  const { skills, skillEmbeddings } = tables;
  return {
    db,
    version: "1",
    partition: extra.partition,
    source: { table: skills, key: skills.id, text: skillText, filter: extra.filter },
    target: {
      table: skillEmbeddings,
      key: skillEmbeddings.skillId,
      embedding: skillEmbeddings.embedding,
      model: skillEmbeddings.modelName,
      version: skillEmbeddings.modelVersion,
      hash: skillEmbeddings.inputHash,
    },
  };
}

/** A table that holds its own embedding (same-row layout). */
export function docTables(suffix = "docs") {
  const docs = pgTable(suffix, {
    id: integer("id").primaryKey(),
    title: text("title").notNull(),
    body: text("body").notNull(),
    embedding: vector("embedding", { dimensions: DIMENSIONS }),
    embeddingModel: text("embedding_model"),
    embeddingHash: text("embedding_hash"),
    embeddingVersion: text("embedding_version"),
  });
  const ddl = `
    create table ${suffix} (
      id integer primary key,
      title text not null,
      body text not null,
      embedding vector(${DIMENSIONS}),
      embedding_model text,
      embedding_hash text,
      embedding_version text
    );`;
  return { docs, ddl };
}

/** The plan's input text. */
export const skillText = (s: { name: string; description: string; content: string; tags: string[] | null }) =>
  [s.name, s.description, s.content, ...(s.tags ?? [])].join(" ");

/** Keys of `kind` for row `i` (1-based), ordered like `i` for integers. */
export function keyFor(kind: KeyKind, i: number): number | bigint | string {
  switch (kind) {
    case "integer":
      return i;
    case "bigint":
      return 9_007_199_254_740_993n + BigInt(i) * 1_000_000_007n;
    case "bigint-number":
      return 4_503_599_627_370_496 + i * 1_000_000_007;
    case "uuid":
      return `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
    case "text":
      return `k'${i}";--\\ ${String.fromCodePoint(0x1f600 + (i % 5))}`;
  }
}

/**
 * The partition tests' tables: `skills_part` / `skill_embeddings_part`, plus a log that a trigger
 * fills on every write of an embedding, to prove each row was written exactly once.
 */
export function partitionTables() {
  const tables = skillTables("integer", "part");
  const ddl = `${tables.ddl}
    create table embedding_writes (skill_id integer not null, op text not null);
    create function log_embedding_write() returns trigger language plpgsql as $$
    begin
      insert into embedding_writes values (new.skill_id, tg_op);
      return new;
    end $$;
    create trigger log_embedding_write after insert or update on skill_embeddings_part
      for each row execute function log_embedding_write();`;
  return { ...tables, ddl };
}
