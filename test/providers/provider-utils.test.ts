import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeBase64 } from "../../src/provider-utils/base64.js";
import { callWithDeadline } from "../../src/provider-utils/deadline.js";
import {
  decodeEmbedding,
  extractErrorDetail,
  isRequestTooLarge,
  parseRateLimitHeaders,
  sanitizeCause,
  secretRedactor,
} from "../../src/provider-utils/index.js";
import { parseDurationMs, waitFromRateLimit } from "../../src/provider-utils/rate-limit-headers.js";
import { bytesBase64, float32Base64, reachableStrings } from "./helpers.js";

describe("decodeEmbedding", () => {
  it("round-trips any float32 vector through base64", () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true }), { maxLength: 64 }), (values) => {
        const decoded = decodeEmbedding(float32Base64(values), "float32");
        expect(Array.from(decoded!)).toEqual(Array.from(Float32Array.from(values)));
      }),
    );
  });

  it("round-trips int8 and uint8 bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -128, max: 127 }), { maxLength: 64 }), (values) => {
        expect(Array.from(decodeEmbedding(bytesBase64(values), "int8")!)).toEqual(values);
        expect(Array.from(decodeEmbedding(bytesBase64(values), "uint8")!)).toEqual(
          values.map((v) => v & 0xff),
        );
      }),
    );
  });

  it("returns number arrays as they are and refuses anything else", () => {
    expect(decodeEmbedding([1, 2, 3])).toEqual([1, 2, 3]);
    expect(decodeEmbedding([1, "2"])).toBeUndefined();
    expect(decodeEmbedding({ 0: 1 })).toBeUndefined();
    expect(decodeEmbedding(null)).toBeUndefined();
    // 3 bytes: not a whole float32.
    expect(decodeEmbedding("AAAA", "float32")).toBeUndefined();
    expect(decodeEmbedding("AAAA", "uint8")).toEqual(new Uint8Array(3));
  });

  it("refuses text that Buffer would decode to fewer bytes", () => {
    expect(decodeBase64("AAAA AAAA")).toBeUndefined();
    expect(decodeBase64("AA-_")).toBeUndefined();
    expect(decodeBase64("AAAAA")).toBeUndefined();
    expect(decodeBase64("AA=A")).toBeUndefined();
    expect(decodeBase64("AACAPw")).toEqual(new Uint8Array([0, 0, 128, 63]));
  });

  it("accepts exactly the strings of standard base64's grammar (padding optional), decoded as Buffer decodes them", () => {
    const grammar = /^[A-Za-z0-9+/]*={0,2}$/;
    const char = fc.constantFrom(..."AQgw09+/=-_ !\né\u0000".split(""));
    fc.assert(
      fc.property(fc.array(char, { maxLength: 24 }), (chars) => {
        const text = chars.join("");
        const data = text.replace(/={1,2}$/, "").length; // "A=" holds no byte: refused too
        const valid = text.length % 4 !== 1 && data % 4 !== 1 && grammar.test(text);
        const decoded = decodeBase64(text);
        expect(decoded !== undefined).toBe(valid);
        if (decoded) expect(Buffer.from(decoded)).toEqual(Buffer.from(text, "base64"));
      }),
      { numRuns: 20_000 },
    );
  });
});

