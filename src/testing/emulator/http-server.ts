/* Loopback transport: a node:http server that translates to the core and back, nothing else. */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { EmulatorCore } from "./core.js";
import type { EmulatorServer, ListenOptions } from "./types.js";

const ROUTE = /^\/(voyage|openai)(\/[^?]*)?/;

export async function listen(core: EmulatorCore, options: ListenOptions = {}): Promise<EmulatorServer> {
  const { port = 0, host = "127.0.0.1" } = options;
  const server = createServer({ keepAlive: true }, (req, res) => void serve(core, req, res));
  // Clients keep connections for a few seconds; a longer server timeout avoids racing their reuse.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  return {
    url,
    voyageBaseUrl: `${url}/voyage/v1`,
    openaiBaseUrl: `${url}/openai/v1`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function serve(core: EmulatorCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = req.url ?? "/";
    const route = ROUTE.exec(target);
    if (!route) {
      const body = JSON.stringify({
        error: "Not Found: the emulator serves /voyage/v1/embeddings and /openai/v1/embeddings",
      });
      res.writeHead(404, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const gone = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) gone.abort();
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    const outcome = await core.handle({
      api: route[1] as "voyage" | "openai",
      method: req.method ?? "GET",
      url: `http://${req.headers.host ?? "127.0.0.1"}${target}`,
      path: route[2] ?? "/",
      headers,
      body: Buffer.concat(chunks).toString("utf8"),
      signal: gone.signal,
    });
    if (res.destroyed) return;
    if (outcome.kind === "drop") {
      req.socket.destroy();
      return;
    }
    res.writeHead(outcome.status, { ...outcome.headers, "content-length": Buffer.byteLength(outcome.body) });
    res.end(outcome.body);
  } catch (error) {
    if (res.headersSent || res.destroyed) return;
    const body = JSON.stringify({
      error: `Emulator failure: ${error instanceof Error ? error.message : String(error)}`,
    });
    res.writeHead(500, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }
}
