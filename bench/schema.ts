/*
 * The original plan's tables: `skills` and `skill_embeddings` (one vector per skill, with the model,
 * version and input hash beside it), at voyage-3.5's 1,024 dimensions.
 */
import { integer, pgTable, serial, text, vector } from "drizzle-orm/pg-core";

export const DIMENSIONS = 1024;
export const MODEL = "voyage-3.5";
export const EMBEDDING_VERSION = "1";

export const skills = pgTable("skills", {
  id: integer("id").primaryKey(),
  name: text("name").notNull(),
  description: text("description").notNull(),
  content: text("content").notNull(),
  tags: text("tags").array(),
});

export const skillEmbeddings = pgTable("skill_embeddings", {
  id: serial("id").primaryKey(),
  skillId: integer("skill_id")
    .notNull()
    .unique()
    .references(() => skills.id, { onDelete: "cascade" }),
  embedding: vector("embedding", { dimensions: DIMENSIONS }).notNull(),
  modelName: text("model_name").notNull(),
  modelVersion: text("model_version").notNull(),
  inputHash: text("input_hash").notNull(),
});

export const DDL = `
  create extension if not exists vector;
  create table skills (
    id integer primary key,
    name text not null,
    description text not null,
    content text not null,
    tags text[]
  );
  create table skill_embeddings (
    id serial primary key,
    skill_id integer not null unique references skills(id) on delete cascade,
    embedding vector(${DIMENSIONS}) not null,
    model_name text not null,
    model_version text not null,
    input_hash text not null
  );`;
