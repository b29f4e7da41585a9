import OpenAI, { RateLimitError } from "openai";
import { describe, expect, it } from "vitest";
import { VoyageAIClient, VoyageAIError } from "voyageai";
import {
  createEmbeddingsEmulator,
  type EmbeddingsEmulator,
  type EmulatorRateLimits,
} from "../../src/testing/index.js";
import { emulatorHandlers } from "../../src/testing/msw.js";
import { API_KEY, rejection, textOfTokens, useEmulator } from "./emulator-harness.js";

const h = useEmulator("msw");
const VOYAGE = "https://voyage.rate.test/v1";
const OPENAI = "https://openai.rate.test/v1";

/** An emulator on a fake clock, served by MSW, with SDK clients for both APIs. */
function limited(rateLimits: EmulatorRateLimits, start = 1_000_000) {
  const clock = { now: start };
  const emulator: EmbeddingsEmulator = createEmbeddingsEmulator({ rateLimits, clock: () => clock.now });
  h.use(...emulatorHandlers(emulator, { voyage: VOYAGE, openai: OPENAI }));
  const voyage = new VoyageAIClient({ apiKey: API_KEY, baseUrl: VOYAGE, maxRetries: 0 });
  const openai = new OpenAI({ apiKey: API_KEY, baseURL: OPENAI, maxRetries: 0 });
  const embedVoyage = (input: string[] = ["x"], model = "voyage-3.5") => voyage.embed({ input, model });
  const embedOpenAI = (input: string[] = ["x"], model = "text-embedding-3-small") =>
    openai.embeddings.create({ input, model, dimensions: 8 }).withResponse();
  return { clock, emulator, embedVoyage, embedOpenAI };
}

