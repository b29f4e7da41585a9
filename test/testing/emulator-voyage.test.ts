import { describe, expect, it } from "vitest";
import { VoyageAIError } from "voyageai";
import {
  createEmbeddingsEmulator,
  deterministicEmbedding,
  emulatorQuantize,
  emulatorTokenCount,
  emulatorTruncate,
} from "../../src/testing/index.js";
import { decodeFloat32, post, rejection, textOfTokens, useEmulator } from "./emulator-harness.js";

const h = useEmulator("msw");

/** The `{ detail }` body and status a VoyageAIError carries. */
async function voyageError(promise: Promise<unknown>): Promise<{ status: number; detail: string }> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(VoyageAIError);
  return { status: error.statusCode, detail: error.body.detail };
}

describe("Voyage emulator: successful requests through the voyageai SDK", () => {
  it("returns the deterministic vectors, in order, with the real response shape", async () => {
    const texts = ["parse a CSV file", "héllo wörld ✓", "a"];
    const res = await h.voyage.embed({ input: texts, model: "voyage-3.5" });
    expect(res.object).toBe("list");
    expect(res.model).toBe("voyage-3.5");
    expect(res.data?.map((d) => [d.object, d.index])).toEqual([
      ["embedding", 0],
      ["embedding", 1],
      ["embedding", 2],
    ]);
    res.data?.forEach((d, i) => {
      expect(Float32Array.from(d.embedding!)).toEqual(deterministicEmbedding(texts[i]!, 1024));
    });
    expect(res.usage?.totalTokens).toBe(texts.reduce((sum, t) => sum + emulatorTokenCount(t), 0));
  });

  it("accepts a single string as input", async () => {
    const res = await h.voyage.embed({ input: "just one", model: "voyage-4" });
    expect(res.data).toHaveLength(1);
    expect(Float32Array.from(res.data![0]!.embedding!)).toEqual(deterministicEmbedding("just one", 1024));
  });

  it.each([
    ["voyage-3.5", 1024],
    ["voyage-3.5-lite", 1024],
    ["voyage-4-large", 1024],
    ["voyage-4-lite", 1024],
    ["voyage-code-3", 1024],
    ["voyage-law-2", 1024],
    ["voyage-code-2", 1536],
  ])("%s has %i dimensions by default", async (model, dims) => {
    const res = await h.voyage.embed({ input: ["x"], model });
    expect(res.data![0]!.embedding).toHaveLength(dims);
  });

  it.each([256, 512, 1024, 2048])("honours output_dimension %i", async (dims) => {
    const res = await h.voyage.embed({
      input: ["dimension test"],
      model: "voyage-3.5",
      outputDimension: dims,
    });
    expect(Float32Array.from(res.data![0]!.embedding!)).toEqual(
      deterministicEmbedding("dimension test", dims),
    );
  });

  it("uses the text as is for input_type query, document and none", async () => {
    const expected = deterministicEmbedding("same text", 1024);
    for (const inputType of ["query", "document", undefined] as const) {
      const res = await h.voyage.embed({ input: ["same text"], model: "voyage-3.5", inputType });
      expect(Float32Array.from(res.data![0]!.embedding!)).toEqual(expected);
    }
    const raw = await post(h, "voyage", { input: ["same text"], model: "voyage-3.5", input_type: null });
    expect(Float32Array.from(raw.json.data[0].embedding)).toEqual(expected);
  });

  it("sends base64 float embeddings as little-endian float32 (the SDK passes the string through)", async () => {
    const res = await h.voyage.embed({
      input: ["base64 please"],
      model: "voyage-3.5",
      encodingFormat: "base64",
    });
    const embedding = res.data![0]!.embedding as unknown;
    expect(typeof embedding).toBe("string");
    expect(decodeFloat32(embedding as string)).toEqual(deterministicEmbedding("base64 please", 1024));
  });

  describe("output_dtype", () => {
    const text = "quantised vectors of several words";
    const v = deterministicEmbedding(text, 1024);
    const int8 = Array.from(v, (x) => Math.max(-128, Math.min(127, Math.round(x * 127))));
    const bits = Array.from({ length: 128 }, (_, byte) => {
      let b = 0;
      for (let bit = 0; bit < 8; bit++) if (v[byte * 8 + bit]! > 0) b |= 0x80 >> bit;
      return b;
    });
    const expected = {
      int8,
      uint8: int8.map((x) => x + 128),
      ubinary: bits,
      binary: bits.map((b) => b - 128),
    };

    it.each(["int8", "uint8", "binary", "ubinary"] as const)("%s as JSON numbers", async (dtype) => {
      const res = await h.voyage.embed({ input: [text], model: "voyage-3.5", outputDtype: dtype });
      expect(res.data![0]!.embedding).toEqual(expected[dtype]);
      expect(emulatorQuantize(v, dtype)).toEqual(expected[dtype]);
    });

    it.each(["int8", "uint8", "binary", "ubinary"] as const)(
      "%s as base64, one byte per value",
      async (dtype) => {
        const res = await h.voyage.embed({
          input: [text],
          model: "voyage-3.5",
          outputDtype: dtype,
          encodingFormat: "base64",
        });
        const bytes = Buffer.from(res.data![0]!.embedding as unknown as string, "base64");
        const values =
          dtype === "int8" || dtype === "binary" ? Array.from(new Int8Array(bytes)) : Array.from(bytes);
        expect(values).toHaveLength(dtype.endsWith("binary") ? 1024 / 8 : 1024);
        expect(values).toEqual(expected[dtype]);
      },
    );

    it("packs binary with output_dimension into dims / 8 bytes", async () => {
      const res = await h.voyage.embed({
        input: ["x"],
        model: "voyage-4",
        outputDtype: "ubinary",
        outputDimension: 256,
      });
      expect(res.data![0]!.embedding).toHaveLength(32);
    });
  });

  it("truncates an over-context input by default and embeds and bills the truncated text", async () => {
    const long = textOfTokens(16_100, 3); // voyage-law-2 reads 16K tokens
    const res = await h.voyage.embed({ input: [long], model: "voyage-law-2" });
    const truncated = emulatorTruncate(long, 16_000);
    expect(truncated.length).toBe(64_000);
    expect(Float32Array.from(res.data![0]!.embedding!)).toEqual(deterministicEmbedding(truncated, 1024));
    expect(res.usage?.totalTokens).toBe(16_000);
  });

  it("accepts a batch of exactly the token limit and exactly 1,000 inputs", async () => {
    const atLimit = Array.from({ length: 10 }, (_, i) => textOfTokens(32_000, i));
    const res = await h.voyage.embed({ input: atLimit, model: "voyage-3.5" });
    expect(res.usage?.totalTokens).toBe(320_000);
    const many = Array.from({ length: 1000 }, (_, i) => `text ${i}`);
    const res2 = await h.voyage.embed({ input: many, model: "voyage-3.5", outputDimension: 256 });
    expect(res2.data).toHaveLength(1000);
  });

  it("uses the 'dimensions' option when the request names none (through the core directly)", async () => {
    const small = createEmbeddingsEmulator({ dimensions: { "voyage-3.5": 8 } });
    const ask = async (body: object) => {
      const outcome = await small.handle({
        api: "voyage",
        method: "POST",
        url: "https://api.voyageai.com/v1/embeddings",
        path: "/v1/embeddings",
        headers: { authorization: "Bearer k" },
        body: JSON.stringify(body),
      });
      if (outcome.kind !== "response") throw new Error("dropped");
      return JSON.parse(outcome.body);
    };
    const res = await ask({ input: ["a"], model: "voyage-3.5" });
    expect(Float32Array.from(res.data[0].embedding)).toEqual(deterministicEmbedding("a", 8));
    expect((await ask({ input: ["a"], model: "voyage-4" })).data[0].embedding).toHaveLength(1024);
    expect(
      (await ask({ input: ["a"], model: "voyage-3.5", output_dimension: 512 })).data[0].embedding,
    ).toHaveLength(512);
  });
});

