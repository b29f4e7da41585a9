import { delay, HttpResponse, http } from "msw";
import { describe, expect, it, vi } from "vitest";
import { voyageProvider } from "../../providers/voyage/index.js";
import { APICallError, backfill, InvalidOptionError, InvalidResponseError } from "../../src/index.js";
import { memoryStore } from "../../src/testing/index.js";
import {
  bytesBase64,
  embeddingsBody,
  expectAbortInFlight,
  expectSecretAbsent,
  float32Base64,
  holdRequest,
  reachableStrings,
  rejectionOf,
  useApiServer,
} from "./helpers.js";

// Not shaped like any known key (sk-/pa-/al-): only the provider's own redaction can keep it out.
const KEY = "test-voyage-key-0123456789abcdef";
const URL = "https://api.voyageai.com/v1/embeddings";

const { server, answer } = useApiServer(URL);

/** A Voyage success body with base64 embeddings, one per input. */
function ok(embeddings: string[] | number[][], headers?: Record<string, string>): Response {
  return embeddingsBody(embeddings, "voyage-3.5", { total_tokens: 42 }, headers);
}

const provider = (options: Partial<Parameters<typeof voyageProvider>[0]> = {}) => {
  vi.stubEnv("VOYAGE_BASE_URL", "");
  return voyageProvider({ apiKey: KEY, model: "voyage-3.5", ...options });
};

