import { createEmbeddingsEmulator } from "@relay/embeddings/testing";

/** Where the examples send Voyage requests. */
export interface VoyageEndpoint {
  readonly apiKey: string;
  /** `undefined`: Voyage's own API. */
  readonly baseURL: string | undefined;
  /** Whether this is the local emulator (stand-in vectors). */
  readonly emulated: boolean;
}

/**
 * `VOYAGE_API_KEY` (and `VOYAGE_BASE_URL` when set) from the environment; without a key, the loopback
 * emulator the library ships, started here (its `close` pushed on `closers`) and announced on stdout.
 */
export async function voyageEndpoint(closers: (() => Promise<void>)[]): Promise<VoyageEndpoint> {
  const apiKey = process.env.VOYAGE_API_KEY;
  if (apiKey) return { apiKey, baseURL: process.env.VOYAGE_BASE_URL || undefined, emulated: false };
  const server = await createEmbeddingsEmulator().listen();
  closers.push(() => server.close());
  console.log(
    `VOYAGE_API_KEY is not set: using the local Voyage emulator at ${server.voyageBaseUrl} (stand-in vectors, not real embeddings)`,
  );
  return { apiKey: "emulator", baseURL: server.voyageBaseUrl, emulated: true };
}
