/* MSW transport: translates intercepted fetches to the core and back, nothing else. */
import { type HttpHandler, HttpResponse, http } from "msw";
import type { EmulatorCore } from "./core.js";
import type { EmulatorApi, EmulatorBaseUrls } from "./types.js";

export const DEFAULT_BASE_URLS: Required<EmulatorBaseUrls> = {
  voyage: "https://api.voyageai.com",
  openai: "https://api.openai.com",
};

/** `https://host/prefix/v1/` and `https://host/prefix` both give `https://host/prefix`. */
export function apiRoot(baseUrl: string): string {
  return new URL(baseUrl).href.replace(/\/+$/, "").replace(/\/v1$/, "");
}

export function mswHandlers(core: EmulatorCore, bases: EmulatorBaseUrls): HttpHandler[] {
  const handlers: HttpHandler[] = [];
  for (const api of ["voyage", "openai"] as const satisfies readonly EmulatorApi[]) {
    const base = bases[api];
    if (base === undefined) continue;
    const root = apiRoot(base);
    const rootPath = new URL(root).pathname.replace(/\/$/, "");
    handlers.push(
      http.all(`${root}/*`, async ({ request }) => {
        const headers: Record<string, string> = {};
        request.headers.forEach((value, name) => {
          headers[name] = value;
        });
        const outcome = await core.handle({
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
