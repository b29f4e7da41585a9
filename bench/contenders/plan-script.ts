/*
 * (b) The original plan's script, faithfully: every pending row loaded at once, the texts embedded in
 * sequential batches of 128 with a 150 ms pause (`generateEmbeddingsBatch`, on the voyageai SDK with
 * its defaults), then one transaction inserting row by row with a progress line per row.
 */
import { eq, isNull } from "drizzle-orm";
import { VoyageAIClient } from "voyageai";
import { skillText } from "../data.js";
import { MODEL as EMBEDDING_MODEL, EMBEDDING_VERSION, skillEmbeddings, skills } from "../schema.js";
import { type ContenderContext, type ContenderOutcome, phases } from "./types.js";

const BATCH_SIZE = 128;

/** apps/web/lib/content-hash: SHA-256 hex through Web Crypto, as a Next.js app writes it. */
async function hashContent(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Buffer.from(digest).toString("hex");
}

/** apps/web/lib/embeddings: the plan's `generateEmbeddingsBatch(inputs, delayMs)`. */
async function generateEmbeddingsBatch(
  client: VoyageAIClient,
  inputs: string[],
  delayMs: number,
): Promise<number[][]> {
  const embeddings: number[][] = [];
  for (let i = 0; i < inputs.length; i += BATCH_SIZE) {
    const response = await client.embed({
      input: inputs.slice(i, i + BATCH_SIZE),
      model: EMBEDDING_MODEL,
      inputType: "document",
    });
    for (const item of response.data ?? []) embeddings.push(item.embedding ?? []);
    if (i + BATCH_SIZE < inputs.length) await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  return embeddings;
}

export async function runPlanScript(ctx: ContenderContext): Promise<ContenderOutcome> {
  const started = performance.now();
  const { db } = ctx.database;
  const client = new VoyageAIClient({ apiKey: ctx.apiKey, baseUrl: ctx.voyageBaseUrl });

  const skillsWithoutEmbeddings = await db
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
  console.log(`Found ${skillsWithoutEmbeddings.length} skills without embeddings`);
  if (skillsWithoutEmbeddings.length === 0) return { written: 0 };

  const inputs = skillsWithoutEmbeddings.map((skill) => skillText(skill));
  const loaded = performance.now();
  console.log("Generating embeddings...");
  const embeddings = await generateEmbeddingsBatch(client, inputs, 150);

  const embedded = performance.now();
  console.log("Storing embeddings...");
  await db.transaction(async (tx) => {
    for (let i = 0; i < skillsWithoutEmbeddings.length; i++) {
      const skill = skillsWithoutEmbeddings[i]!;
      const inputHash = await hashContent(inputs[i]!);
      await tx.insert(skillEmbeddings).values({
        skillId: skill.id,
        embedding: embeddings[i]!,
        modelName: EMBEDDING_MODEL,
        modelVersion: EMBEDDING_VERSION,
        inputHash,
      });
      console.log(`  [${i + 1}/${skillsWithoutEmbeddings.length}] ${skill.name}`);
    }
  });
  console.log("Backfill complete!");
  return { written: skillsWithoutEmbeddings.length, note: phases(started, loaded, embedded) };
}
