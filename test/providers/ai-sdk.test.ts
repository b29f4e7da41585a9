/*
 * aiSdkProvider against the testing kit's emulator (its loopback server), with real AI SDK providers:
 * `@ai-sdk/openai` (the installed major: v3 models for `ai` 6 on Node 20, v4 for `ai` 7 where the CI
 * leg installs it), `@ai-sdk/openai` 2 (v2 models, `ai` 5) and `@ai-sdk/voyage` (v3).
 */
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAI as createOpenAIv2 } from "@ai-sdk/openai-v2";
import { createVoyage } from "@ai-sdk/voyage";
import { embedMany } from "ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type AiSdkEmbeddingModel, aiSdkProvider } from "../../providers/ai-sdk/index.js";
import {
  APICallError,
  BackfillError,
  backfill,
  InvalidOptionError,
  InvalidResponseError,
} from "../../src/index.js";
import {
  createEmbeddingsEmulator,
  deterministicEmbedding,
  type EmulatorServer,
  memoryStore,
} from "../../src/testing/index.js";
import { HOLD_MS, rejectionOf } from "./helpers.js";

const KEY = "ai-sdk-bridge-test-key-0123456789";
const emulator = createEmbeddingsEmulator({ apiKeys: [KEY] });
let server: EmulatorServer;
beforeAll(async () => {
  server = await emulator.listen();
});
afterEach(() => emulator.reset());
afterAll(() => server?.close());

interface Case {
  readonly name: string;
  readonly api: "openai" | "voyage";
  readonly dimensions: number;
  readonly maxEmbeddingsPerCall: number;
  model(apiKey?: string): AiSdkEmbeddingModel;
}

const CASES: Case[] = [
  {
    name: "@ai-sdk/openai",
    api: "openai",
    dimensions: 1536,
    maxEmbeddingsPerCall: 2048,
    model: (apiKey = KEY) =>
      createOpenAI({ apiKey, baseURL: server.openaiBaseUrl }).embedding("text-embedding-3-small"),
  },
  {
    name: "@ai-sdk/openai 2",
    api: "openai",
    dimensions: 1536,
    maxEmbeddingsPerCall: 2048,
    model: (apiKey = KEY) =>
      createOpenAIv2({ apiKey, baseURL: server.openaiBaseUrl }).embedding("text-embedding-3-small"),
  },
  {
    name: "@ai-sdk/voyage",
    api: "voyage",
    dimensions: 1024,
    maxEmbeddingsPerCall: 128,
    model: (apiKey = KEY) => createVoyage({ apiKey, baseURL: server.voyageBaseUrl }).embedding("voyage-3.5"),
  },
];
const [OPENAI, , VOYAGE] = CASES as [Case, Case, Case];

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i + 1, text: `skill ${i + 1}: sql` }));
const FAST = { retryMinDelayMs: 1, retryMaxDelayMs: 20 };

