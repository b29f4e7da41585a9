import { APIConnectionError, APIConnectionTimeoutError, APIError, RateLimitError } from "openai";
import { describe, expect, it, vi } from "vitest";
import { VoyageAIError } from "voyageai";
import { InvalidOptionError } from "../../src/index.js";
import {
  createEmbeddingsEmulator,
  deterministicEmbedding,
  type EmulatorFault,
} from "../../src/testing/index.js";
import { decodeFloat32, post, rejection, type Transport, useEmulator } from "./emulator-harness.js";

const MODEL = { voyage: "voyage-3.5", openai: "text-embedding-3-small" } as const;

describe.each<Transport>(["msw", "http"])("faults through %s", (transport) => {
  const h = useEmulator(transport);
  const voyage = (input = ["a", "b", "c"], extra: object = {}) =>
    h.voyage.embed({ input, model: MODEL.voyage, ...extra });
  const openai = (input = ["a", "b", "c"], extra: object = {}) =>
    h.openai.embeddings.create({ input, model: MODEL.openai, ...extra }).withResponse();

  it("rate_limit: 429 with the API's body and Retry-After; without it when retryAfterMs is null", async () => {
    h.emulator.inject("rate_limit", { times: 2 });
    const v = await rejection(voyage());
    expect(v).toBeInstanceOf(VoyageAIError);
    expect(v.statusCode).toBe(429);
    expect(v.body).toEqual({ detail: expect.stringContaining("rate limit") });
    expect(v.rawResponse.headers.get("retry-after")).toBe("1");
    const o = await rejection(openai());
    expect(o).toBeInstanceOf(RateLimitError);
    expect(o.code).toBe("rate_limit_exceeded");
    expect(o.headers.get("retry-after-ms")).toBe("1000");

    h.emulator.inject({ type: "rate_limit", retryAfterMs: 2500 }, { api: "openai" });
    expect((await rejection(openai())).headers.get("retry-after")).toBe("3");

    h.emulator.inject({ type: "rate_limit", retryAfterMs: null }, { times: 2 });
    expect((await rejection(voyage())).rawResponse.headers.get("retry-after")).toBeNull();
    const bare = await rejection(openai());
    expect(bare.status).toBe(429);
    expect(bare.headers.get("retry-after")).toBeNull();
    expect(bare.headers.get("retry-after-ms")).toBeNull();
    expect(h.emulator.stats).toMatchObject({ rateLimited: 5, tokensBilled: 0 });
  });

  it.each([500, 502, 503, 504] as const)(
    "server_error %i: JSON body for 500/503, a gateway page for 502/504",
    async (status) => {
      h.emulator.inject({ type: "server_error", status }, { times: 2 });
      const v = await rejection(voyage());
      expect(v.statusCode).toBe(status);
      const o = await rejection(openai());
      expect(o).toBeInstanceOf(APIError);
      expect(o.status).toBe(status);
      if (status === 500 || status === 503) {
        expect(v.body).toEqual({ detail: expect.any(String) });
        expect(o.error).toMatchObject({ type: "server_error" });
      } else {
        expect(v.body).toContain(`<title>${status}`);
        expect(o.error).toBeUndefined();
      }
    },
  );

  it("drop_connection: no answer at all; both SDKs report a connection error without a status", async () => {
    h.emulator.inject("drop_connection", { times: 2 });
    const v = await rejection(voyage());
    expect(v).toBeInstanceOf(VoyageAIError);
    expect(v.statusCode).toBeUndefined();
    const o = await rejection(openai());
    expect(o).toBeInstanceOf(APIConnectionError);
    expect(o.status).toBeUndefined();
    expect(h.emulator.calls.map((c) => [c.status, c.fault])).toEqual([
      [null, "drop_connection"],
      [null, "drop_connection"],
    ]);
    expect(h.emulator.stats).toMatchObject({ requests: 2, errors: 2 });
    expect((await voyage()).data).toHaveLength(3);
  });

  it("stall: a client with a shorter timeout times out; without one the answer comes late", async () => {
    // Far beyond the clients' timeouts: both must give up long before it, however loaded the machine.
    h.emulator.inject({ type: "stall", ms: 60_000 }, { times: 2 });
    const started = Date.now();
    const o = await rejection(
      h.openai.embeddings.create({ input: ["a"], model: MODEL.openai }, { timeout: 150 }),
    );
    expect(o).toBeInstanceOf(APIConnectionTimeoutError);
    // voyageai 0.4 on Node 20 reports its own timeout as a plain VoyageAIError('"timeout"'), not VoyageAITimeoutError.
    const v = await rejection(
      h.voyage.embed({ input: ["a"], model: MODEL.voyage }, { timeoutInSeconds: 0.15 }),
    );
    expect(v).toBeInstanceOf(VoyageAIError);
    expect(v.statusCode).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(60_000);
    // The emulator notices the client went away and ends the stall, long before its 60 s.
    await vi.waitFor(() => expect(h.emulator.stats.inFlight).toBe(0), { timeout: 30_000 });

    h.emulator.inject({ type: "stall", ms: 120 });
    const slowStart = Date.now();
    const late = await voyage(["late"]);
    expect(Date.now() - slowStart).toBeGreaterThanOrEqual(110);
    expect(Float32Array.from(late.data![0]!.embedding!)).toEqual(deterministicEmbedding("late", 1024));
  });

  it("malformed_json: 200 with a cut JSON body; the openai SDK throws, the voyageai SDK resolves with junk", async () => {
    h.emulator.inject("malformed_json", { times: 3 });
    const raw = await post(h, "voyage", { input: ["a"], model: MODEL.voyage });
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-type")).toBe("application/json");
    expect(() => JSON.parse(raw.text)).toThrow(SyntaxError);
    expect(raw.text.startsWith('{"object":"list","data":[')).toBe(true);

    await expect(openai()).rejects.toThrow(SyntaxError);
    // A provider must check the shape: voyageai 0.4 returns its parse failure as the "data".
    const junk = (await voyage()) as unknown as { data?: unknown; ok?: boolean; error?: { reason: string } };
    expect(junk.data).toBeUndefined();
    expect(junk).toMatchObject({ ok: false, error: { reason: "non-json" } });
  });

  it("wrong_count: too few or too many embeddings", async () => {
    h.emulator.inject("wrong_count", { api: "voyage" });
    expect((await voyage()).data).toHaveLength(2);
    h.emulator.inject({ type: "wrong_count", delta: 2 }, { api: "openai" });
    const o = await openai();
    expect(o.data.data).toHaveLength(5);
    expect(o.data.data.map((d) => d.index)).toEqual([0, 1, 2, 3, 4]);
    expect(o.data.usage.total_tokens).toBe(3);
  });

  it("wrong_dimension: every vector of another length", async () => {
    h.emulator.inject("wrong_dimension", { api: "voyage" });
    const v = await voyage();
    expect(v.data!.map((d) => d.embedding!.length)).toEqual([512, 512, 512]);
    h.emulator.inject({ type: "wrong_dimension", dimensions: 1535 }, { api: "openai" });
    expect((await openai()).data.data[0]!.embedding).toHaveLength(1535);
  });

  it('nan: null (or "NaN") in JSON arrays, NaN bits in float base64, a JSON array for int8 base64', async () => {
    h.emulator.inject({ type: "nan", index: 1 });
    const v = await voyage();
    expect(v.data![1]!.embedding![0]).toBeNull();
    expect(v.data![0]!.embedding!.every((x) => typeof x === "number")).toBe(true);

    h.emulator.inject({ type: "nan", as: "string" });
    expect((await voyage()).data![0]!.embedding![0]).toBe("NaN");

    h.emulator.inject("nan");
    const o = await openai(); // the SDK asked for base64 and decodes it
    expect(Number.isNaN(o.data.data[0]!.embedding[0])).toBe(true);
    expect(o.data.data[0]!.embedding).toHaveLength(1536);

    h.emulator.inject("nan");
    const b = await post(h, "voyage", { input: ["a"], model: MODEL.voyage, encoding_format: "base64" });
    expect(Number.isNaN(decodeFloat32(b.json.data[0].embedding)[0])).toBe(true);

    h.emulator.inject("nan");
    const q = await voyage(["a"], { outputDtype: "int8", encodingFormat: "base64" });
    expect(Array.isArray(q.data![0]!.embedding)).toBe(true);
    expect(q.data![0]!.embedding![0]).toBeNull();
  });

  it("invalid_key and forbidden: 401 and 403 with the API's bodies", async () => {
    h.emulator.inject("invalid_key", { times: 2 });
    const v = await rejection(voyage());
    expect([v.statusCode, v.body]).toEqual([401, { detail: "Provided API key is invalid." }]);
    const o = await rejection(openai());
    expect([o.status, o.code, o.error.type]).toEqual([401, "invalid_api_key", "invalid_request_error"]);

    h.emulator.inject("forbidden", { times: 2 });
    expect((await rejection(voyage())).statusCode).toBe(403);
    expect((await rejection(openai())).status).toBe(403);
  });

  it("insufficient_quota: OpenAI's 429 that is not a rate limit; Voyage requests pass it by", async () => {
    h.emulator.inject("insufficient_quota");
    expect((await voyage()).data).toHaveLength(3);
    const o = await rejection(openai());
    expect(o).toBeInstanceOf(RateLimitError);
    expect(o.code).toBe("insufficient_quota");
    expect(o.error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota", param: null });
    expect(o.headers.get("retry-after")).toBeNull();
    expect(h.emulator.stats.rateLimited).toBe(0);
  });
});

describe("fault scheduling", () => {
  const h = useEmulator("msw");
  const status = async () => (await post(h, "voyage", { input: ["a"], model: "voyage-3.5" })).status;

  it("shows injected faults in order, after afterRequests, times times", async () => {
    h.emulator.inject({ type: "server_error", status: 503 }, { afterRequests: 2, times: 2 });
    h.emulator.inject({ type: "server_error", status: 500 });
    expect(h.emulator.pendingFaults).toBe(3);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push(await status());
    // request 1 takes the 500 (the 503s wait for 2 requests), then the two 503s
    expect(statuses).toEqual([500, 200, 503, 503, 200, 200]);
    expect(h.emulator.pendingFaults).toBe(0);
  });

  it("filters by api", async () => {
    h.emulator.inject("server_error", { api: "openai" });
    expect(await status()).toBe(200);
    const o = await post(h, "openai", { input: ["a"], model: "text-embedding-3-small" });
    expect(o.status).toBe(500);
  });

  it("draws random faults from a seed: same seed, same sequence", async () => {
    const config = {
      seed: 42,
      faults: [
        { fault: "server_error" as const, probability: 0.3 },
        { fault: { type: "rate_limit", retryAfterMs: null } as EmulatorFault, probability: 0.2 },
      ],
    };
    const run = async () => {
      h.emulator.reset();
      h.emulator.setFaults(config);
      const out = [];
      for (let i = 0; i < 40; i++) out.push(await status());
      return out;
    };
    const first = await run();
    expect(await run()).toEqual(first);
    const count = (s: number) => first.filter((x) => x === s).length;
    expect(count(500)).toBeGreaterThan(4);
    expect(count(429)).toBeGreaterThan(2);
    expect(count(200)).toBeGreaterThan(10);

    h.emulator.setFaults({ ...config, seed: 43 });
    const other = [];
    for (let i = 0; i < 40; i++) other.push(await status());
    expect(other).not.toEqual(first);

    h.emulator.setFaults(null);
    for (let i = 0; i < 5; i++) expect(await status()).toBe(200);
  });

  it("refuses bad fault settings, naming the option", () => {
    const e = createEmbeddingsEmulator();
    expect(() => e.inject("explode" as never)).toThrow(InvalidOptionError);
    expect(() => e.inject("stall", { times: 0 })).toThrow("Expected `times` to be a positive integer.");
    expect(() => e.inject("stall", { afterRequests: -1 })).toThrow("`afterRequests`");
    expect(() => e.setFaults({ faults: [{ fault: "rate_limit", probability: 1.5 }] })).toThrow(
      "Expected `faults[0].probability` to be a number between 0 and 1.",
    );
    expect(() =>
      e.setFaults({
        faults: [
          { fault: "rate_limit", probability: 0.6 },
          { fault: "server_error", probability: 0.6 },
        ],
      }),
    ).toThrow("probabilities adding up to at most 1");
  });
});
