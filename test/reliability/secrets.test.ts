/*
 * Secrets: the API keys never appear in a thrown error (message, stack, every own property, the whole
 * cause chain, util.inspect), in what is logged (console, stdout, stderr, the console reporter, a
 * child process's whole output), in progress events or in reports: across retries, timeouts, dropped
 * connections, refused keys, quota errors, and servers that echo the key back in bodies and headers.
 * (Child processes' output is searched in crash.test.ts.)
 * The keys are shaped like nothing the redaction's patterns know: only `registerSecret`, called by
 * the providers, can hide them.
 */
import { inspect } from "node:util";
import { HttpResponse, http } from "msw";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  BackfillError,
  type BackfillProgress,
  backfill,
  consoleReporter,
  type EmbeddingProvider,
} from "../../src/index.js";
import { memoryStore } from "../../src/testing/index.js";
import {
  FAST,
  itemText,
  OPENAI_KEY,
  openai,
  reachableStrings,
  seedRow,
  useEmulator,
  VOYAGE_KEY,
  voyage,
  writeTally,
} from "./harness.js";

writeTally("secrets");

const KEYS = [VOYAGE_KEY, OPENAI_KEY];
/** Where vectors go does not matter here: the testing kit's in-memory store, rows 1..n. */
const store = (n: number) =>
  memoryStore({ rows: Array.from({ length: n }, (_, i) => ({ id: i + 1, text: itemText(seedRow(i + 1)) })) });

/** Everything a run could show: what it logged, its events, its report or error. */
async function observe(run: (onProgress: (event: BackfillProgress) => void) => Promise<unknown>) {
  const logged: string[] = [];
  const spies = [
    ...(["log", "info", "warn", "error", "debug", "trace"] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        logged.push(args.map((a) => (typeof a === "string" ? a : inspect(a, { depth: 10 }))).join(" "));
      }),
    ),
    ...[process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, "write").mockImplementation((chunk: unknown) => {
        logged.push(String(chunk));
        return true;
      }),
    ),
  ];
  const events: BackfillProgress[] = [];
  const reporter = consoleReporter({
    mode: "lines",
    rowLines: true,
    stream: { write: (s) => logged.push(s) },
  });
  let outcome: unknown;
  try {
    outcome = await run((event) => {
      events.push(event);
      reporter(event);
    });
  } catch (error) {
    outcome = error;
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return { logged, events, outcome };
}

/** Every rendering of `value` a person or a log shipper could see. */
function renderings(value: unknown): string[] {
  const out = [
    ...reachableStrings(value),
    inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
  ];
  try {
    out.push(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v)) ?? "");
  } catch {}
  if (value instanceof Error) out.push(String(value), value.stack ?? "");
  return out;
}

function expectNoKey(seen: Awaited<ReturnType<typeof observe>>): void {
  const everything = [...seen.logged, ...seen.events.flatMap(renderings), ...renderings(seen.outcome)];
  for (const key of KEYS) expect(everything.filter((s) => s.includes(key))).toEqual([]);
}

