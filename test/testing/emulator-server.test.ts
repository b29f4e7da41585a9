import { Agent, request as httpRequest } from "node:http";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { VoyageAIClient } from "voyageai";
import { InvalidOptionError } from "../../src/index.js";
import {
  createEmbeddingsEmulator,
  deterministicEmbedding,
  type EmbeddingsEmulatorOptions,
  emulatorTokenCount,
} from "../../src/testing/index.js";
import { emulatorHandlers } from "../../src/testing/msw.js";
import { API_KEY, post, rejection, useEmulator } from "./emulator-harness.js";

/** A loopback emulator for one test; closed afterwards. */
async function withServer<T>(
  options: EmbeddingsEmulatorOptions,
  run: (t: Awaited<ReturnType<typeof start>>) => Promise<T>,
): Promise<T> {
  const t = await start(options);
  try {
    return await run(t);
  } finally {
    await t.server.close();
  }
}

async function start(options: EmbeddingsEmulatorOptions) {
  const emulator = createEmbeddingsEmulator(options);
  const server = await emulator.listen();
  const voyage = new VoyageAIClient({ apiKey: API_KEY, baseUrl: server.voyageBaseUrl, maxRetries: 0 });
  const openai = new OpenAI({ apiKey: API_KEY, baseURL: server.openaiBaseUrl, maxRetries: 0 });
  return { emulator, server, voyage, openai };
}

describe("loopback server", () => {
  const h = useEmulator("http");

  it("serves both SDKs at base URLs ending in /v1, on 127.0.0.1", () => {
    expect(h.voyageBaseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/voyage\/v1$/);
    expect(h.openaiBaseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/openai\/v1$/);
  });

  it("answers many concurrent requests from both SDKs correctly", async () => {
    const jobs = Array.from({ length: 120 }, (_, i) => {
      const text = `request number ${i}`;
      return i % 2
        ? h.voyage
            .embed({ input: [text], model: "voyage-3.5" })
            .then((r) => [text, 1024, r.data![0]!.embedding!] as const)
        : h.openai.embeddings
            .create({ input: [text], model: "text-embedding-3-small" })
            .then((r) => [text, 1536, r.data[0]!.embedding] as const);
    });
    for (const [text, dims, embedding] of await Promise.all(jobs)) {
      expect(Float32Array.from(embedding)).toEqual(deterministicEmbedding(text, dims));
    }
    expect(h.emulator.stats).toMatchObject({ requests: 120, errors: 0, inputs: 120 });
  });

  it("keeps connections alive between requests", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL(`${h.voyageBaseUrl}/embeddings`);
    const send = () =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = httpRequest(
          url,
          {
            method: "POST",
            agent,
            headers: { authorization: "Bearer k", "content-type": "application/json" },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode!, reused: req.reusedSocket }));
          },
        );
        req.on("error", reject);
        req.end(JSON.stringify({ input: ["a"], model: "voyage-3.5" }));
      });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await send());
    agent.destroy();
    expect(answers).toEqual([
      { status: 200, reused: false },
      { status: 200, reused: true },
      { status: 200, reused: true },
      { status: 200, reused: true },
    ]);
  });

  it("answers 404 for the wrong path (e.g. a Voyage base URL without /v1) and 405 for the wrong method", async () => {
    const noV1 = new VoyageAIClient({
      apiKey: API_KEY,
      baseUrl: h.voyageBaseUrl.replace(/\/v1$/, ""),
      maxRetries: 0,
    });
    const error = await rejection(noV1.embed({ input: ["a"], model: "voyage-3.5" }));
    expect([error.statusCode, error.body]).toEqual([404, { detail: "Not Found" }]);
    expect((await post(h, "voyage", undefined, { method: "GET" })).status).toBe(405);
    const root = await fetch(`${h.voyageBaseUrl.replace(/\/voyage\/v1$/, "")}/v1/embeddings`, {
      method: "POST",
    });
    expect(root.status).toBe(404);
  });

  it("records calls without the key, with the parsed body, status and billed tokens", async () => {
    await h.voyage.embed({ input: ["first call"], model: "voyage-3.5", inputType: "query" });
    await rejection(h.openai.embeddings.create({ input: [""], model: "text-embedding-3-small" }));
    const calls = h.emulator.calls;
    expect(JSON.stringify(calls)).not.toContain(API_KEY);
    expect(JSON.stringify(calls)).not.toContain(API_KEY.slice(3, 20));
    expect(calls.map((c) => [c.id, c.api, c.method, c.status, c.tokens, c.inputs])).toEqual([
      [1, "voyage", "POST", 200, emulatorTokenCount("first call"), 1],
      [2, "openai", "POST", 400, 0, 0],
    ]);
    expect(calls[0]!.url).toBe(`${h.voyageBaseUrl}/embeddings`);
    expect(calls[0]!.headers.authorization).toBe("Bearer [redacted]");
    expect(calls[0]!.body).toEqual({ input: ["first call"], model: "voyage-3.5", input_type: "query" });
    expect(calls[0]!.timestamp).toBeGreaterThan(Date.now() - 60_000);
    expect(h.emulator.stats).toEqual({
      requests: 2,
      rateLimited: 0,
      errors: 1,
      tokensBilled: emulatorTokenCount("first call"),
      inputs: 1,
      inFlight: 0,
      maxInFlight: 1,
      // No batch endpoint was called.
      batch: {
        uploads: 0,
        uploadedLines: 0,
        batchesCreated: 0,
        polls: 0,
        downloads: 0,
        filesDeleted: 0,
        linesCompleted: 0,
        linesFailed: 0,
        inputs: 0,
        tokensBilled: 0,
        cost: 0,
      },
    });
    h.emulator.reset();
    expect(h.emulator.calls).toEqual([]);
    expect(h.emulator.stats).toMatchObject({ requests: 0, tokensBilled: 0 });
  });
});

