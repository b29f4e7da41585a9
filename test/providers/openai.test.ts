import { delay, HttpResponse, http } from "msw";
import { describe, expect, it, vi } from "vitest";
import { openaiProvider } from "../../providers/openai/index.js";
import { APICallError, InvalidOptionError, InvalidResponseError } from "../../src/index.js";
import {
  embeddingsBody,
  expectAbortInFlight,
  expectSecretAbsent,
  float32Base64,
  holdRequest,
  reachableStrings,
  rejectionOf,
  useApiServer,
} from "./helpers.js";

const KEY = "test-openai-key-0123456789abcdef";
const URL = "https://api.openai.com/v1/embeddings";

const { server, answer } = useApiServer(URL);

function ok(embeddings: Array<string | number[]>, headers?: Record<string, string>): Response {
  return embeddingsBody(embeddings, "text-embedding-3-small", { prompt_tokens: 9, total_tokens: 9 }, headers);
}

/** An OpenAI error body. */
const apiError = (message: string, code: string | null = null, type = "invalid_request_error") => ({
  error: { message, type, param: null, code },
});

const provider = (options: Partial<Parameters<typeof openaiProvider>[0]> = {}) => {
  vi.stubEnv("OPENAI_BASE_URL", "");
  return openaiProvider({ apiKey: KEY, model: "text-embedding-3-small", ...options });
};

describe("openaiProvider: creation", () => {
  it.each([
    ["text-embedding-3-small", 1536],
    ["text-embedding-3-large", 3072],
    ["text-embedding-ada-002", 1536],
  ])("declares OpenAI's limits and the dimensions of %s", (model, dimensions) => {
    const p = provider({ model });
    expect(p).toMatchObject({ provider: "openai", model, dimensions, truncates: false });
    expect(p.limits).toEqual({
      maxInputsPerRequest: 2048,
      maxTokensPerRequest: 300_000,
      maxTokensPerInput: 8192,
    });
  });

  it("validates dimensions per model", () => {
    expect(provider({ dimensions: 256 }).dimensions).toBe(256);
    expect(provider({ model: "text-embedding-3-large", dimensions: 3072 }).dimensions).toBe(3072);
    expect(() => provider({ dimensions: 2000 })).toThrow(/`dimensions`.*at most 1536/);
    expect(() => provider({ model: "text-embedding-ada-002", dimensions: 512 })).toThrow(
      /`dimensions`.*text-embedding-3/,
    );
    expect(() => provider({ dimensions: -1 })).toThrow(InvalidOptionError);
  });

  it("requires dimensions for an unknown model, with conservative, overridable limits", () => {
    expect(() => provider({ model: "nomic-embed-text" })).toThrow(/`dimensions`.*nomic-embed-text/);
    const p = provider({ model: "nomic-embed-text", dimensions: 768, limits: { maxTokensPerInput: 2048 } });
    expect(p.dimensions).toBe(768);
    expect(p.limits).toEqual({
      maxInputsPerRequest: 128,
      maxTokensPerRequest: 120_000,
      maxTokensPerInput: 2048,
    });
  });

  it("requires an API key at creation, naming OPENAI_API_KEY", () => {
    vi.stubEnv("OPENAI_API_KEY", "");
    expect(() => openaiProvider({ model: "text-embedding-3-small" })).toThrow(/`apiKey`.*OPENAI_API_KEY/);
    // Also with a local baseURL: a placeholder key must be explicit.
    expect(() => openaiProvider({ model: "m", dimensions: 8, baseURL: "http://localhost:11434/v1" })).toThrow(
      InvalidOptionError,
    );
  });

  it("reads OPENAI_API_KEY when apiKey is not given", async () => {
    vi.stubEnv("OPENAI_API_KEY", "env-openai-key-abcdefghijklmnop");
    vi.stubEnv("OPENAI_BASE_URL", "");
    const calls = answer(() => ok([float32Base64([1])]));
    await openaiProvider({ model: "text-embedding-3-small" }).embed(["a"]);
    expect(calls[0]!.headers.authorization).toBe("Bearer env-openai-key-abcdefghijklmnop");
  });

  it("keeps the key off the provider object", () => {
    const p = provider();
    expect(JSON.stringify(p)).not.toContain(KEY);
    expect(reachableStrings(p).filter((s) => s.includes(KEY))).toEqual([]);
  });
});

