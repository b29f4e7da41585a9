/*
 * The providers' model tables against the testing kit's emulator, which serves the same tables: every
 * model a provider knows is served with the dimensions the provider declares, and the emulator's
 * context limit is the provider's `maxTokensPerInput` (an input of exactly that many tokens is
 * embedded, one more is refused as too large: the engine then skips it rather than sending it again).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPENAI_MODELS, openaiProvider } from "../../providers/openai/index.js";
import { VOYAGE_MODELS, voyageProvider } from "../../providers/voyage/index.js";
import { APICallError, type EmbeddingProvider } from "../../src/index.js";
import { createEmbeddingsEmulator, type EmulatorServer } from "../../src/testing/index.js";
import { rejectionOf } from "./helpers.js";

const KEY = "model-tables-test-key";
const emulator = createEmbeddingsEmulator();
let server: EmulatorServer;
beforeAll(async () => {
  server = await emulator.listen();
});
afterAll(() => server?.close());

/** A text the emulator counts as exactly `tokens` tokens (4 UTF-8 bytes each). */
const textOf = (tokens: number) => "abcd".repeat(tokens);

async function expectContextLimit(provider: EmbeddingProvider): Promise<void> {
  const limit = provider.limits.maxTokensPerInput;
  const { embeddings } = await provider.embed([textOf(limit)]);
  expect(embeddings[0]).toHaveLength(provider.dimensions);
  const refused = await rejectionOf(provider.embed([textOf(limit + 1)]));
  expect(APICallError.isInstance(refused), String(refused)).toBe(true);
  expect(refused.reason).toBe("request_too_large");
}

describe("every Voyage model the provider knows", () => {
  it.each(Object.keys(VOYAGE_MODELS))("%s: dimensions and context as declared", async (model) => {
    const provider = voyageProvider({
      apiKey: KEY,
      model,
      truncation: false,
      baseURL: server.voyageBaseUrl,
    });
    expect(provider.dimensions).toBe(VOYAGE_MODELS[model]!.dimensions);
    await expectContextLimit(provider);
  });
});

describe("every OpenAI model the provider knows", () => {
  it.each(Object.keys(OPENAI_MODELS))("%s: dimensions and context as declared", async (model) => {
    const provider = openaiProvider({ apiKey: KEY, model, baseURL: server.openaiBaseUrl });
    expect(provider.dimensions).toBe(OPENAI_MODELS[model]!.dimensions);
    await expectContextLimit(provider);
  });
});