describe("loopback server options", () => {
  it("models latency: baseMs plus perTokenMs per billed token", async () => {
    await withServer({ latency: { baseMs: 20, perTokenMs: 1 } }, async ({ voyage }) => {
      const started = Date.now();
      await voyage.embed({ input: ["x".repeat(400)], model: "voyage-3.5" }); // 100 tokens
      expect(Date.now() - started).toBeGreaterThanOrEqual(115);
    });
  });

  it("processes at most maxConcurrency requests at once; the others queue", async () => {
    // Six requests that each stall once admitted: with maxConcurrency 2 the server holds all six but
    // admits two (the others queue for a slot); without it, all six are admitted at once.
    const admitted = async (options: EmbeddingsEmulatorOptions) => {
      const { emulator, server, openai } = await start(options);
      emulator.inject({ type: "stall", ms: 60_000 }, { times: 6 });
      const pending = Array.from({ length: 6 }, () =>
        rejection(openai.embeddings.create({ input: ["q"], model: "text-embedding-3-small" })),
      );
      await expect.poll(() => emulator.stats.inFlight).toBe(6);
      // Once all six arrived, the admitted ones are already counted: admission does not wait.
      await new Promise((resolve) => setImmediate(resolve));
      const { requests, maxInFlight } = emulator.stats;
      await server.close();
      await Promise.all(pending);
      return { requests, maxInFlight };
    };
    expect(await admitted({ maxConcurrency: 2 })).toEqual({ requests: 2, maxInFlight: 6 });
    expect(await admitted({})).toEqual({ requests: 6, maxInFlight: 6 });
  });

  it("accepts only the configured apiKeys", async () => {
    await withServer({ apiKeys: [API_KEY] }, async ({ voyage, server }) => {
      expect((await voyage.embed({ input: ["a"], model: "voyage-3.5" })).data).toHaveLength(1);
      const other = new VoyageAIClient({ apiKey: "pa-other", baseUrl: server.voyageBaseUrl, maxRetries: 0 });
      const error = await rejection(other.embed({ input: ["a"], model: "voyage-3.5" }));
      expect([error.statusCode, error.body]).toEqual([401, { detail: "Provided API key is invalid." }]);
    });
  });

  it("close() ends stalled requests and returns promptly", async () => {
    const { emulator, server, openai } = await start({});
    emulator.inject({ type: "stall", ms: 60_000 });
    const pending = rejection(openai.embeddings.create({ input: ["a"], model: "text-embedding-3-small" }));
    await expect.poll(() => emulator.stats.inFlight).toBe(1);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(60_000); // not waiting out the stall
    expect((await pending).constructor.name).toBe("APIConnectionError");
    await expect.poll(() => emulator.stats.inFlight).toBe(0);
  });

  it("reset() ends requests waiting in a stall", async () => {
    await withServer({}, async ({ emulator, voyage }) => {
      emulator.inject({ type: "stall", ms: 60_000 });
      const pending = rejection(voyage.embed({ input: ["a"], model: "voyage-3.5" }));
      await expect.poll(() => emulator.stats.inFlight).toBe(1);
      emulator.reset();
      expect((await pending).statusCode).toBeUndefined();
    });
  });

  it("keeps only the last maxRecordedCalls calls but counts them all", async () => {
    await withServer({ maxRecordedCalls: 2 }, async ({ emulator, voyage }) => {
      for (let i = 0; i < 5; i++) await voyage.embed({ input: [`t${i}`], model: "voyage-3.5" });
      expect(emulator.calls.map((c) => c.id)).toEqual([4, 5]);
      expect(emulator.stats.requests).toBe(5);
    });
  });
});

