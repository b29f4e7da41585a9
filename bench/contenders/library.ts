/* (a) `backfill()` with voyageProvider and drizzleStore, configured for the scenario's tier. */
import { drizzleStore } from "../../adapters/drizzle/index.js";
import { voyageProvider } from "../../providers/voyage/index.js";
import { type BackfillReport, backfill } from "../../src/index.js";
import { skillText } from "../data.js";
import { EMBEDDING_VERSION, MODEL, skillEmbeddings, skills } from "../schema.js";
import type { ContenderContext } from "./types.js";

export async function runLibrary(ctx: ContenderContext): Promise<BackfillReport> {
  const store = drizzleStore({
    db: ctx.database.db,
    version: EMBEDDING_VERSION,
    source: { table: skills, key: skills.id, text: skillText },
    target: {
      table: skillEmbeddings,
      key: skillEmbeddings.skillId,
      embedding: skillEmbeddings.embedding,
      model: skillEmbeddings.modelName,
      version: skillEmbeddings.modelVersion,
      hash: skillEmbeddings.inputHash,
    },
  });
  return backfill({
    provider: voyageProvider({ model: MODEL, apiKey: ctx.apiKey, baseURL: ctx.voyageBaseUrl }),
    store,
    ...ctx.library,
  });
}