describe("Voyage emulator: validation errors with the real bodies", () => {
  it("refuses a batch over the model's token limit with the exact message", async () => {
    const cases = [
      ["voyage-3.5", 320_000, 11],
      ["voyage-4", 320_000, 11],
      ["voyage-3-large", 120_000, 4],
      ["voyage-code-3", 120_000, 4],
      ["voyage-finance-2", 120_000, 4],
    ] as const;
    for (const [model, limit, count] of cases) {
      const input = Array.from({ length: count }, (_, i) => textOfTokens(32_000, i));
      const error = await voyageError(h.voyage.embed({ input, model }));
      expect(error).toEqual({
        status: 400,
        detail: `The max allowed tokens per submitted batch is ${limit}. Your batch has ${count * 32_000} tokens`,
      });
    }
  });

  it("allows 1M tokens a batch on the lite models", async () => {
    const input = Array.from({ length: 32 }, (_, i) => textOfTokens(31_250, i)); // exactly 1,000,000
    const res = await h.voyage.embed({ input, model: "voyage-4-lite", outputDimension: 256 });
    expect(res.usage?.totalTokens).toBe(1_000_000);
    const error = await voyageError(
      h.voyage.embed({ input: [...input, "one more"], model: "voyage-3.5-lite" }),
    );
    expect(error.detail).toBe(
      "The max allowed tokens per submitted batch is 1000000. Your batch has 1000002 tokens",
    );
  });

  it("refuses more than 1,000 inputs", async () => {
    const input = Array.from({ length: 1001 }, (_, i) => `t${i}`);
    const error = await voyageError(h.voyage.embed({ input, model: "voyage-3.5" }));
    expect(error.status).toBe(400);
    expect(error.detail).toMatch(/1000.*1001/);
  });

  it("refuses an over-context input when truncation is false (32K, and 16K for law-2 / code-2)", async () => {
    for (const [model, context] of [
      ["voyage-3.5", 32_000],
      ["voyage-law-2", 16_000],
      ["voyage-code-2", 16_000],
    ] as const) {
      const input = ["short", textOfTokens(context + 1)];
      const error = await voyageError(h.voyage.embed({ input, model, truncation: false }));
      expect(error.status).toBe(400);
      expect(error.detail).toContain(`Input at index 1 has ${context + 1} tokens`);
      expect(error.detail).toContain(`context length of ${context} tokens`);
      const ok = await h.voyage.embed({ input: [textOfTokens(context)], model, truncation: false });
      expect(ok.usage?.totalTokens).toBe(context);
    }
  });

  it("refuses empty strings", async () => {
    const error = await voyageError(h.voyage.embed({ input: ["fine", ""], model: "voyage-3.5" }));
    expect(error).toEqual({ status: 400, detail: expect.stringContaining("index 1 is an empty string") });
  });

  it("refuses OpenAI's 'dimensions' field", async () => {
    const res = await post(h, "voyage", { input: ["a"], model: "voyage-3.5", dimensions: 256 });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ detail: expect.stringContaining("'dimensions' is not supported") });
  });

  it.each([
    [{ output_dimension: 300 }, "'output_dimension' must be one of 256, 512, 1024, 2048"],
    [{ model: "voyage-code-2", output_dimension: 1024 }, "does not support the argument 'output_dimension'"],
    [{ model: "voyage-2", output_dtype: "int8" }, "does not support output_dtype 'int8'"],
    [{ output_dtype: "float16" }, "'output_dtype' must be one of"],
    [{ input_type: "passage" }, "'input_type' must be None, 'query' or 'document'"],
    [{ encoding_format: "float" }, "'encoding_format' must be None or 'base64'"],
    [{ truncation: "yes" }, "'truncation' must be a boolean"],
    [{ model: "voyage-5-ultra" }, "Model voyage-5-ultra is not supported"],
    [{ model: undefined }, "'model' is required"],
    [{ input: [] }, "non-empty list of strings"],
    [{ input: ["a", 3] }, "index 1 is not a string"],
  ])("refuses %j", async (override, message) => {
    const res = await post(h, "voyage", { input: ["a"], model: "voyage-3.5", ...override });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ detail: expect.stringContaining(message) });
  });

  it("refuses a body that is not JSON", async () => {
    const res = await post(h, "voyage", "{not json");
    expect(res).toMatchObject({ status: 400, json: { detail: "The request body is not valid JSON." } });
  });

  it("answers 401 without a key, and bills nothing", async () => {
    const res = await post(h, "voyage", { input: ["a"], model: "voyage-3.5" }, { key: null });
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ detail: expect.stringContaining("No API key") });
    expect(h.emulator.stats).toMatchObject({ requests: 1, errors: 1, tokensBilled: 0 });
  });

  it("answers 404 / 405 on other paths and methods, as FastAPI does", async () => {
    expect((await post(h, "voyage", {}, { path: "/embedding" })).json).toEqual({ detail: "Not Found" });
    const get = await post(h, "voyage", undefined, { method: "GET" });
    expect(get.status).toBe(405);
  });
});