describe("createEmbeddingsEmulator options", () => {
  it.each([
    [{ dimensions: 0 }, "Expected `dimensions` to be a positive integer."],
    [{ dimensions: { "voyage-3.5": 1.5 } }, "Expected `dimensions.voyage-3.5` to be a positive integer."],
    [{ apiKeys: [""] }, "Expected `apiKeys` to be an array of non-empty strings."],
    [{ latency: { baseMs: -1 } }, "Expected `latency.baseMs` to be a non-negative number."],
    [{ latency: { perTokenMs: Number.NaN } }, "Expected `latency.perTokenMs` to be a non-negative number."],
    [
      { rateLimits: { requestsPerMinute: 0 } },
      "Expected `rateLimits.requestsPerMinute` to be a positive integer.",
    ],
    [
      { rateLimits: { tokensPerMinute: 2.5 } },
      "Expected `rateLimits.tokensPerMinute` to be a positive integer.",
    ],
    [
      { rateLimits: { enforcement: "fixed-window" } },
      'Expected `rateLimits.enforcement` to be "sliding-window" or "token-bucket".',
    ],
    [
      { rateLimits: { enforcement: "token-bucket", burstSeconds: 0 } },
      "Expected `rateLimits.burstSeconds` to be a number of seconds greater than 0, at most 60.",
    ],
    [
      { rateLimits: { burstSeconds: 61 } },
      "Expected `rateLimits.burstSeconds` to be a number of seconds greater than 0, at most 60.",
    ],
    [{ maxConcurrency: 0 }, "Expected `maxConcurrency` to be a positive integer."],
    [{ maxRecordedCalls: -1 }, "Expected `maxRecordedCalls` to be a non-negative integer."],
  ])("refuses %j", (options, message) => {
    expect(() => createEmbeddingsEmulator(options as EmbeddingsEmulatorOptions)).toThrow(InvalidOptionError);
    expect(() => createEmbeddingsEmulator(options as EmbeddingsEmulatorOptions)).toThrow(message);
  });

  it("answers through the core directly, without a transport", async () => {
    const emulator = createEmbeddingsEmulator();
    emulator.inject("drop_connection");
    const request = {
      api: "openai" as const,
      method: "POST",
      url: "https://api.openai.com/v1/embeddings",
      path: "/v1/embeddings",
      headers: { authorization: "Bearer sk-x" },
      body: JSON.stringify({ input: "a", model: "text-embedding-3-small", encoding_format: "float" }),
    };
    expect(await emulator.handle(request)).toEqual({ kind: "drop" });
    const outcome = await emulator.handle(request);
    expect(outcome).toMatchObject({
      kind: "response",
      status: 200,
      headers: { "content-type": "application/json" },
    });
    expect(emulatorHandlers(emulator)).toHaveLength(2);
    expect(emulatorHandlers(emulator, { voyage: "https://v.example" })).toHaveLength(1);
  });
});