describe("rate-limit headers", () => {
  it.each([
    ["6m0s", 360_000],
    ["1s", 1000],
    ["20ms", 20],
    ["1h2m3.5s", 3_723_500],
    ["0.5s", 500],
    ["2", 2000],
    ["0s", 0],
  ])("parses the duration %s", (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each(["", "soon", "5 minutes", "1d", "m1s", "-1s"])("refuses the duration %j", (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });

  it("reads only the headers that are there", () => {
    expect(parseRateLimitHeaders(new Headers())).toBeUndefined();
    expect(parseRateLimitHeaders(new Headers({ "x-ratelimit-remaining-tokens": "12" }))).toEqual({
      remainingTokens: 12,
    });
    expect(parseRateLimitHeaders(new Headers({ "x-ratelimit-remaining-requests": "lots" }))).toBeUndefined();
  });

  it("waits for the exhausted budget only", () => {
    expect(
      waitFromRateLimit({
        remainingRequests: 0,
        resetRequestsMs: 300,
        remainingTokens: 5,
        resetTokensMs: 9000,
      }),
    ).toBe(300);
    expect(
      waitFromRateLimit({
        remainingRequests: 0,
        resetRequestsMs: 300,
        remainingTokens: 0,
        resetTokensMs: 9000,
      }),
    ).toBe(9000);
    expect(waitFromRateLimit({ remainingRequests: 3, resetRequestsMs: 300 })).toBeUndefined();
  });
});

describe("error bodies", () => {
  it.each([
    [{ detail: "voyage says" }, "voyage says"],
    [{ detail: [{ loc: ["body", "input"], msg: "field required" }] }, "field required"],
    [{ error: { message: "openai says", type: "x" } }, "openai says"],
    [{ error: "lm studio says" }, "lm studio says"],
    [{ object: "error", message: "vllm says" }, "vllm says"],
    ["plain text", "plain text"],
  ])("finds the message in %j", (body, detail) => {
    expect(extractErrorDetail(body)).toBe(detail);
  });

  it("recognises size refusals and nothing else", () => {
    expect(
      isRequestTooLarge("The max allowed tokens per submitted batch is 120000. Your batch has 130000 tokens"),
    ).toBe(true);
    expect(isRequestTooLarge("This model's maximum context length is 8192 tokens")).toBe(true);
    expect(isRequestTooLarge("input length exceeds the context length")).toBe(true);
    expect(isRequestTooLarge(undefined, "context_length_exceeded")).toBe(true);
    expect(isRequestTooLarge("Input cannot contain empty strings.")).toBe(false);
    expect(isRequestTooLarge("Model voyage-9 is not supported.")).toBe(false);
    expect(isRequestTooLarge("Invalid value for output_dtype.")).toBe(false);
  });
});

describe("sanitizeCause", () => {
  it("keeps name, message, stack and code, drops every other field, and recurses into causes", () => {
    const secret = "sanitize-secret-0123456789";
    const inner = Object.assign(new Error(`socket hang up ${secret}`), {
      code: "ECONNRESET",
      headers: { authorization: secret },
    });
    const outer = Object.assign(new Error("sdk failed", { cause: inner }), {
      name: "SdkError",
      rawResponse: { headers: new Headers({ authorization: `Bearer ${secret}` }) },
      options: { apiKey: secret },
    });
    const copy = sanitizeCause(outer, secretRedactor([secret]))!;
    expect(copy.name).toBe("SdkError");
    expect(copy.message).toBe("sdk failed");
    expect((copy.cause as Error).message).toBe("socket hang up [redacted]");
    expect((copy.cause as { code?: string }).code).toBe("ECONNRESET");
    expect(reachableStrings(copy).filter((s) => s.includes(secret))).toEqual([]);
    expect(reachableStrings(outer).some((s) => s.includes(secret))).toBe(true);
  });
});

describe("callWithDeadline", () => {
  const neverSettles = () => new Promise<never>(() => {});
  const timeoutError = () => new Error("timed out");

  it("rejects with signal.reason even when the work ignores its signal", async () => {
    const controller = new AbortController();
    const pending = callWithDeadline(neverSettles, {
      signal: controller.signal,
      timeoutMs: 10_000,
      onTimeout: timeoutError,
    });
    const reason = { why: "user" };
    setTimeout(() => controller.abort(reason), 10);
    await expect(pending).rejects.toBe(reason);
  });

  it("rejects with the timeout error when the time is up, and aborts the work's signal", async () => {
    let seen: AbortSignal | undefined;
    const pending = callWithDeadline(
      (signal) => {
        seen = signal;
        return neverSettles();
      },
      { timeoutMs: 20, onTimeout: timeoutError },
    );
    await expect(pending).rejects.toThrow("timed out");
    expect(seen?.aborted).toBe(true);
  });

  it("prefers signal.reason over the error the aborted work throws", async () => {
    const controller = new AbortController();
    const pending = callWithDeadline(
      (signal) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error("retryable connection"))),
        ),
      { signal: controller.signal, timeoutMs: 10_000, onTimeout: timeoutError },
    );
    controller.abort("stop");
    await expect(pending).rejects.toBe("stop");
  });

  it("passes results and other errors through", async () => {
    await expect(callWithDeadline(async () => 7, { timeoutMs: 100, onTimeout: timeoutError })).resolves.toBe(
      7,
    );
    const failure = new Error("boom");
    await expect(
      callWithDeadline(
        async () => {
          throw failure;
        },
        { timeoutMs: 100, onTimeout: timeoutError },
      ),
    ).rejects.toBe(failure);
  });
});