describe("voyageProvider: creation", () => {
  it.each([
    ["voyage-4-large", 120_000, 32_000, 1024],
    ["voyage-4", 320_000, 32_000, 1024],
    ["voyage-4-lite", 1_000_000, 32_000, 1024],
    ["voyage-3.5", 320_000, 32_000, 1024],
    ["voyage-3.5-lite", 1_000_000, 32_000, 1024],
    ["voyage-3-large", 120_000, 32_000, 1024],
    ["voyage-code-3", 120_000, 32_000, 1024],
    ["voyage-finance-2", 120_000, 32_000, 1024],
    ["voyage-law-2", 120_000, 16_000, 1024],
    ["voyage-code-2", 120_000, 16_000, 1536],
    ["voyage-3", 320_000, 32_000, 1024],
    ["voyage-3-lite", 1_000_000, 32_000, 512],
    ["voyage-multilingual-2", 120_000, 32_000, 1024],
    ["voyage-2", 320_000, 4_000, 1024],
  ])("declares the limits and dimensions of %s", (model, tokens, context, dimensions) => {
    const p = provider({ model });
    expect(p).toMatchObject({
      provider: "voyage",
      model,
      dimensions,
      truncates: true,
      supportsParallelCalls: true,
    });
    expect(p.limits).toEqual({
      maxInputsPerRequest: 1000,
      maxTokensPerRequest: tokens,
      maxTokensPerInput: context,
    });
  });

  it("applies limit overrides and truncation: false", () => {
    const p = provider({ truncation: false, limits: { maxTokensPerRequest: 50_000 } });
    expect(p.truncates).toBe(false);
    expect(p.limits).toEqual({
      maxInputsPerRequest: 1000,
      maxTokensPerRequest: 50_000,
      maxTokensPerInput: 32_000,
    });
    expect(() => provider({ limits: { maxInputsPerRequest: 0 } })).toThrow(/limits\.maxInputsPerRequest/);
  });

  it("reports the packed length as dimensions for binary dtypes", () => {
    expect(provider({ outputDimension: 2048 }).dimensions).toBe(2048);
    expect(provider({ outputDtype: "int8", outputDimension: 512 }).dimensions).toBe(512);
    expect(provider({ outputDtype: "binary" }).dimensions).toBe(128);
    expect(provider({ outputDtype: "ubinary", outputDimension: 256 }).dimensions).toBe(32);
  });

  it("requires an API key at creation, naming apiKey and VOYAGE_API_KEY", () => {
    vi.stubEnv("VOYAGE_API_KEY", "");
    const error = (() => {
      try {
        voyageProvider({ model: "voyage-3.5" });
      } catch (e) {
        return e;
      }
    })();
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    expect((error as InvalidOptionError).option).toBe("apiKey");
    expect((error as Error).message).toContain("VOYAGE_API_KEY");
  });

  it("reads VOYAGE_API_KEY when apiKey is not given", async () => {
    vi.stubEnv("VOYAGE_API_KEY", "env-voyage-key-abcdefghijklmnop");
    const calls = answer(() => ok([float32Base64([1])]));
    await voyageProvider({ model: "voyage-3.5" }).embed(["a"]);
    expect(calls[0]!.headers.authorization).toBe("Bearer env-voyage-key-abcdefghijklmnop");
  });

  it("validates outputDimension against the model", () => {
    expect(() => provider({ outputDimension: 300 })).toThrow(InvalidOptionError);
    expect(() => provider({ outputDimension: 300 })).toThrow(/`outputDimension`.*256, 512, 1024, 2048/);
    expect(() => provider({ model: "voyage-law-2", outputDimension: 512 })).toThrow(/`outputDimension`/);
    expect(() => provider({ outputDimension: 1.5 })).toThrow(/`outputDimension`/);
  });

  it("validates outputDtype, inputType and timeoutMs", () => {
    expect(() => provider({ model: "voyage-law-2", outputDtype: "int8" })).toThrow(/`outputDtype`/);
    expect(() => provider({ outputDtype: "float16" as never })).toThrow(/`outputDtype`/);
    expect(() => provider({ inputType: "passage" as never })).toThrow(/`inputType`/);
    expect(() => provider({ timeoutMs: 0 })).toThrow(/`timeoutMs`/);
    expect(() => provider({ model: "" })).toThrow(/`model`/);
  });

  it("requires dimensions for an unknown model, with conservative limits", () => {
    expect(() => provider({ model: "voyage-9" })).toThrow(/`dimensions`.*voyage-9/);
    const p = provider({ model: "voyage-9", dimensions: 768 });
    expect(p.dimensions).toBe(768);
    expect(p.limits).toEqual({
      maxInputsPerRequest: 128,
      maxTokensPerRequest: 120_000,
      maxTokensPerInput: 16_000,
    });
    expect(provider({ model: "voyage-9", outputDimension: 512 }).dimensions).toBe(512);
  });

  it("refuses a dimensions override that contradicts a known model", () => {
    expect(provider({ dimensions: 1024 }).dimensions).toBe(1024);
    expect(() => provider({ dimensions: 512 })).toThrow(/`dimensions`.*outputDimension/);
  });

  it("keeps the key off the provider object", () => {
    const p = provider();
    expect(JSON.stringify(p)).not.toContain(KEY);
    expect(reachableStrings(p).filter((s) => s.includes(KEY))).toEqual([]);
  });
});

