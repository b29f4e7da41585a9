/*
 * `@relay/embeddings/testing/msw`: the emulator served through MSW (a peer dependency, v2). Kept out
 * of `@relay/embeddings/testing` so that the emulator's loopback server, the scripted provider and
 * the memory store load without msw installed.
 */
import { type HttpHandler, HttpResponse, http } from "msw";
import type { EmbeddingsEmulator } from "./emulator/emulator.js";
import type { EmulatorApi, EmulatorBaseUrls } from "./emulator/types.js";

const REAL_HOSTS: Required<EmulatorBaseUrls> = {
  voyage: "https://api.voyageai.com",
  openai: "https://api.openai.com",
};

/** `https://host/prefix/v1/` and `https://host/prefix` both give `https://host/prefix`. */
function apiRoot(baseUrl: string): string {
  return new URL(baseUrl).href.replace(/\/+$/, "").replace(/\/v1$/, "");
}

/**
 * MSW request handlers that answer with `emulator`: by default for the real hosts
 * (`https://api.voyageai.com`, `https://api.openai.com`), or for the base URLs given (then only the
 * APIs given are served). Each answers every path below its root: `/v1/embeddings` as the API does,
 * any other path 404. Every transport of one emulator shares its state (rate-limit windows, faults,
 * calls, stats).
 *
 * @example
 * ```ts
 * import { setupServer } from "msw/node";
 * import { createEmbeddingsEmulator } from "@relay/embeddings/testing";
 * import { emulatorHandlers } from "@relay/embeddings/testing/msw";
 *
 * const emulator = createEmbeddingsEmulator();
 * const server = setupServer(...emulatorHandlers(emulator));
 * const local = emulatorHandlers(emulator, { openai: "http://localhost:11434/v1" });
 * ```
 */
export function emulatorHandlers(
  emulator: Pick<EmbeddingsEmulator, "handle">,
  baseUrls: EmulatorBaseUrls = REAL_HOSTS,
): HttpHandler[] {
  const handlers: HttpHandler[] = [];
  for (const api of ["voyage", "openai"] as const satisfies readonly EmulatorApi[]) {
    const base = baseUrls[api];
    if (base === undefined) continue;
    const root = apiRoot(base);
    const rootPath = new URL(root).pathname.replace(/\/$/, "");
    handlers.push(
      http.all(`${root}/*`, async ({ request }) => {
        const headers: Record<string, string> = {};
        request.headers.forEach((value, name) => {
          headers[name] = value;
        });
        const outcome = await emulator.handle({
          api,
          method: request.method,
          url: request.url,
          path: new URL(request.url).pathname.slice(rootPath.length) || "/",
          headers,
          body: await request.text(),
          signal: request.signal,
        });
        if (outcome.kind === "drop") return HttpResponse.error();
        return new HttpResponse(outcome.body, { status: outcome.status, headers: outcome.headers });
      }),
    );
  }
  return handlers;
}
