/*
 * The README's "Writing a provider" example (examples/writing-a-provider/acme-provider.ts, shown in
 * the README word for word) run against an MSW server that speaks the made-up Acme API.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { HttpResponse, http } from "msw";
import { describe, expect, it, vi } from "vitest";
import { acmeProvider } from "../../examples/writing-a-provider/acme-provider.js";
import { APICallError, BackfillError, backfill, InvalidOptionError } from "../../src/index.js";
import { deterministicEmbedding, memoryStore } from "../../src/testing/index.js";
import { expectSecretAbsent, float32Base64, rejectionOf, useApiServer } from "./helpers.js";

const KEY = "acme-test-key-0123456789";
const URL = "https://api.acme.example/v1/embeddings";
const { server, answer } = useApiServer(URL);

/** Acme's answer: base64 float32 vectors of deterministicEmbedding, usage, rate-limit headers. */
const acme = (body: Record<string, unknown>) =>
  HttpResponse.json(
    {
      data: (body.input as string[]).map((text, index) => ({
        index,
        embedding: float32Base64([...deterministicEmbedding(text, 768)]),
      })),
      usage: { total_tokens: (body.input as string[]).length * 3 },
    },
    { headers: { "x-ratelimit-remaining-requests": "99", "x-ratelimit-reset-requests": "1s" } },
  );
const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i + 1, text: `row ${i + 1}` }));
const FAST = { retryMinDelayMs: 1, retryMaxDelayMs: 20 };

describe("the README's acmeProvider", () => {
  it("is shown in the README word for word", () => {
    const root = resolve(import.meta.dirname, "../..");
    const source = readFileSync(resolve(root, "examples/writing-a-provider/acme-provider.ts"), "utf8");
    expect(readFileSync(resolve(root, "README.md"), "utf8")).toContain(`\`\`\`ts\n${source}\`\`\``);
  });

  it("backfills: the documented request, every vector decoded onto its row, usage and rate limits read", async () => {
    const calls = answer(acme);
    const store = memoryStore({ rows: rows(5) });
    const report = await backfill({
      provider: acmeProvider({ apiKey: KEY }),
      store,
      maxInputsPerRequest: 2,
      inputType: "query",
    });
    expect(report).toMatchObject({ embedded: 5, requests: 3, tokens: 15 });
    expect(calls[0]).toMatchObject({
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: {
        model: "acme-embed-1",
        input: ["row 1", "row 2"],
        input_type: "query",
        encoding_format: "base64",
      },
    });
    for (const { id, text } of rows(5)) {
      expect(store.records.get(id)!.embedding).toEqual(Float32Array.from(deterministicEmbedding(text, 768)));
    }
  });

  it("reads ACME_API_KEY and ACME_BASE_URL, and refuses a missing key at creation", async () => {
    vi.stubEnv("ACME_API_KEY", KEY);
    vi.stubEnv("ACME_BASE_URL", "https://eu.acme.example/v1");
    const calls = answer(acme, "https://eu.acme.example/v1/embeddings");
    await acmeProvider().embed(["a"]);
    expect(calls[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    vi.stubEnv("ACME_API_KEY", "");
    expect(() => acmeProvider()).toThrow(InvalidOptionError);
  });

  it("gets retries from backfill(): a 429 with Retry-After and a 503 are retried, a 401 is not", async () => {
    let n = 0;
    server.use(
      http.post(URL, async ({ request }) => {
        n++;
        if (n === 1)
          return HttpResponse.json(
            { error: { message: "slow down" } },
            { status: 429, headers: { "retry-after": "0" } },
          );
        if (n === 2) return HttpResponse.json({ error: { message: "overloaded" } }, { status: 503 });
        return acme((await request.json()) as Record<string, unknown>);
      }),
    );
    const report = await backfill({
      provider: acmeProvider({ apiKey: KEY }),
      store: memoryStore({ rows: rows(1) }),
      ...FAST,
    });
    expect(report).toMatchObject({ embedded: 1, retries: 2, rateLimited: 1 });
    server.resetHandlers();
    answer(() => HttpResponse.json({ error: { message: `unknown key ${KEY}` } }, { status: 401 }));
    const error = await rejectionOf(
      backfill({ provider: acmeProvider({ apiKey: KEY }), store: memoryStore({ rows: rows(1) }), ...FAST }),
    );
    expect(BackfillError.isInstance(error)).toBe(true);
    expect(error.cause).toMatchObject({ provider: "acme", reason: "authentication", status: 401 });
    expect(error.cause.message).toContain(
      'Acme embeddings request (model "acme-embed-1") failed with HTTP 401',
    );
    expectSecretAbsent(error, KEY);
  });

  it("maps a refusal for size to request_too_large: backfill() splits the request", async () => {
    const calls = answer((body) =>
      (body.input as string[]).length > 1
        ? HttpResponse.json({ error: { message: "too many tokens in this batch" } }, { status: 400 })
        : acme(body),
    );
    const report = await backfill({
      provider: acmeProvider({ apiKey: KEY }),
      store: memoryStore({ rows: rows(2) }),
    });
    expect(report.embedded).toBe(2);
    expect(calls.map((call) => (call.body.input as string[]).length)).toEqual([2, 1, 1]);
    const error = await rejectionOf(acmeProvider({ apiKey: KEY }).embed(["a", "b"]));
    expect(APICallError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ reason: "request_too_large", detail: "too many tokens in this batch" });
  });
});