describe("voyageProvider: wire request", () => {
  it("sends the documented request with base64 encoding and no `dimensions`", async () => {
    const calls = answer(() => ok([float32Base64([1, 2]), float32Base64([3, 4])]));
    await provider().embed(["alpha", "beta"]);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call!.url).toBe(URL);
    expect(call!.method).toBe("POST");
    expect(call!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(call!.headers["content-type"]).toBe("application/json");
    expect(call!.body).toEqual({
      input: ["alpha", "beta"],
      model: "voyage-3.5",
      input_type: "document",
      truncation: true,
      encoding_format: "base64",
    });
  });

  it("sends output_dimension, output_dtype, truncation and a per-call input_type", async () => {
    const calls = answer(() => ok([bytesBase64(new Array(512).fill(1))]));
    const p = provider({ outputDimension: 512, outputDtype: "int8", truncation: false });
    await p.embed(["q"], { inputType: "query" });
    expect(calls[0]!.body).toEqual({
      input: ["q"],
      model: "voyage-3.5",
      input_type: "query",
      truncation: false,
      encoding_format: "base64",
      output_dimension: 512,
      output_dtype: "int8",
    });
  });

  it("omits input_type when inputType is null", async () => {
    const calls = answer(() => ok([float32Base64([1])]));
    await provider({ inputType: null }).embed(["a"]);
    expect(calls[0]!.body).not.toHaveProperty("input_type");
  });

  it("never sends `dimensions`, even when the option is set", async () => {
    const calls = answer(() => ok([float32Base64([1])]));
    await provider({ model: "voyage-custom", dimensions: 1 }).embed(["a"]);
    expect(calls[0]!.body).not.toHaveProperty("dimensions");
    expect(calls[0]!.body.model).toBe("voyage-custom");
  });

  it("sends to a custom baseURL", async () => {
    const calls = answer(() => ok([float32Base64([1])]), "https://voyage.example.test/v1/embeddings");
    await provider({ baseURL: "https://voyage.example.test/v1/" }).embed(["a"]);
    expect(calls[0]!.url).toBe("https://voyage.example.test/v1/embeddings");
  });

  it("reads VOYAGE_BASE_URL when baseURL is not given; baseURL wins over it", async () => {
    const create = (baseURL?: string) => voyageProvider({ apiKey: KEY, model: "voyage-3.5", baseURL });
    vi.stubEnv("VOYAGE_BASE_URL", "https://voyage-env.example.test/v1");
    const fromEnv = answer(() => ok([float32Base64([1])]), "https://voyage-env.example.test/v1/embeddings");
    await create().embed(["a"]);
    expect(fromEnv).toHaveLength(1);
    const fromOption = answer(() => ok([float32Base64([1])]), "https://voyage.example.test/v1/embeddings");
    await create("https://voyage.example.test/v1").embed(["a"]);
    expect(fromOption).toHaveLength(1);
    vi.stubEnv("VOYAGE_BASE_URL", "not a url");
    expect(() => create()).toThrow(/`baseURL`/);
  });

  it("sends exactly one request per call: the SDK's retries are off", async () => {
    for (const status of [429, 500, 503]) {
      const calls = answer(() => HttpResponse.json({ detail: "nope" }, { status }));
      await rejectionOf(provider().embed(["a"]));
      expect(calls, `status ${status}`).toHaveLength(1);
      server.resetHandlers();
    }
  });
});

describe("voyageProvider: inputType under backfill()", () => {
  // What `backfill()` sends when it is not told an inputType: the provider's own setting.
  const sentInputTypes = async (
    providerOptions: Partial<Parameters<typeof voyageProvider>[0]>,
    inputType?: "document" | "query",
  ) => {
    const calls = answer((body) => ok((body.input as string[]).map(() => float32Base64([1, 0]))));
    await backfill({
      provider: provider({ model: "voyage-custom", dimensions: 2, ...providerOptions }),
      store: memoryStore({ rows: [{ id: 1, text: "alpha" }] }),
      ...(inputType ? { inputType } : {}),
    });
    return calls.map((call) => call.body.input_type);
  };

  it("sends no input_type for voyageProvider({ inputType: null })", async () => {
    expect(await sentInputTypes({ inputType: null })).toEqual([undefined]);
  });

  it('sends the provider\'s own inputType, and "document" when it has none', async () => {
    expect(await sentInputTypes({ inputType: "query" })).toEqual(["query"]);
    expect(await sentInputTypes({})).toEqual(["document"]);
  });

  it("sends backfill({ inputType }) over the provider's setting", async () => {
    expect(await sentInputTypes({ inputType: null }, "query")).toEqual(["query"]);
    expect(await sentInputTypes({ inputType: "query" }, "document")).toEqual(["document"]);
  });
});

