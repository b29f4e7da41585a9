/*
 * A `fetch` answered by the emulator's core in this process, without MSW or a socket: give it to a
 * provider's `fetch` option. With fake timers, a whole backfill against the emulator's latency and
 * rate limits then runs in virtual time, deterministically.
 */
import type { EmbeddingsEmulator, EmulatorApi } from "../../src/testing/index.js";

export function emulatorFetch(emulator: EmbeddingsEmulator, api: EmulatorApi): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const url = new URL(request.url);
    const outcome = await emulator.handle({
      api,
      method: request.method,
      url: request.url,
      path: url.pathname.replace(/^\/(voyage|openai)(?=\/)/, ""),
      headers,
      body: await request.text(),
      signal: request.signal,
    });
    if (outcome.kind === "drop") throw new TypeError("fetch failed", { cause: new Error("socket hang up") });
    return new Response(outcome.body, { status: outcome.status, headers: outcome.headers });
  };
}
