import OpenAI, { APIError, BadRequestError, NotFoundError } from "openai";
import { VERSION as OPENAI_VERSION } from "openai/version";
import { beforeEach, describe, expect, it } from "vitest";
import {
  createEmbeddingsEmulator,
  deterministicEmbedding,
  emulatorTokenCount,
} from "../../src/testing/index.js";
import { emulatorHandlers } from "../../src/testing/msw.js";
import { decodeFloat32, post, rejection, textOfTokens, useEmulator } from "./emulator-harness.js";

const h = useEmulator("msw");
const OPENAI_MAJOR = Number.parseInt(OPENAI_VERSION, 10);

async function openaiError(promise: Promise<unknown>) {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(APIError);
  return error as APIError & {
    error: { message: string; type: string; param: string | null; code: string | null };
  };
}

describe("OpenAI emulator: successful requests through the openai SDK", () => {
  it("answers the SDK's default base64 request; the SDK's decoding gives the deterministic vectors", async () => {
    const texts = ["parse a CSV file", "naïve café ☕", "z"];
    const res = await h.openai.embeddings.create({ input: texts, model: "text-embedding-3-small" });
    expect(h.emulator.calls[0]!.body).toMatchObject({ encoding_format: "base64" });
    expect(res).toMatchObject({ object: "list", model: "text-embedding-3-small" });
    res.data.forEach((d, i) => {
      expect(d).toMatchObject({ object: "embedding", index: i });
      expect(Float32Array.from(d.embedding)).toEqual(deterministicEmbedding(texts[i]!, 1536));
    });
    const tokens = texts.reduce((sum, t) => sum + emulatorTokenCount(t), 0);
    expect(res.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it("sends float arrays for encoding_format float and base64 strings for base64", async () => {
    const floats = await h.openai.embeddings.create({
      input: "one text",
      model: "text-embedding-3-large",
      encoding_format: "float",
    });
    expect(Float32Array.from(floats.data[0]!.embedding)).toEqual(deterministicEmbedding("one text", 3072));
    const raw = await post(h, "openai", {
      input: ["one text"],
      model: "text-embedding-ada-002",
      encoding_format: "base64",
    });
    expect(typeof raw.json.data[0].embedding).toBe("string");
    expect(decodeFloat32(raw.json.data[0].embedding)).toEqual(deterministicEmbedding("one text", 1536));
  });

  it("honours 'dimensions' on text-embedding-3-*", async () => {
    const res = await h.openai.embeddings.create({
      input: ["short"],
      model: "text-embedding-3-small",
      dimensions: 256,
    });
    expect(Float32Array.from(res.data[0]!.embedding)).toEqual(deterministicEmbedding("short", 256));
    const large = await h.openai.embeddings.create({
      input: ["x"],
      model: "text-embedding-3-large",
      dimensions: 3072,
    });
    expect(large.data[0]!.embedding).toHaveLength(3072);
  });

  it("accepts token arrays, one token a number", async () => {
    const res = await post(h, "openai", {
      input: [[1, 2, 3], [7]],
      model: "text-embedding-3-small",
      encoding_format: "float",
    });
    expect(res.status).toBe(200);
    expect(Float32Array.from(res.json.data[0].embedding)).toEqual(deterministicEmbedding("1 2 3", 1536));
    expect(res.json.usage.prompt_tokens).toBe(4);
  });

  it("accepts exactly 2,048 inputs and exactly 300,000 tokens", async () => {
    const many = Array.from({ length: 2048 }, (_, i) => `t${i}`);
    const res = await h.openai.embeddings.create({
      input: many,
      model: "text-embedding-3-small",
      dimensions: 8,
    });
    expect(res.data).toHaveLength(2048);
    const input = [...Array.from({ length: 36 }, (_, i) => textOfTokens(8192, i)), textOfTokens(5088)];
    const full = await h.openai.embeddings.create({ input, model: "text-embedding-3-small", dimensions: 8 });
    expect(full.usage.total_tokens).toBe(300_000);
  });
});

describe("OpenAI emulator: validation errors with the real bodies", () => {
  it("refuses a request over 300,000 tokens with the real message", async () => {
    const input = Array.from({ length: 37 }, (_, i) => textOfTokens(8192, i));
    const error = await openaiError(h.openai.embeddings.create({ input, model: "text-embedding-3-small" }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.error).toEqual({
      message: "Requested 303104 tokens, max 300000 tokens per request",
      type: "invalid_request_error",
      param: null,
      code: "max_tokens_per_request",
    });
  });

  it("refuses an input over 8,192 tokens (context_length_exceeded)", async () => {
    const error = await openaiError(
      h.openai.embeddings.create({ input: ["ok", textOfTokens(8193)], model: "text-embedding-3-small" }),
    );
    expect(error.status).toBe(400);
    expect(error.code).toBe("context_length_exceeded");
    expect(error.error.message).toContain(
      "maximum context length is 8192 tokens, however you requested 8193 tokens",
    );
  });

  it("refuses more than 2,048 inputs", async () => {
    const input = Array.from({ length: 2049 }, (_, i) => `t${i}`);
    const error = await openaiError(h.openai.embeddings.create({ input, model: "text-embedding-3-small" }));
    expect(error.status).toBe(400);
    expect(error.error).toMatchObject({ type: "invalid_request_error", param: "input" });
    expect(error.error.message).toContain("2048");
  });

  it.each([[[""]], [""], [[]], [["a", ""]], [[[]]]])("refuses empty input %j", async (input) => {
    const res = await post(h, "openai", { input, model: "text-embedding-3-small" });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error: {
        message:
          "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        type: "invalid_request_error",
        param: null,
        code: null,
      },
    });
  });

  it("refuses 'dimensions' on text-embedding-ada-002 and out-of-range values", async () => {
    const ada = await openaiError(
      h.openai.embeddings.create({ input: ["a"], model: "text-embedding-ada-002", dimensions: 512 }),
    );
    expect(ada.error).toEqual({
      message: "This model does not support specifying dimensions.",
      type: "invalid_request_error",
      param: "dimensions",
      code: null,
    });
    for (const dimensions of [0, 1537, 2.5]) {
      const res = await post(h, "openai", { input: ["a"], model: "text-embedding-3-small", dimensions });
      expect(res.status).toBe(400);
      expect(res.json.error).toMatchObject({ param: "dimensions", type: "invalid_request_error" });
    }
  });

  it("answers 404 model_not_found for an unknown model", async () => {
    const error = await openaiError(h.openai.embeddings.create({ input: ["a"], model: "text-embedding-4" }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.code).toBe("model_not_found");
  });

  it.each([
    [{ encoding_format: "float16" }, "'encoding_format'", "encoding_format"],
    [{ input_type: "query" }, "Unrecognized request argument supplied: input_type", null],
    [{ model: undefined }, "you must provide a model parameter", null],
    [{ input: undefined }, "'input' is a required property", null],
  ])("refuses %j", async (override, message, param) => {
    const res = await post(h, "openai", { input: ["a"], model: "text-embedding-3-small", ...override });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ type: "invalid_request_error", param });
    expect(res.json.error.message).toContain(message);
  });

  it("refuses a body that is not JSON", async () => {
    const res = await post(h, "openai", "nope");
    expect(res.status).toBe(400);
    expect(res.json.error.message).toContain("We could not parse the JSON body of your request.");
  });

  it("answers 401 with the real bodies for a missing and a wrong key", async () => {
    const missing = await post(h, "openai", { input: ["a"], model: "text-embedding-3-small" }, { key: null });
    expect(missing.status).toBe(401);
    expect(missing.json.error).toMatchObject({ type: "invalid_request_error", code: null });
    expect(missing.json.error.message).toContain("You didn't provide an API key.");

    const strict = createEmbeddingsEmulator({ apiKeys: ["sk-right"] });
    h.use(...emulatorHandlers(strict, { openai: "https://strict.example/v1" }));
    {
      const wrong = new OpenAI({ apiKey: "sk-wrong", baseURL: "https://strict.example/v1", maxRetries: 0 });
      const error = await openaiError(
        wrong.embeddings.create({ input: ["a"], model: "text-embedding-3-small" }),
      );
      expect(error.status).toBe(401);
      expect(error.code).toBe("invalid_api_key");
      expect(error.error.message).not.toContain("sk-wrong");
      const right = new OpenAI({ apiKey: "sk-right", baseURL: "https://strict.example/v1", maxRetries: 0 });
      expect(
        (await right.embeddings.create({ input: ["a"], model: "text-embedding-3-small" })).data,
      ).toHaveLength(1);
    }
  });

  it("answers 404 'Invalid URL' on other paths", async () => {
    const res = await post(h, "openai", {}, { path: "/embedding" });
    expect(res.status).toBe(404);
    expect(res.json.error.message).toBe("Invalid URL (POST /v1/embedding)");
  });
});

describe("OpenAI-compatible servers that ignore encoding_format (openaiIgnoresEncodingFormat)", () => {
  const compat = createEmbeddingsEmulator({ openaiIgnoresEncodingFormat: true });
  beforeEach(() => h.use(...emulatorHandlers(compat, { openai: "http://ollama.local:11434/v1" })));
  // Created after MSW patched fetch: the openai SDK keeps the fetch it finds at construction.
  const client = () =>
    new OpenAI({ apiKey: "ollama", baseURL: "http://ollama.local:11434/v1", maxRetries: 0 });

  it("sends float arrays even when base64 was asked", async () => {
    const res = await fetch("http://ollama.local:11434/v1/embeddings", {
      method: "POST",
      headers: { authorization: "Bearer ollama", "content-type": "application/json" },
      body: JSON.stringify({ input: ["a b"], model: "text-embedding-3-small", encoding_format: "base64" }),
    });
    const body = (await res.json()) as any;
    expect(Array.isArray(body.data[0].embedding)).toBe(true);
    expect(Float32Array.from(body.data[0].embedding)).toEqual(deterministicEmbedding("a b", 1536));
  });

  it("makes the SDK's default base64 decoding silently shrink each vector to a quarter (before openai 7)", async () => {
    const res = await client().embeddings.create({ input: ["a b"], model: "text-embedding-3-small" });
    // openai 7 keeps a float array it did not ask for; 5 and 6 decode it as base64.
    expect(res.data[0]!.embedding).toHaveLength(OPENAI_MAJOR >= 7 ? 1536 : 1536 / 4);
    const ok = await client().embeddings.create({
      input: ["a b"],
      model: "text-embedding-3-small",
      encoding_format: "float",
    });
    expect(ok.data[0]!.embedding).toHaveLength(1536);
  });
});
