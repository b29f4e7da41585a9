import { randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { voyageProvider } from "../../providers/voyage/index.js";
import {
  APICallError,
  BackfillError,
  DimensionMismatchError,
  EmbeddingsError,
  InvalidOptionError,
  parseRetryAfter,
  reasonForStatus,
  redactSecrets,
  StoreError,
} from "../../src/index.js";
import { secretRedactor } from "../../src/provider-utils/index.js";

describe("error hierarchy", () => {
  test("isInstance works on objects from another copy of the package (same marker and name)", () => {
    const foreign = Object.assign(new Error("x"), {
      name: "APICallError",
      [Symbol.for("relay.embeddings.error")]: true,
    });
    expect(APICallError.isInstance(foreign)).toBe(true);
    expect(EmbeddingsError.isInstance(foreign)).toBe(true);
    expect(StoreError.isInstance(foreign)).toBe(false);
    expect(APICallError.isInstance(new Error("x"))).toBe(false);
  });

  test("every class extends EmbeddingsError and keeps `cause`", () => {
    const cause = new Error("root");
    const errors = [
      new InvalidOptionError("concurrency", "a positive integer", { cause }),
      new APICallError("m", { provider: "p", model: "m", status: 500, cause }),
      new DimensionMismatchError("m", { expected: 3, actual: 4, source: "store", cause }),
      new StoreError("m", { reason: "schema", cause }),
    ];
    for (const error of errors) {
      expect(error).toBeInstanceOf(EmbeddingsError);
      expect(error.cause).toBe(cause);
    }
    expect(BackfillError.isInstance(errors[0])).toBe(false);
  });

  test.each([
    [400, "invalid_request", false],
    [401, "authentication", false],
    [403, "permission", false],
    [404, "not_found", false],
    [408, "server", true],
    [409, "server", true],
    [413, "request_too_large", false],
    [429, "rate_limit", true],
    [500, "server", true],
    [503, "server", true],
  ] as const)("status %i → %s, retryable %s", (status, reason, retryable) => {
    expect(reasonForStatus(status)).toBe(reason);
    expect(new APICallError("m", { provider: "p", model: "m", status }).isRetryable).toBe(retryable);
  });

  test("a quota error is never retryable, even on 429", () => {
    expect(
      new APICallError("m", { provider: "p", model: "m", status: 429, reason: "quota_exceeded" }).isRetryable,
    ).toBe(false);
  });

  test("parseRetryAfter reads retry-after-ms, seconds and HTTP dates", () => {
    expect(parseRetryAfter(new Headers({ "retry-after-ms": "250" }))).toBe(250);
    expect(parseRetryAfter({ "retry-after": "3" })).toBe(3000);
    const now = Date.parse("2026-11-24T00:00:00Z");
    expect(parseRetryAfter({ "retry-after": "Tue, 24 Nov 2026 00:00:10 GMT" }, now)).toBe(10_000);
    expect(parseRetryAfter({ "retry-after": "soon" })).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  test("bearer tokens and key-shaped strings are redacted from messages", () => {
    expect(redactSecrets("Authorization: Bearer abcdefghijklmnop")).toBe("Authorization: Bearer [redacted]");
    expect(redactSecrets("key sk-proj-abcdefghijklmnopqrstuvwxyz was refused")).toBe(
      "key [redacted] was refused",
    );
    expect(new EmbeddingsError("with pa-abcdefghijklmnopqrstuv inside").message).toBe(
      "with [redacted] inside",
    );
  });

  test("no process-wide list of keys: a provider redacts its own key, nothing else remembers it", () => {
    // A multi-tenant server creates a provider per tenant: none of their keys may pile up anywhere.
    const keys = Array.from({ length: 50 }, () => randomBytes(12).toString("hex"));
    for (const apiKey of keys) voyageProvider({ apiKey, model: "voyage-3.5" });
    const text = `tenants ${keys.join(" ")}`;
    expect(redactSecrets(text)).toBe(text);
    expect(new EmbeddingsError(text).message).toBe(text);
    expect(secretRedactor([keys[7]])(text)).toBe(text.replace(keys[7]!, "[redacted]"));
    expect(secretRedactor([keys[7]])(text)).toContain(keys[8]);
  });
});
