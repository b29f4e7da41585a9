import { HttpResponse, http } from "msw";
import { type SetupServer, setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, expect, vi } from "vitest";
import { deferred, reachableStrings } from "../support/assertions.js";

export { deferred, reachableStrings, rejectionOf } from "../support/assertions.js";

/** Base64 of little-endian float32 values, written independently of the code under test. */
export function float32Base64(values: readonly number[]): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  for (const [i, v] of values.entries()) view.setFloat32(i * 4, v, true);
  return Buffer.from(view.buffer).toString("base64");
}

/** Base64 of one byte per value (int8 as two's complement). */
export function bytesBase64(values: readonly number[]): string {
  return Buffer.from(values.map((v) => v & 0xff)).toString("base64");
}

/** Asserts that `secret` is nowhere in `error`: JSON, message, stack, fields, cause chain. */
export function expectSecretAbsent(error: unknown, secret: string): void {
  expect(error).toBeInstanceOf(Error);
  const e = error as Error;
  expect(JSON.stringify(e)).not.toContain(secret);
  expect(String(e)).not.toContain(secret);
  expect(e.stack ?? "").not.toContain(secret);
  let cause: unknown = e;
  for (let i = 0; i < 10 && cause; i++) {
    expect(JSON.stringify(cause) ?? "").not.toContain(secret);
    expect(String(cause)).not.toContain(secret);
    cause = (cause as { cause?: unknown }).cause;
  }
  const leaks = reachableStrings(e).filter((s) => s.includes(secret));
  expect(leaks).toEqual([]);
}

/** A request's headers as a plain object (lower-case names). */
export function headersOf(request: Request): Record<string, string> {
  const out: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

/** One request a test server received. */
export interface RecordedCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** What {@link useApiServer} gives a test file. */
export interface ApiServer {
  readonly server: SetupServer;
  /** Answers every POST to `url` with `respond` and records what was sent. */
  answer(
    respond: (body: Record<string, unknown>) => Response | Promise<Response>,
    url?: string,
  ): RecordedCall[];
}

/**
 * An MSW server for one test file, refusing requests no handler answers; handlers and stubbed
 * environment variables are reset after each test.
 */
export function useApiServer(defaultUrl: string): ApiServer {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
  afterEach(() => {
    server.resetHandlers();
    vi.unstubAllEnvs();
  });
  afterAll(() => server.close());
  return {
    server,
    answer(respond, url = defaultUrl) {
      const calls: RecordedCall[] = [];
      server.use(
        http.post(url, async ({ request }) => {
          const body = (await request.json()) as Record<string, unknown>;
          calls.push({ url: request.url, method: request.method, headers: headersOf(request), body });
          return respond(body);
        }),
      );
      return calls;
    },
  };
}

/** An OpenAI-shaped success body (Voyage's is the same), one embedding per entry. */
export function embeddingsBody(
  embeddings: ReadonlyArray<string | readonly number[]>,
  model: string,
  usage: Record<string, number>,
  headers?: Record<string, string>,
): Response {
  return HttpResponse.json(
    {
      object: "list",
      data: embeddings.map((embedding, index) => ({ object: "embedding", embedding, index })),
      model,
      usage,
    },
    { headers },
  );
}

/** How long a test server holds a request nobody aborts (`holdRequest`, an emulator stall): far beyond any client timeout under test. */
export const HOLD_MS = 60_000;

/**
 * Holds an MSW request until the client aborts it ("aborted") or `HOLD_MS` passes ("held"). A test of a
 * timeout or an abort asserts it never sees "held": that the client gave up first, however loaded the
 * machine, with no bound in milliseconds to tune.
 */
export function holdRequest(request: Request, ms = HOLD_MS): Promise<"aborted" | "held"> {
  return new Promise((resolve) => {
    if (request.signal.aborted) return resolve("aborted");
    const timer = setTimeout(() => resolve("held"), ms);
    request.signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve("aborted");
    });
  });
}

/**
 * Starts `embed(signal)` against a server that holds the request, aborts it with `reason` once the
 * server has it, and checks that the call rejects with exactly `reason`, promptly, and that the HTTP
 * request itself was aborted (the server saw it).
 */
export async function expectAbortInFlight(
  server: SetupServer,
  url: string,
  answer: () => Response,
  embed: (signal: AbortSignal) => Promise<unknown>,
  reason: unknown,
): Promise<void> {
  const started = deferred();
  let serverSawAbort = false;
  let heldToTheEnd = false;
  server.use(
    http.post(url, async ({ request }) => {
      started.resolve();
      heldToTheEnd = (await holdRequest(request)) === "held";
      serverSawAbort = !heldToTheEnd;
      return answer();
    }),
  );
  const controller = new AbortController();
  const pending = embed(controller.signal);
  await started.promise;
  controller.abort(reason);
  await expect(pending).rejects.toBe(reason);
  // Promptly: the call settled on the abort, not on the server's answer after HOLD_MS.
  expect(heldToTheEnd).toBe(false);
  await vi.waitFor(() => expect(serverSawAbort).toBe(true));
}