describe("voyageProvider: decoding", () => {
  it("decodes base64 float32 (little-endian) exactly, in index order", async () => {
    const a = [0.5, -1.25, 3.4028234663852886e38, 1e-45];
    const b = [-0, 7, -7.5, 0.1];
    answer(() =>
      HttpResponse.json({
        object: "list",
        data: [
          { object: "embedding", embedding: float32Base64(b), index: 1 },
          { object: "embedding", embedding: float32Base64(a), index: 0 },
        ],
        model: "voyage-3.5",
        usage: { total_tokens: 7 },
      }),
    );
    const result = await provider().embed(["a", "b"]);
    expect(result.embeddings[0]).toBeInstanceOf(Float32Array);
    expect(Array.from(result.embeddings[0]!)).toEqual(Array.from(Float32Array.from(a)));
    expect(Array.from(result.embeddings[1]!)).toEqual(Array.from(Float32Array.from(b)));
    expect(result.usage).toEqual({ tokens: 7 });
    expect(result.rateLimit).toBeUndefined();
  });

  it.each([
    ["int8", [-128, -1, 0, 1, 127, 42, -42, 5], Int8Array, [-128, -1, 0, 1, 127, 42, -42, 5]],
    ["uint8", [0, 1, 128, 255, 42, 7, 200, 9], Uint8Array, [0, 1, 128, 255, 42, 7, 200, 9]],
    // Offset binary: the packed byte minus 128 on the wire, the packed byte itself once decoded.
    ["binary", [-128, 127, 0, -1], Uint8Array, [0, 255, 128, 127]],
    ["ubinary", [255, 0, 170, 85], Uint8Array, [255, 0, 170, 85]],
  ] as const)("decodes %s as one byte per value", async (dtype, values, type, decoded) => {
    answer(() => ok([bytesBase64(values)]));
    const p = provider({
      model: "voyage-custom",
      outputDtype: dtype,
      outputDimension: dtype.endsWith("binary") ? 32 : 8,
    });
    const [vector] = (await p.embed(["a"])).embeddings;
    expect(vector).toBeInstanceOf(type);
    expect(Array.from(vector!)).toEqual(decoded);
    expect(vector!.length).toBe(p.dimensions);
    expect(p.vectorType).toBe(dtype.endsWith("binary") ? "bit" : "float");
  });

  it("accepts float arrays from a server that ignores encoding_format", async () => {
    answer(() => ok([[0.25, -0.5, 1]]));
    const [vector] = (await provider().embed(["a"])).embeddings;
    expect(Array.from(vector!)).toEqual([0.25, -0.5, 1]);
  });

  it.each([
    ["no data list", { object: "list" }],
    ["too few embeddings", { data: [{ embedding: float32Base64([1]), index: 0 }] }],
    [
      "invalid base64",
      {
        data: [
          { embedding: "not base64!", index: 0 },
          { embedding: "AAAA", index: 1 },
        ],
      },
    ],
    [
      "bytes that are not whole float32s",
      {
        data: [
          { embedding: "AAAAAAA=", index: 0 },
          { embedding: "AAAA", index: 1 },
        ],
      },
    ],
    [
      "a repeated index",
      {
        data: [
          { embedding: "AACAPw==", index: 0 },
          { embedding: "AACAPw==", index: 0 },
        ],
      },
    ],
  ])("rejects a response with %s as InvalidResponseError", async (_, body) => {
    answer(() => HttpResponse.json(body));
    const error = await rejectionOf(provider().embed(["a", "b"]));
    expect(InvalidResponseError.isInstance(error)).toBe(true);
    expect(error.message).toContain("voyage-3.5");
  });

  it("rejects a 200 whose body is not JSON as InvalidResponseError", async () => {
    answer(() => new HttpResponse("{not json", { headers: { "content-type": "application/json" } }));
    const error = await rejectionOf(provider().embed(["a"]));
    expect(InvalidResponseError.isInstance(error)).toBe(true);
  });
});