describe("through the emulator", () => {
  const h = useEmulator("loopback");
  const run = (rows: number, provider: EmbeddingProvider, onProgress: (event: BackfillProgress) => void) =>
    backfill({ provider, store: store(rows), ...FAST, onProgress });

  it("Voyage: 429s, 5xx, a dropped connection, a timeout, then a refused key", async () => {
    h.emulator.inject({ type: "rate_limit", retryAfterMs: null }, { times: 2 });
    h.emulator.inject({ type: "server_error", status: 503 });
    h.emulator.inject("drop_connection");
    h.emulator.inject({ type: "stall", ms: 5000 });
    h.emulator.inject("invalid_key", { afterRequests: 2 });
    const seen = await observe((onProgress) =>
      run(24, voyage(h.voyageBaseURL, { timeoutMs: 200 }), onProgress),
    );
    expect(BackfillError.isInstance(seen.outcome)).toBe(true);
    expect(seen.events.filter((e) => e.type === "retry").length).toBeGreaterThanOrEqual(5);
    expectNoKey(seen);
  });

  it("Voyage: a forbidden key (whose message names the key's first characters, never the key)", async () => {
    h.emulator.inject("forbidden");
    const seen = await observe((onProgress) => run(1, voyage(h.voyageBaseURL), onProgress));
    expect((seen.outcome as Error).message).toContain("this key starts `rel`");
    expectNoKey(seen);
  });

  it("OpenAI: 429s, a gateway error, then insufficient_quota", async () => {
    h.emulator.inject({ type: "rate_limit", retryAfterMs: 5 }, { times: 2, api: "openai" });
    h.emulator.inject({ type: "server_error", status: 502 }, { api: "openai" });
    h.emulator.inject("insufficient_quota", { afterRequests: 2 });
    const seen = await observe((onProgress) => run(12, openai(h.openaiBaseURL), onProgress));
    expect((seen.outcome as BackfillError).cause).toMatchObject({ reason: "quota_exceeded" });
    expectNoKey(seen);
  });

  it("a completed run: its report and events", async () => {
    const seen = await observe((onProgress) => run(8, voyage(h.voyageBaseURL), onProgress));
    expect(seen.outcome).toMatchObject({ embedded: 8 });
    expectNoKey(seen);
  });
});

describe("servers that echo the key back", () => {
  // Every answer carries the key it received: in the body, in headers, in a cut JSON body.
  const echo = (status: number, body: (key: string) => string, type = "application/json") =>
    http.post("*/v1/embeddings", ({ request }) => {
      const key = request.headers.get("authorization") ?? "";
      return new HttpResponse(body(key), {
        status,
        headers: { "content-type": type, "x-echo-authorization": key, "retry-after": "0" },
      });
    });
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());

  const cases: Array<[string, "voyage" | "openai", ReturnType<typeof echo>]> = [
    [
      "Voyage 401 echoing the key",
      "voyage",
      echo(401, (key) => JSON.stringify({ detail: `Invalid key: ${key}` })),
    ],
    [
      "Voyage 400 echoing the key",
      "voyage",
      echo(400, (key) => JSON.stringify({ detail: `Bad request from ${key}` })),
    ],
    ["Voyage 500 page echoing the key", "voyage", echo(500, (key) => `<html>${key}</html>`, "text/html")],
    [
      "Voyage 429 echoing the key",
      "voyage",
      echo(429, (key) => JSON.stringify({ detail: `slow down ${key}` })),
    ],
    [
      "Voyage 200 with a cut body holding the key",
      "voyage",
      echo(200, (key) => `{"object":"list","data":[{"embedding":"${key}`),
    ],
    [
      "OpenAI 401 echoing the key",
      "openai",
      echo(401, (key) =>
        JSON.stringify({ error: { message: `Incorrect API key ${key}`, code: "invalid_api_key" } }),
      ),
    ],
    [
      "OpenAI 429 quota echoing the key",
      "openai",
      echo(429, (key) =>
        JSON.stringify({ error: { message: `quota for ${key}`, code: "insufficient_quota" } }),
      ),
    ],
    [
      "OpenAI 200 with a body that is not JSON, holding the key",
      "openai",
      echo(200, (key) => `{"data": ${key}`),
    ],
  ];

  it.each(cases)("%s", async (_name, api, handler) => {
    server.use(handler);
    const provider =
      api === "voyage" ? voyage("https://api.voyageai.com/v1") : openai("https://api.openai.com/v1");
    const seen = await observe((onProgress) =>
      backfill({
        provider,
        store: store(2),
        ...FAST,
        retries: 1,
        maxRetryTimeMs: 200,
        onProgress,
      }),
    );
    expect(BackfillError.isInstance(seen.outcome), String(seen.outcome)).toBe(true);
    expectNoKey(seen);
  });
});
