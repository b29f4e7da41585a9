/*
 * serializeError(): what a job queue or a log may keep of an error. It must carry what tells the
 * failure apart (name, reason, status, rows, report) and never an API key, wherever the raw error hid
 * one (the API's message, the response body, a foreign cause).
 */
import { describe, expect, it } from "vitest";
import {
  APICallError,
  BackfillError,
  InvalidOptionError,
  StoreError,
  serializeError,
} from "../../src/index.js";

/*
 * Shaped like a Voyage key, which every library error redacts; providers also redact their own key in
 * every form where their errors are made, before anything reaches serializeError.
 */
const KEY = "pa-srlz7Hq2Vb9Nm4Kx8Lw3Zp4";

const report = {
  pending: 10,
  scanned: 10,
  embedded: 4,
  deduplicated: 0,
  skipped: 1,
  failed: 5,
  tokens: 120,
  requests: 3,
  retries: 2,
  rateLimited: 1,
  elapsedMs: 5,
  skippedByReason: {
    empty_input: 1,
    input_too_long: 0,
    refused_before: 0,
    changed_during_run: 0,
    nondeterministic_text: 0,
  },
  skippedRows: [],
  estimatedTokens: 130,
  dryRun: false,
  durationMs: 5,
};

describe("serializeError", () => {
  it("a BackfillError over a 401: rows, report and the API's reason, no key anywhere", () => {
    const apiError = new APICallError(`Voyage refused the key ${KEY}`, {
      provider: "voyage",
      model: "voyage-3.5",
      status: 401,
      detail: `Provided API key ${KEY} is invalid`,
      responseBody: `{"detail":"Provided API key ${KEY} is invalid"}`,
      cause: Object.assign(new Error(`socket said Bearer ${KEY}`), { code: "E_AUTH", headers: { KEY } }),
    });
    const error = new BackfillError<bigint | number>("Backfill stopped: Voyage refused the key.", {
      rowIds: [2n ** 64n, 7, ...Array.from({ length: 150 }, (_, i) => i + 100)],
      report,
      rolledBack: false,
      cause: apiError,
    });
    const serialized = serializeError(error);
    const json = JSON.stringify(serialized);
    expect(json).not.toContain(KEY);
    expect(JSON.parse(json)).toEqual(serialized); // plain data: survives JSON unchanged
    expect(serialized).toMatchObject({
      name: "BackfillError",
      rowCount: 152,
      rolledBack: false,
      report: { embedded: 4, failed: 5, tokens: 120, requests: 3, retries: 2, rateLimited: 1, skipped: 1 },
      cause: {
        name: "APICallError",
        reason: "authentication",
        status: 401,
        provider: "voyage",
        model: "voyage-3.5",
        isRetryable: false,
        detail: "Provided API key [redacted] is invalid",
        cause: { name: "Error", code: "E_AUTH", message: "socket said Bearer [redacted]" },
      },
    });
    expect(serialized.rowIds).toHaveLength(100);
    expect(serialized.rowIds?.slice(0, 3)).toEqual([String(2n ** 64n), 7, 100]);
    expect(json).not.toContain("responseBody");
    expect(json).not.toContain("headers");
  });

  it("store and option errors keep their reason or option; other values become messages", () => {
    expect(serializeError(new StoreError("locked", { reason: "locked" }))).toEqual({
      name: "StoreError",
      message: "locked",
      reason: "locked",
    });
    const unknown = new StoreError("no rows", { reason: "unknown_rows", rowIds: [998, 2n ** 60n] });
    expect(serializeError(unknown)).toMatchObject({
      reason: "unknown_rows",
      rowIds: [998, String(2n ** 60n)],
      rowCount: 2,
    });
    expect(serializeError(new InvalidOptionError("every", "a positive integer"))).toMatchObject({
      option: "every",
    });
    expect(serializeError(`thrown string with ${KEY}`)).toEqual({
      name: "Error",
      message: "thrown string with [redacted]",
    });
  });

  it("stops following causes after five levels (a cycle cannot hang it)", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    (a as { cause?: unknown }).cause = b;
    let depth = 0;
    for (let e: any = serializeError(a); e; e = e.cause) depth++;
    expect(depth).toBe(6);
  });
});