describe("voyageProvider: errors", () => {
  const TOKENS =
    "The max allowed tokens per submitted batch is 320000. Your batch has 401234 tokens after truncation.";
  const CONTEXT =
    "The example at index 0 in your batch has too many tokens and does not fit into the model's context window of 32000 tokens.";

  it.each([
    [400, TOKENS, "request_too_large", false],
    [400, CONTEXT, "request_too_large", false],
    [400, "The batch size limit is 1000. Your batch size is 1001.", "request_too_large", false],
    [400, "Input cannot contain empty strings.", "invalid_request", false],
    [401, "Provided API key is invalid.", "authentication", false],
    [403, "Forbidden.", "permission", false],
    [404, "Not found.", "not_found", false],
    [429, "You have exceeded your rate limit.", "rate_limit", true],
    [500, "Internal error.", "server", true],
    [502, "Bad gateway.", "server", true],
    [503, "Service overloaded.", "server", true],
    [504, "Gateway timeout.", "server", true],
  ] as const)("maps %i %s to %s", async (status, detail, reason, retryable) => {
    answer(() => HttpResponse.json({ detail }, { status }));
    const error = await rejectionOf(provider().embed(["a"]));
    expect(APICallError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({
      provider: "voyage",
      model: "voyage-3.5",
      status,
      reason,
      isRetryable: retryable,
    });
    expect(error.detail).toBe(detail);
    expect(error.url).toBe(URL);
    expect(error.message).toContain("Voyage");
    expect(error.message).toContain('"voyage-3.5"');
    expect(error.message).toContain(String(status));
    expect(error.message).toContain(detail);
    expect(error.responseBody).toContain(detail);
  });

  it("says what to do: the key for 401, the al-/pa- hosts for 403, the version path for 404", async () => {
    answer(() => HttpResponse.json({ detail: "x" }, { status: 401 }));
    expect((await rejectionOf(provider().embed(["a"]))).message).toContain("VOYAGE_API_KEY");
    server.resetHandlers();
    answer(() => HttpResponse.json({ detail: "x" }, { status: 403 }));
    const forbidden = await rejectionOf(provider().embed(["a"]));
    expect(forbidden.message).toMatch(/`al-`.*`pa-`.*different API hosts/);
    expect(forbidden.message).toContain("starts `tes`");
    server.resetHandlers();
    answer(() => HttpResponse.json({ detail: "x" }, { status: 404 }));
    expect((await rejectionOf(provider().embed(["a"]))).message).toContain("/v1");
  });

  it("reads Retry-After (seconds) and retry-after-ms on a 429, and nothing when absent", async () => {
    answer(() =>
      HttpResponse.json({ detail: "slow down" }, { status: 429, headers: { "retry-after": "7" } }),
    );
    expect((await rejectionOf(provider().embed(["a"]))).retryAfterMs).toBe(7000);
    server.resetHandlers();
    answer(() =>
      HttpResponse.json({ detail: "slow down" }, { status: 429, headers: { "retry-after-ms": "250" } }),
    );
    expect((await rejectionOf(provider().embed(["a"]))).retryAfterMs).toBe(250);
    server.resetHandlers();
    answer(() => HttpResponse.json({ detail: "slow down" }, { status: 429 }));
    const error = await rejectionOf(provider().embed(["a"]));
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.isRetryable).toBe(true);
  });

  it("keeps the status of an error whose body is not JSON (HTML from a proxy, broken JSON)", async () => {
    answer(
      () =>
        new HttpResponse("<html>502 Bad Gateway</html>", {
          status: 502,
          headers: { "content-type": "text/html" },
        }),
    );
    const html = await rejectionOf(provider().embed(["a"]));
    expect(html).toMatchObject({ status: 502, reason: "server", isRetryable: true });
    expect(html.responseBody).toContain("502 Bad Gateway");
    server.resetHandlers();
    answer(
      () => new HttpResponse("{broken", { status: 500, headers: { "content-type": "application/json" } }),
    );
    const broken = await rejectionOf(provider().embed(["a"]));
    expect(broken).toMatchObject({
      status: 500,
      reason: "server",
      isRetryable: true,
      responseBody: "{broken",
    });
  });

  it("maps a network failure to a retryable connection error", async () => {
    server.use(http.post(URL, () => HttpResponse.error()));
    const error = await rejectionOf(provider().embed(["a"]));
    expect(error).toMatchObject({ reason: "connection", isRetryable: true, status: undefined });
    expect(error.message).toContain(URL);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it("times out after timeoutMs with a retryable timeout error", async () => {
    let held: Promise<"aborted" | "held"> | undefined;
    server.use(
      http.post(URL, async ({ request }) => {
        held = holdRequest(request);
        await held;
        return ok([float32Base64([1])]);
      }),
    );
    const error = await rejectionOf(provider({ timeoutMs: 100 }).embed(["a"]));
    // It gave up on its own timer and aborted the request, not waiting for the server.
    expect(await held).toBe("aborted");
    expect(APICallError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ reason: "timeout", isRetryable: true });
    expect(error.message).toContain("100 ms");
  });

  it("times out while the response body is still streaming", async () => {
    server.use(
      http.post(URL, () => {
        const stream = new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"object":"list","data":['));
          },
        });
        return new HttpResponse(stream, { headers: { "content-type": "application/json" } });
      }),
    );
    const error = await rejectionOf(provider({ timeoutMs: 150 }).embed(["a"]));
    expect(error).toMatchObject({ reason: "timeout", isRetryable: true });
  });
});

