/*
 * The monorepo's tables (packages/db/src/schema), as the backfill plan describes them: `skills` and
 * one `skill_embeddings` row per skill. The DDL below creates the same tables where no migration did
 * (the embedded demo database); on a real database, run your migrations instead.
 */
import { sql } from "drizzle-orm";
import { pgTable, text, timestamp, uuid, vector } from "drizzle-orm/pg-core";

/** voyage-3.5's default output dimension. */
export const EMBEDDING_DIMENSIONS = 1024;

export const skills = pgTable("skills", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  description: text("description").notNull().default(""),
  content: text("content").notNull().default(""),
  tags: text("tags").array(),
});

export const skillEmbeddings = pgTable("skill_embeddings", {
  id: uuid("id").primaryKey().defaultRandom(),
  // unique: drizzleStore upserts on it, one embedding per skill.
  skillId: text("skill_id")
    .notNull()
    .unique()
    .references(() => skills.id, { onDelete: "cascade" }),
  embedding: vector("embedding", { dimensions: EMBEDDING_DIMENSIONS }).notNull(),
  modelName: text("model_name").notNull(),
  modelVersion: text("model_version").notNull(),
  inputHash: text("input_hash").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/** Creates the extension and both tables if they are missing: one statement each, for any driver. */
export const createSkillTables = [
  sql`create extension if not exists vector`,
  sql`create table if not exists skills (
    id text primary key,
    name text not null,
    description text not null default '',
    content text not null default '',
    tags text[]
  )`,
  sql.raw(`create table if not exists skill_embeddings (
    id uuid primary key default gen_random_uuid(),
    skill_id text not null unique references skills(id) on delete cascade,
    embedding vector(${EMBEDDING_DIMENSIONS}) not null,
    model_name text not null,
    model_version text not null,
    input_hash text not null,
    created_at timestamptz not null default now()
  )`),
];