describe("openaiProvider: wire request", () => {
  it("asks for base64 and sends no dimensions by default", async () => {
    const calls = answer(() => ok([float32Base64([1]), float32Base64([2])]));
    await provider().embed(["alpha", "beta"], { inputType: "query" });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe(URL);
    expect(calls[0]!.method).toBe("POST");
    expect(calls[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(calls[0]!.body).toEqual({
      model: "text-embedding-3-small",
      input: ["alpha", "beta"],
      encoding_format: "base64",
    });
  });

  it("sends dimensions on text-embedding-3-*, and the organization header", async () => {
    const calls = answer(() => ok([float32Base64([1])]));
    await provider({ dimensions: 256, organization: "org-test" }).embed(["a"]);
    expect(calls[0]!.body.dimensions).toBe(256);
    expect(calls[0]!.headers["openai-organization"]).toBe("org-test");
  });

  it("sends dimensions for an unknown model only with sendDimensions", async () => {
    const calls = answer(() => ok([[1, 2]]));
    await provider({ model: "my-deployment", dimensions: 2 }).embed(["a"]);
    expect(calls[0]!.body).not.toHaveProperty("dimensions");
    await provider({ model: "my-deployment", dimensions: 2, sendDimensions: true }).embed(["a"]);
    expect(calls[1]!.body.dimensions).toBe(2);
  });

  it("sends to an OpenAI-compatible baseURL", async () => {
    const calls = answer(() => ok([[0.5, 0.25]]), "http://localhost:11434/v1/embeddings");
    const p = provider({
      model: "nomic-embed-text",
      dimensions: 2,
      baseURL: "http://localhost:11434/v1",
      apiKey: "ollama",
    });
    const result = await p.embed(["a"]);
    expect(calls[0]!.url).toBe("http://localhost:11434/v1/embeddings");
    expect(calls[0]!.headers.authorization).toBe("Bearer ollama");
    expect(Array.from(result.embeddings[0]!)).toEqual([0.5, 0.25]);
  });

  it("sends exactly one request per call: the SDK's retries are off", async () => {
    for (const status of [408, 429, 500, 503]) {
      const calls = answer(() => HttpResponse.json(apiError("nope"), { status }));
      await rejectionOf(provider().embed(["a"]));
      expect(calls, `status ${status}`).toHaveLength(1);
      server.resetHandlers();
    }
  });
});

describe("openaiProvider: decoding", () => {
  it("decodes base64 float32 exactly, in index order, with usage", async () => {
    const a = [0.1, -2.5, 1e-30, 65504];
    const b = [1, 2, 3, 4];
    answer(() =>
      HttpResponse.json({
        object: "list",
        data: [
          { object: "embedding", embedding: float32Base64(b), index: 1 },
          { object: "embedding", embedding: float32Base64(a), index: 0 },
        ],
        model: "text-embedding-3-small",
        usage: { prompt_tokens: 12, total_tokens: 12 },
      }),
    );
    const result = await provider().embed(["a", "b"]);
    expect(result.embeddings[0]).toBeInstanceOf(Float32Array);
    expect(Array.from(result.embeddings[0]!)).toEqual(Array.from(Float32Array.from(a)));
    expect(Array.from(result.embeddings[1]!)).toEqual(b);
    expect(result.usage).toEqual({ tokens: 12 });
  });

  it("keeps float arrays from servers that ignore encoding_format, never shrinking them", async () => {
    const floats = [0.125, -0.5, 0.75, 1, -1, 0.3, 0.6, 0.9];
    answer(() => ok([floats, float32Base64(floats)]), "http://localhost:1234/v1/embeddings");
    const result = await provider({
      model: "local",
      dimensions: 8,
      baseURL: "http://localhost:1234/v1",
    }).embed(["a", "b"]);
    expect(result.embeddings[0]!.length).toBe(8);
    expect(Array.from(result.embeddings[0]!)).toEqual(floats);
    expect(Array.from(result.embeddings[1]!)).toEqual(Array.from(Float32Array.from(floats)));
  });

  it("reports x-ratelimit-* headers as rateLimit", async () => {
    answer(() =>
      ok([float32Base64([1])], {
        "x-ratelimit-limit-requests": "3000",
        "x-ratelimit-remaining-requests": "2999",
        "x-ratelimit-remaining-tokens": "149000",
        "x-ratelimit-reset-requests": "20ms",
        "x-ratelimit-reset-tokens": "6m0s",
      }),
    );
    const { rateLimit } = await provider().embed(["a"]);
    expect(rateLimit).toEqual({
      remainingRequests: 2999,
      remainingTokens: 149000,
      resetRequestsMs: 20,
      resetTokensMs: 360_000,
    });
  });

  it("reports no rateLimit when the server sends no such headers", async () => {
    answer(() => ok([float32Base64([1])]));
    expect((await provider().embed(["a"])).rateLimit).toBeUndefined();
  });

  it.each([
    ["no data list", { object: "list" }],
    ["a missing embedding", { data: [{ index: 0 }] }],
    ["a list of strings", { data: [{ embedding: ["1"], index: 0 }] }],
    ["invalid base64", { data: [{ embedding: "@@@@", index: 0 }] }],
    [
      "too many embeddings",
      {
        data: [
          { embedding: "AACAPw==", index: 0 },
          { embedding: "AACAPw==", index: 1 },
        ],
      },
    ],
  ])("rejects a response with %s as InvalidResponseError", async (_, body) => {
    answer(() => HttpResponse.json(body));
    const error = await rejectionOf(provider().embed(["a"]));
    expect(InvalidResponseError.isInstance(error)).toBe(true);
    expect(error.message).toContain("text-embedding-3-small");
  });

  it("rejects a 200 with malformed JSON as InvalidResponseError", async () => {
    answer(() => new HttpResponse('{"data": [', { headers: { "content-type": "application/json" } }));
    const error = await rejectionOf(provider().embed(["a"]));
    expect(InvalidResponseError.isInstance(error)).toBe(true);
    expect(error.message).toContain("not JSON");
  });
});

describe("openaiProvider: errors", () => {
  const CONTEXT =
    "This model's maximum context length is 8192 tokens, however you requested 9000 tokens (9000 in your prompt; 0 for the completion). Please reduce your prompt; or completion length.";
  const PER_REQUEST = "Requested 310000 tokens, max 300000 tokens per request";

  it.each([
    [400, apiError(CONTEXT), "request_too_large", false, CONTEXT],
    [400, apiError(PER_REQUEST, null, "max_tokens_per_request"), "request_too_large", false, PER_REQUEST],
    [
      400,
      apiError("'$.input' is invalid. Please check the API reference."),
      "invalid_request",
      false,
      undefined,
    ],
    [401, apiError("Incorrect API key provided.", "invalid_api_key"), "authentication", false, undefined],
    [403, apiError("You are not allowed to use this model."), "permission", false, undefined],
    [404, apiError("The model `x` does not exist", "model_not_found"), "not_found", false, undefined],
    [
      429,
      apiError("Rate limit reached for requests", "rate_limit_exceeded", "requests"),
      "rate_limit",
      true,
      undefined,
    ],
    [
      429,
      apiError(
        "You exceeded your current quota, please check your plan.",
        "insufficient_quota",
        "insufficient_quota",
      ),
      "quota_exceeded",
      false,
      undefined,
    ],
    [500, apiError("The server had an error.", null, "server_error"), "server", true, undefined],
    [502, apiError("Bad gateway.", null, "server_error"), "server", true, undefined],
    [503, apiError("The engine is currently overloaded.", null, "server_error"), "server", true, undefined],
    [504, apiError("Gateway timeout.", null, "server_error"), "server", true, undefined],
  ] as const)("maps %i (%j) to its reason", async (status, body, reason, retryable, detail) => {
    answer(() => HttpResponse.json(body, { status }));
    const error = await rejectionOf(provider().embed(["a"]));
    expect(APICallError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({
      provider: "openai",
      model: "text-embedding-3-small",
      status,
      reason,
      isRetryable: retryable,
    });
    expect(error.detail).toBe(detail ?? body.error.message);
    expect(error.url).toBe(URL);
    expect(error.message).toContain("OpenAI");
    expect(error.message).toContain(String(status));
    expect(error.message).toContain(body.error.message);
  });

  it("reads a context-length message from a vLLM-shaped body as request_too_large", async () => {
    const message =
      "This model's maximum context length is 512 tokens. However, you requested 700 tokens in the input for embedding generation. Please reduce the length of the input.";
    answer(
      () =>
        HttpResponse.json(
          { object: "error", message, type: "BadRequestError", param: null, code: 400 },
          { status: 400 },
        ),
      "http://localhost:8000/v1/embeddings",
    );
    const error = await rejectionOf(
      provider({ model: "bge", dimensions: 8, baseURL: "http://localhost:8000/v1" }).embed(["a"]),
    );
    expect(error).toMatchObject({ status: 400, reason: "request_too_large", detail: message });
  });

  it("reads retry-after (seconds), retry-after-ms, and the exhausted x-ratelimit budget on a 429", async () => {
    const rateLimited = (headers: Record<string, string>) =>
      HttpResponse.json(apiError("Rate limit reached", "rate_limit_exceeded"), { status: 429, headers });
    answer(() => rateLimited({ "retry-after": "2" }));
    expect((await rejectionOf(provider().embed(["a"]))).retryAfterMs).toBe(2000);
    server.resetHandlers();
    answer(() => rateLimited({ "retry-after-ms": "150", "retry-after": "2" }));
    expect((await rejectionOf(provider().embed(["a"]))).retryAfterMs).toBe(150);
    server.resetHandlers();
    answer(() => rateLimited({ "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1.5s" }));
    expect((await rejectionOf(provider().embed(["a"]))).retryAfterMs).toBe(1500);
    server.resetHandlers();
    answer(() => rateLimited({}));
    const bare = await rejectionOf(provider().embed(["a"]));
    expect(bare.retryAfterMs).toBeUndefined();
    expect(bare.isRetryable).toBe(true);
  });

  it("keeps the status and body of an error that is not JSON", async () => {
    answer(
      () =>
        new HttpResponse("upstream connect error", {
          status: 503,
          headers: { "content-type": "text/plain" },
        }),
    );
    const error = await rejectionOf(provider().embed(["a"]));
    expect(error).toMatchObject({ status: 503, reason: "server", responseBody: "upstream connect error" });
    expect(error.detail).toBe("upstream connect error");
  });

  it("maps a network failure to a retryable connection error", async () => {
    server.use(http.post(URL, () => HttpResponse.error()));
    const error = await rejectionOf(provider().embed(["a"]));
    expect(APICallError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ reason: "connection", isRetryable: true, status: undefined });
    expect(error.message).toContain(URL);
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
});

describe("openaiProvider: abort", () => {
  it("aborts the request in flight and rejects with signal.reason", async () => {
    const reason = new DOMException("user cancelled", "AbortError");
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
    const reason = new Error("shutdown");
    await expect(provider().embed(["a"], { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(calls).toHaveLength(0);
  });
});

describe("openaiProvider: the API key never leaks", () => {
  it.each([400, 401, 403, 429, 500])("not from a %i whose body echoes it", async (status) => {
    server.use(
      http.post(URL, ({ request }) =>
        HttpResponse.json(
          // The bare key: the generic bearer-token pattern cannot catch it, only the registered secret.
          apiError(
            `Incorrect API key provided: ${request.headers.get("authorization")!.replace(/^Bearer /, "")}`,
          ),
          { status },
        ),
      ),
    );
    const error = await rejectionOf(provider().embed(["a"]));
    expect(error.status).toBe(status);
    expect(error.detail).toContain("[redacted]");
    expectSecretAbsent(error, KEY);
  });

  it("not from a network error, a timeout or a malformed response", async () => {
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
    answer(
      ({ model }) =>
        new HttpResponse(`{"echo": "${KEY}"`, {
          headers: { "content-type": "application/json" },
          status: model ? 200 : 500,
        }),
    );
    expectSecretAbsent(await rejectionOf(provider().embed(["a"])), KEY);
  });
});
