/*
 * Secrets: the API keys never appear in a thrown error (message, stack, every own property, the whole
 * cause chain, util.inspect), in what is logged (console, stdout, stderr, the console reporter, a
 * child process's whole output), in progress events or in reports: across retries, timeouts, dropped
 * connections, refused keys, quota errors, and servers that echo the key back in bodies and headers.
 * (Child processes' output is searched in crash-cases.ts.)
 * The keys are shaped like nothing the redaction's patterns know: only each provider's redaction of
 * its own key can hide them. Hostile keys (quotes, backslashes, %, +, /, spaces, non-Latin letters)
 * echoed in every form (raw, JSON-escaped, \u-escaped, URL-encoded, HTML-escaped, base64) are
 * searched for in every decoded form.
 */
import { inspect } from "node:util";
import { createOpenAI } from "@ai-sdk/openai";
import { HttpResponse, http } from "msw";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { aiSdkProvider } from "../../providers/ai-sdk/index.js";
import { openaiProvider } from "../../providers/openai/index.js";
import { voyageProvider } from "../../providers/voyage/index.js";
import {
  BackfillError,
  type BackfillProgress,
  backfill,
  consoleReporter,
  type EmbeddingProvider,
} from "../../src/index.js";
import { apiConnection } from "../../src/provider-utils/index.js";
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

  describe("hostile keys, echoed in every form", () => {
    // Random-looking keys holding what escaping gets wrong: quotes, backslashes, %, +, /, spaces,
    // Latin-1 and non-Latin letters (those cannot be sent in a header: the request fails locally).
    const HOSTILE = [
      'Qz7"Wm2"Lp9Xr4Tn',
      "Bk3\\Yh8\\Vc5\\Nd1J",
      "Pf6%2FGu%41+Ew0/Ms+Jb",
      "Hy2 Rt7 Ka5 Zo8 Ui6",
      "Cl3é-Nä9ï-Dø4ß-Kw7",
      "Kл7юч-鍵Gq2-키Xv9Fm",
      'Mx"\\%+/ Ж鍵é-Tq8Rz5',
    ];
    const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
    const html = (text: string) =>
      text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    /** JSON string content as Python writes it by default: every non-ASCII character \u-escaped. */
    const asciiJson = (text: string) =>
      JSON.stringify(text)
        .slice(1, -1)
        .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

    /** A JSON error body carrying `key` in every form a server has been seen to echo it. */
    const everyForm = (key: string, status: number) =>
      `{"error":{"message":"Invalid API key provided: Bearer ${asciiJson(key)}","code":"invalid_api_key"},` +
      `"detail":${JSON.stringify(`key ${key} refused with ${status}`)},` +
      `"request":{"url":${JSON.stringify(`https://api.example.test/v1?key=${encodeURIComponent(key)}`)},` +
      `"form":${JSON.stringify(`api_key=${encodeURIComponent(key).replace(/%20/g, "+")}`)},` +
      `"basic":"${base64(`user:${key}`)}","bearer":"${base64(`Bearer ${key}`)}","raw64":"${base64(key)}",` +
      `"html":${JSON.stringify(`<b>${html(key)}</b>`)}}}`;

    /** Answers the requests of one run in turn: a 500, a 429, then a 401 page, all echoing `key`. */
    const echoEveryForm = (key: string) => {
      let n = 0;
      return http.post("*/embeddings", () => {
        n++;
        if (n === 1) return new HttpResponse(everyForm(key, 500), { status: 500 });
        if (n === 2) {
          return new HttpResponse(everyForm(key, 429), { status: 429, headers: { "retry-after": "0" } });
        }
        return new HttpResponse(`<html><p>Key ${key} is not valid (${html(key)})</p></html>`, {
          status: 401,
          headers: { "content-type": "text/html" },
        });
      });
    };
    /** A 200 whose body is cut inside the key: JSON.parse's error quotes a snippet of it. */
    const cutInsideKey = (key: string) =>
      http.post(
        "*/embeddings",
        () =>
          new HttpResponse(`{"data":[{"embedding": ${key}`, {
            headers: { "content-type": "application/json" },
          }),
      );

    /** Every 8-character run of `key`: what must not survive, in any decoded form. */
    const runsOf = (key: string) => {
      const out = new Set<string>();
      for (let i = 0; i + 8 <= key.length; i++) out.add(key.slice(i, i + 8));
      return [...out];
    };
    const jsonUnescape = (text: string) =>
      text
        .replace(/\\u([0-9a-fA-F]{4})/g, (_, hex) => String.fromCharCode(Number.parseInt(hex, 16)))
        .replace(/\\(["\\/])/g, "$1");
    const percentDecode = (text: string) =>
      text.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
        try {
          return decodeURIComponent(run);
        } catch {
          return run;
        }
      });
    const htmlUnescape = (text: string) =>
      text
        .replace(/&#x([0-9a-f]+);/gi, (_, hex) => String.fromCodePoint(Number.parseInt(hex, 16)))
        .replace(/&#(\d+);/g, (_, dec) => String.fromCodePoint(Number(dec)))
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&amp;/g, "&");
    /** Every base64-looking run decoded at each of its four alignments, as UTF-8 (lossy). */
    const base64Decoded = (text: string) =>
      [...text.matchAll(/[A-Za-z0-9+/_-]{12,}/g)].flatMap(([run]) =>
        [0, 1, 2, 3].map((shift) => Buffer.from(run.slice(shift), "base64").toString("latin1")),
      );
    /** The decoded forms of `text` in which `key` could hide. */
    const decodings = (text: string) => {
      const once = [text, jsonUnescape(text), jsonUnescape(jsonUnescape(text)), htmlUnescape(text)];
      const decoded = once.flatMap((t) => [t, percentDecode(t), percentDecode(t.replace(/\+/g, " "))]);
      return [...decoded, ...decoded.flatMap(base64Decoded)];
    };
    const keyBytesAsLatin1 = (key: string) => Buffer.from(key, "utf8").toString("latin1");

    function expectKeyInNoForm(seen: Awaited<ReturnType<typeof observe>>, key: string): void {
      const everything = [...seen.logged, ...seen.events.flatMap(renderings), ...renderings(seen.outcome)];
      const runs = [...runsOf(key), ...runsOf(keyBytesAsLatin1(key))];
      const leaks = everything.flatMap(decodings).filter((text) => runs.some((run) => text.includes(run)));
      expect(leaks).toEqual([]);
      // Not vacuous: the answers were seen (and redacted) where a request went out.
      expect(everything.join("\n")).toMatch(/redacted|ByteString|connect/);
    }

    /** A provider on the provider kit that sends its key URL-encoded in a header of its own. */
    const kitProvider = (apiKey: string): EmbeddingProvider => {
      const api = apiConnection({
        provider: "kit",
        label: "Kit",
        apiKey,
        apiKeyEnv: "KIT_API_KEY",
        baseURL: "https://kit.example.test/v1",
        defaultBaseURL: "https://kit.example.test/v1",
        timeoutMs: 2000,
        fetch: undefined,
        authHeaders: (key) => ({ "x-api-key": encodeURIComponent(key) }),
      });
      return {
        provider: "kit",
        model: "kit-embed",
        dimensions: 2,
        limits: { maxInputsPerRequest: 8, maxTokensPerRequest: 1000, maxTokensPerInput: 100 },
        truncates: false,
        embed: (texts, { signal } = {}) =>
          api.embed({ model: "kit-embed", inputCount: texts.length, signal }, (io) =>
            io.postJson("/embeddings", { input: texts }),
          ),
      };
    };
    const PROVIDERS: Array<[string, (key: string) => EmbeddingProvider]> = [
      [
        "voyageProvider",
        (apiKey) => voyageProvider({ apiKey, model: "voyage-3.5", baseURL: "https://api.voyageai.com/v1" }),
      ],
      [
        "openaiProvider",
        (apiKey) =>
          openaiProvider({ apiKey, model: "text-embedding-3-small", baseURL: "https://api.openai.com/v1" }),
      ],
      [
        "aiSdkProvider",
        (apiKey) =>
          aiSdkProvider(
            createOpenAI({ apiKey, baseURL: "https://api.openai.com/v1" }).embedding(
              "text-embedding-3-small",
            ),
            { dimensions: 1536, secrets: [apiKey] },
          ),
      ],
      ["a provider on the kit", kitProvider],
    ];

    it.each(PROVIDERS)("%s: 500, 429 and 401 answers, and a body cut inside the key", async (_, create) => {
      for (const key of HOSTILE) {
        for (const handler of [echoEveryForm(key), cutInsideKey(key)]) {
          server.resetHandlers();
          server.use(handler);
          const seen = await observe((onProgress) =>
            backfill({ provider: create(key), store: store(2), ...FAST, retries: 3, onProgress }),
          );
          expect(BackfillError.isInstance(seen.outcome), String(seen.outcome)).toBe(true);
          expectKeyInNoForm(seen, key);
        }
      }
    });
  });
});