describe("voyageProvider: abort", () => {
  it("aborts the request in flight and rejects with signal.reason", async () => {
    const reason = new Error("stop now");
    await expectAbortInFlight(
      server,
      URL,
      () => ok([float32Base64([1])]),
      (signal) => provider().embed(["a"], { signal }),
      reason,
    );
  });

  it("rejects at once with signal.reason when already aborted, sending nothing", async () => {
    const calls = answer(() => ok([float32Base64([1])]));
    const controller = new AbortController();
    controller.abort("cancelled");
    await expect(provider().embed(["a"], { signal: controller.signal })).rejects.toBe("cancelled");
    expect(calls).toHaveLength(0);
  });
});

describe("voyageProvider: the API key never leaks", () => {
  // A server that echoes the key in every error body, bare: the generic bearer-token pattern cannot
  // catch it, only the registered secret can.
  const bareKey = (request: Request) => request.headers.get("authorization")!.replace(/^Bearer /, "");
  const echo = (status: number) => (_: unknown, request: Request) =>
    HttpResponse.json({ detail: `bad key ${bareKey(request)}` }, { status });

  it.each([400, 401, 403, 429, 500])("not from a %i whose body echoes it", async (status) => {
    server.use(http.post(URL, ({ request }) => echo(status)(undefined, request)));
    const error = await rejectionOf(provider().embed(["a"]));
    expect(error.status).toBe(status);
    expect(error.detail).toContain("[redacted]");
    expectSecretAbsent(error, KEY);
  });

  it("not from a text error body that echoes it", async () => {
    server.use(
      http.post(URL, ({ request }) => new HttpResponse(`denied ${bareKey(request)}`, { status: 502 })),
    );
    expectSecretAbsent(await rejectionOf(provider().embed(["a"])), KEY);
  });

  it("not from a network error, a timeout or an invalid response", async () => {
    server.use(http.post(URL, () => HttpResponse.error()));
    expectSecretAbsent(await rejectionOf(provider().embed(["a"])), KEY);
    server.resetHandlers();
    server.use(
      http.post(URL, async () => {
        await delay(1000);
        return ok([]);
      }),
    );
    expectSecretAbsent(await rejectionOf(provider({ timeoutMs: 50 }).embed(["a"])), KEY);
    server.resetHandlers();
    answer(() => HttpResponse.json({ data: "nope" }));
    expectSecretAbsent(await rejectionOf(provider().embed(["a"])), KEY);
  });
});