describe("rate limits: a sliding 60 s window per model", () => {
  it("refuses the request over RPM with an honest Retry-After, and admits it exactly when the window frees", async () => {
    const t = limited({ requestsPerMinute: 2 });
    await t.embedVoyage(); // at 0 s
    t.clock.now += 10_000;
    await t.embedVoyage(); // at 10 s
    t.clock.now += 5_000; // 15 s: the first request leaves the window at 60 s, in 45 s

    const error = await rejection(t.embedVoyage());
    expect(error).toBeInstanceOf(VoyageAIError);
    expect(error.statusCode).toBe(429);
    expect(error.body.detail).toContain("rate limit of 2 requests per minute for voyage-3.5");
    expect(error.rawResponse.headers.get("retry-after")).toBe("45");

    t.clock.now += 45_000 - 1; // 1 ms early: still refused, now with Retry-After rounded up to 1 s
    const early = await rejection(t.embedVoyage());
    expect(early.statusCode).toBe(429);
    expect(early.rawResponse.headers.get("retry-after")).toBe("1");

    t.clock.now += 1;
    const ok = await t.embedVoyage();
    expect(ok.data).toHaveLength(1);
    expect(t.emulator.stats).toMatchObject({ requests: 5, rateLimited: 2, errors: 2 });
  });

  it("counts billed tokens against TPM and tells when enough of them have left the window", async () => {
    const t = limited({ tokensPerMinute: 100 });
    await t.embedVoyage([textOfTokens(60)]); // 0 s
    t.clock.now += 20_000;
    await t.embedVoyage([textOfTokens(30)]); // 20 s: 90 used
    t.clock.now += 1_000;
    // 50 more tokens need the first request (60) gone: at 60 s, 39 s from now.
    const error = await rejection(t.embedVoyage([textOfTokens(50)]));
    expect(error.statusCode).toBe(429);
    expect(error.body.detail).toContain("100 tokens per minute");
    expect(error.rawResponse.headers.get("retry-after")).toBe("39");
    // A 10-token request still fits.
    await t.embedVoyage([textOfTokens(10)]);
    t.clock.now += 39_000;
    expect((await t.embedVoyage([textOfTokens(50)])).usage?.totalTokens).toBe(50);
  });

  it("refuses a request larger than a whole minute's tokens without Retry-After (it can never pass)", async () => {
    const t = limited({ tokensPerMinute: 100 });
    const error = await rejection(t.embedOpenAI([textOfTokens(101)]));
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.error.message).toContain("Request too large for text-embedding-3-small");
    expect(error.error.message).toContain("Limit 100, Requested 101");
    expect(error.headers.get("retry-after")).toBeNull();
    expect(error.headers.get("retry-after-ms")).toBeNull();
  });

  it("omits Retry-After when retryAfter is false", async () => {
    const t = limited({ requestsPerMinute: 1, retryAfter: false });
    await t.embedVoyage();
    const error = await rejection(t.embedVoyage());
    expect(error.statusCode).toBe(429);
    expect(error.rawResponse.headers.get("retry-after")).toBeNull();
    await t.embedOpenAI();
    const openaiError = await rejection(t.embedOpenAI());
    expect(openaiError.status).toBe(429);
    expect(openaiError.headers.get("retry-after")).toBeNull();
    expect(openaiError.headers.get("retry-after-ms")).toBeNull();
  });

  it("keeps one window per API and model", async () => {
    const t = limited({ requestsPerMinute: 1 });
    await t.embedVoyage(["a"], "voyage-3.5");
    await t.embedVoyage(["a"], "voyage-4");
    await t.embedOpenAI(["a"], "text-embedding-3-small");
    await t.embedOpenAI(["a"], "text-embedding-3-large");
    expect((await rejection(t.embedVoyage(["a"], "voyage-4"))).statusCode).toBe(429);
    expect((await rejection(t.embedOpenAI(["a"], "text-embedding-3-large"))).status).toBe(429);
  });

  it("does not count refused or failed requests", async () => {
    const t = limited({ requestsPerMinute: 1 });
    t.emulator.inject("server_error");
    await rejection(t.embedVoyage());
    expect((await rejection(t.embedVoyage([""]))).statusCode).toBe(400);
    await t.embedVoyage();
    expect((await rejection(t.embedVoyage())).statusCode).toBe(429);
  });

  it("sends OpenAI's x-ratelimit-* headers on every answer, with Go-style reset durations", async () => {
    const t = limited({ requestsPerMinute: 2, tokensPerMinute: 1000 });
    const first = await t.embedOpenAI([textOfTokens(100)]);
    const headers = first.response.headers;
    expect(
      Object.fromEntries(
        ["limit", "remaining", "reset"].flatMap((k) => [
          [`${k}-requests`, headers.get(`x-ratelimit-${k}-requests`)],
          [`${k}-tokens`, headers.get(`x-ratelimit-${k}-tokens`)],
        ]),
      ),
    ).toEqual({
      "limit-requests": "2",
      "limit-tokens": "1000",
      "remaining-requests": "1",
      "remaining-tokens": "900",
      "reset-requests": "1m0s",
      "reset-tokens": "1m0s",
    });

    t.clock.now += 30_500;
    const second = await t.embedOpenAI([textOfTokens(50)]);
    expect(second.response.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(second.response.headers.get("x-ratelimit-remaining-tokens")).toBe("850");

    t.clock.now += 29_480; // 59.98 s: the first request leaves the window in 20 ms
    const error = await rejection(t.embedOpenAI());
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded", param: null });
    expect(error.error.message).toContain("on requests per min (RPM): Limit 2, Used 2, Requested 1");
    expect(error.error.message).toContain("Please try again in 20ms.");
    expect(error.headers.get("retry-after-ms")).toBe("20");
    expect(error.headers.get("retry-after")).toBe("1");
    expect(error.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(error.headers.get("x-ratelimit-reset-requests")).toBe("30.52s");

    t.clock.now += 20;
    const third = await t.embedOpenAI();
    expect(third.response.headers.get("x-ratelimit-remaining-requests")).toBe("0");
  });

  it("sends no x-ratelimit-* headers when no limits are set", async () => {
    const res = await h.openai.embeddings
      .create({ input: ["a"], model: "text-embedding-3-small" })
      .withResponse();
    expect(res.response.headers.get("x-ratelimit-limit-requests")).toBeNull();
    expect(res.response.headers.get("x-request-id")).toMatch(/^req_emulator_\d+$/);
  });
});

describe("rate limits: a token bucket holding `burstSeconds` of each limit", () => {
  const bucket = (limits: EmulatorRateLimits) => limited({ enforcement: "token-bucket", ...limits });

  it("admits a burst of the bucket, then refuses below the per-minute figure and admits as it refills", async () => {
    // 120 RPM with a 1 s bucket: 2 requests at once, then one every 500 ms.
    const t = bucket({ requestsPerMinute: 120, burstSeconds: 1 });
    await t.embedVoyage();
    await t.embedVoyage();
    const error = await rejection(t.embedVoyage()); // 3 requests in the minute, 120 allowed
    expect(error.statusCode).toBe(429);
    expect(error.body.detail).toContain("rate limit of 120 requests per minute for voyage-3.5");
    expect(error.rawResponse.headers.get("retry-after")).toBe("1"); // 500 ms, in whole seconds

    t.clock.now += 499;
    expect((await rejection(t.embedVoyage())).statusCode).toBe(429);
    t.clock.now += 1;
    await t.embedVoyage();
    // A full second refills two requests, never more than the bucket holds.
    t.clock.now += 10_000;
    await t.embedVoyage();
    await t.embedVoyage();
    expect((await rejection(t.embedVoyage())).statusCode).toBe(429);
    expect(t.emulator.stats).toMatchObject({ requests: 8, rateLimited: 3 });
  });

  it("refills tokens continuously and says exactly when a request fits (retry-after-ms)", async () => {
    // 6,000 TPM with a 2 s bucket: 200 tokens at once, 100 per second after.
    const t = bucket({ tokensPerMinute: 6_000, burstSeconds: 2 });
    await t.embedOpenAI([textOfTokens(150)]);
    const error = await rejection(t.embedOpenAI([textOfTokens(80)])); // 50 left, 80 asked
    expect(error.status).toBe(429);
    expect(error.error).toMatchObject({ type: "tokens", code: "rate_limit_exceeded" });
    expect(error.headers.get("retry-after-ms")).toBe("300");
    expect(error.headers.get("x-ratelimit-remaining-tokens")).toBe("50");
    expect(error.headers.get("x-ratelimit-reset-tokens")).toBe("1.5s");
    t.clock.now += 300;
    const ok = await t.embedOpenAI([textOfTokens(80)]);
    expect(ok.response.headers.get("x-ratelimit-limit-tokens")).toBe("6000");
    expect(ok.response.headers.get("x-ratelimit-remaining-tokens")).toBe("0");
    expect(ok.response.headers.get("x-ratelimit-reset-tokens")).toBe("2s");
  });

  it("refuses a request larger than the bucket without Retry-After: it can never pass", async () => {
    const t = bucket({ tokensPerMinute: 6_000, burstSeconds: 1 }); // 100 tokens
    const error = await rejection(t.embedOpenAI([textOfTokens(101)]));
    expect(error.error.message).toContain("Limit 100, Requested 101");
    expect(error.headers.get("retry-after")).toBeNull();
    expect((await t.embedOpenAI([textOfTokens(100)])).data.data).toHaveLength(1);
  });

  it("keeps one bucket per API and model, and every refused request leaves it as it was", async () => {
    const t = bucket({ requestsPerMinute: 60 }); // one request per second
    await t.embedVoyage(["a"], "voyage-3.5");
    await t.embedVoyage(["a"], "voyage-4");
    for (let i = 0; i < 5; i++)
      expect((await rejection(t.embedVoyage(["a"], "voyage-3.5"))).statusCode).toBe(429);
    t.clock.now += 1_000;
    await t.embedVoyage(["a"], "voyage-3.5");
  });
});
