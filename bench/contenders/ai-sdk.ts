/*
 * (c) What a user writes with the Vercel AI SDK: load the pending rows, `embedMany` (ai@6, with its
 * defaults: chunks of the model's 128 inputs, every chunk in parallel, 2 retries) on @ai-sdk/voyage,
 * then bulk Drizzle inserts of 1,000 rows (well under the 65,535 bind parameters of a statement).
 */
import { createVoyage } from "@ai-sdk/voyage";
import { embedMany } from "ai";
import { eq, isNull } from "drizzle-orm";
import { hashText } from "../../src/hash.js";
import { skillText } from "../data.js";
import { EMBEDDING_VERSION, MODEL, skillEmbeddings, skills } from "../schema.js";
import { type ContenderContext, type ContenderOutcome, phases } from "./types.js";

const INSERT_CHUNK = 1_000;

export async function runAiSdk(ctx: ContenderContext): Promise<ContenderOutcome> {
  const started = performance.now();
  const { db } = ctx.database;
  const voyage = createVoyage({ apiKey: ctx.apiKey, baseURL: ctx.voyageBaseUrl });

  const pending = await db
    .select({
      id: skills.id,
      name: skills.name,
      description: skills.description,
      content: skills.content,
      tags: skills.tags,
    })
    .from(skills)
    .leftJoin(skillEmbeddings, eq(skills.id, skillEmbeddings.skillId))
    .where(isNull(skillEmbeddings.id));
  if (pending.length === 0) return { written: 0 };

  const loaded = performance.now();
  const values = pending.map((skill) => skillText(skill));
  const { embeddings } = await embedMany({
    model: voyage.embeddingModel(MODEL),
    values,
    providerOptions: { voyage: { inputType: "document" } },
  });

  const embedded = performance.now();
  for (let from = 0; from < pending.length; from += INSERT_CHUNK) {
    const rows = pending.slice(from, from + INSERT_CHUNK).map((skill, i) => ({
      skillId: skill.id,
      embedding: embeddings[from + i]!,
      modelName: MODEL,
      modelVersion: EMBEDDING_VERSION,
      inputHash: hashText(values[from + i]!),
    }));
    await db.insert(skillEmbeddings).values(rows);
  }
  return { written: pending.length, note: phases(started, loaded, embedded) };
}