describe.each(CASES)("aiSdkProvider($name)", (c) => {
  const provider = (options: Partial<Parameters<typeof aiSdkProvider>[1]> = {}) =>
    aiSdkProvider(c.model(), { dimensions: c.dimensions, ...options });

  it("declares the model's maxEmbeddingsPerCall and conservative token limits, each overridable", () => {
    const model = c.model();
    expect(["v2", "v3", "v4"]).toContain(model.specificationVersion);
    const p = provider();
    expect(p).toMatchObject({
      provider: model.provider,
      model: model.modelId,
      dimensions: c.dimensions,
      truncates: false,
      supportsParallelCalls: true,
    });
    expect(p.limits).toEqual({
      maxInputsPerRequest: c.maxEmbeddingsPerCall,
      maxTokensPerRequest: 120_000,
      maxTokensPerInput: 8192,
    });
    expect(provider({ limits: { maxInputsPerRequest: 10, maxTokensPerInput: 4000 } }).limits).toEqual({
      maxInputsPerRequest: 10,
      maxTokensPerRequest: 120_000,
      maxTokensPerInput: 4000,
    });
  });

  it("backfills through the emulator: every row gets the vector of its own text", async () => {
    const store = memoryStore({ rows: rows(7) });
    const report = await backfill({ provider: provider(), store, maxInputsPerRequest: 3 });
    expect(report).toMatchObject({ embedded: 7, requests: 3 });
    expect(emulator.stats.requests).toBe(3);
    for (const { id, text } of rows(7)) {
      const expected = Float32Array.from(deterministicEmbedding(text, c.dimensions));
      expect(store.records.get(id)!.embedding).toEqual(expected);
    }
  });

  it("leaves retries to backfill(): two 503s, then success, is three requests", async () => {
    emulator.inject({ type: "server_error", status: 503 }, { times: 2 });
    const report = await backfill({ provider: provider(), store: memoryStore({ rows: rows(2) }), ...FAST });
    expect(report).toMatchObject({ embedded: 2, retries: 2 });
    expect(emulator.calls.map((call) => call.status)).toEqual([503, 503, 200]);
  });

  it.each([
    [
      { type: "rate_limit", retryAfterMs: 2000 },
      { reason: "rate_limit", status: 429, retryAfterMs: 2000 },
    ],
    ["invalid_key", { reason: "authentication", status: 401, isRetryable: false }],
    ["forbidden", { reason: "permission", status: 403, isRetryable: false }],
    [
      { type: "server_error", status: 502 },
      { reason: "server", status: 502, isRetryable: true },
    ],
    ["drop_connection", { reason: "connection", status: undefined, isRetryable: true }],
  ] as const)("maps the fault %j to an APICallError %j", async (fault, expected) => {
    emulator.inject(fault);
    const error = await rejectionOf(provider().embed(["a"]));
    expect(APICallError.isInstance(error), String(error)).toBe(true);
    expect(error).toMatchObject({ provider: c.model().provider, model: c.model().modelId, ...expected });
    expect(error.message).toContain(c.model().modelId);
  });

  it("maps a refusal for size to request_too_large (the engine splits, never repeats)", async () => {
    const huge = "x".repeat(c.api === "openai" ? 40_000 : 1_400_000);
    const error = await rejectionOf(provider().embed([huge]));
    expect(error).toMatchObject({ reason: "request_too_large", status: 400, isRetryable: false });
  });

  it("maps an answer it cannot read (a cut body, a wrong count) to InvalidResponseError", async () => {
    emulator.inject("malformed_json");
    expect(InvalidResponseError.isInstance(await rejectionOf(provider().embed(["a", "b"])))).toBe(true);
    emulator.inject({ type: "wrong_count", delta: -1 });
    const error = await rejectionOf(provider().embed(["a", "b"]));
    expect(InvalidResponseError.isInstance(error), String(error)).toBe(true);
  });

  it("times out after timeoutMs with a retryable timeout error, aborting the request", async () => {
    emulator.inject({ type: "stall", ms: HOLD_MS });
    const started = Date.now();
    const error = await rejectionOf(provider({ timeoutMs: 150 }).embed(["a"]));
    // Before the stalled answer could come: it gave up on its own timer, however loaded the machine.
    expect(Date.now() - started).toBeLessThan(HOLD_MS);
    expect(error).toMatchObject({ reason: "timeout", isRetryable: true });
    expect(error.message).toContain("150 ms");
  });

  it("rejects with exactly signal.reason when aborted, promptly", async () => {
    emulator.inject({ type: "stall", ms: HOLD_MS });
    const controller = new AbortController();
    const reason = new Error("stop");
    const pending = provider().embed(["a"], { signal: controller.signal });
    await expect.poll(() => emulator.stats.inFlight).toBe(1);
    const t0 = Date.now();
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(Date.now() - t0).toBeLessThan(HOLD_MS);
    await expect(provider().embed(["a"], { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});

describe("aiSdkProvider: options", () => {
  it("passes providerOptions, as a function of backfill()'s inputType", async () => {
    const options = ({ inputType }: { inputType?: string }) => ({
      voyage: { inputType: inputType ?? "document" },
    });
    const store = () => memoryStore({ rows: rows(1) });
    await backfill({
      provider: aiSdkProvider(VOYAGE.model(), { dimensions: 1024, providerOptions: options }),
      store: store(),
    });
    await backfill({
      provider: aiSdkProvider(VOYAGE.model(), { dimensions: 1024, providerOptions: options }),
      store: store(),
      inputType: "query",
    });
    await aiSdkProvider(VOYAGE.model(), {
      dimensions: 256,
      providerOptions: { voyage: { outputDimension: 256 } },
    }).embed(["a"]);
    expect(emulator.calls.map((call) => (call.body as Record<string, unknown>).input_type)).toEqual([
      "document",
      "query",
      undefined,
    ]);
    expect((emulator.calls[2]!.body as Record<string, unknown>).output_dimension).toBe(256);
  });

  it("refuses what is not an AI SDK embedding model, and a missing dimensions", () => {
    expect(() => aiSdkProvider("openai/text-embedding-3-small" as never, { dimensions: 8 })).toThrow(
      InvalidOptionError,
    );
    const v1 = { specificationVersion: "v1", provider: "old", modelId: "m", doEmbed: async () => ({}) };
    expect(() => aiSdkProvider(v1 as never, { dimensions: 8 })).toThrow(/specification v2, v3 or v4/);
    expect(() => aiSdkProvider(OPENAI.model(), {} as never)).toThrow(/`dimensions`/);
    expect(() => aiSdkProvider(OPENAI.model(), { dimensions: 8, timeoutMs: -1 })).toThrow(/`timeoutMs`/);
  });

  it("splits a request above a limit the model declares only asynchronously", async () => {
    const model = VOYAGE.model();
    const wrapped: AiSdkEmbeddingModel = {
      specificationVersion: model.specificationVersion,
      provider: model.provider,
      modelId: model.modelId,
      maxEmbeddingsPerCall: Promise.resolve(2),
      supportsParallelCalls: Promise.resolve(true),
      doEmbed: (options) => model.doEmbed(options),
    };
    const provider = aiSdkProvider(wrapped, { dimensions: 1024 });
    expect(provider.limits.maxInputsPerRequest).toBe(128);
    const store = memoryStore({ rows: rows(5) });
    const report = await backfill({ provider, store });
    expect(report.embedded).toBe(5);
    expect(emulator.calls.every((call) => call.inputs <= 2)).toBe(true);
  });

  it("stores what the AI SDK's own embedMany returns for the same model", async () => {
    const store = memoryStore({ rows: rows(3) });
    await backfill({ provider: aiSdkProvider(OPENAI.model(), { dimensions: 1536 }), store });
    const { embeddings } = await embedMany({
      model: OPENAI.model() as Parameters<typeof embedMany>[0]["model"],
      values: rows(3).map((r) => r.text),
      maxRetries: 0,
    });
    expect(rows(3).map((r) => store.records.get(r.id)!.embedding)).toEqual(
      embeddings.map((e) => Float32Array.from(e)),
    );
  });

  it("fails a backfill fast with a BackfillError on a refused key, naming the rows", async () => {
    emulator.inject("invalid_key");
    const error = await rejectionOf(
      backfill({
        provider: aiSdkProvider(OPENAI.model(), { dimensions: 1536 }),
        store: memoryStore({ rows: rows(2) }),
      }),
    );
    expect(BackfillError.isInstance(error)).toBe(true);
    expect(error.rowIds).toEqual([1, 2]);
    expect(error.cause).toMatchObject({ reason: "authentication" });
  });
});
