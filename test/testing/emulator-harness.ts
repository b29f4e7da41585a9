/*
 * Runs the emulator behind one transport (MSW or the loopback server) with the real SDKs pointed at
 * it. Tests see the same state object either way.
 */
import type { RequestHandler } from "msw";
import { setupServer } from "msw/node";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll } from "vitest";
import { VoyageAIClient } from "voyageai";
import {
  createEmbeddingsEmulator,
  type EmbeddingsEmulator,
  type EmbeddingsEmulatorOptions,
  type EmulatorApi,
} from "../../src/testing/index.js";
import { emulatorHandlers } from "../../src/testing/msw.js";

export type Transport = "msw" | "http";

/** Shaped like a real key so any leak would be easy to find. */
export const API_KEY = "pa-emulatorTestKey-3f9a8b7c6d5e4f30";

export interface Harness {
  emulator: EmbeddingsEmulator;
  voyage: VoyageAIClient;
  openai: OpenAI;
  /** SDK base URLs (ending in /v1). */
  voyageBaseUrl: string;
  openaiBaseUrl: string;
  /** MSW transport only: adds handlers (others' emulators) until the end of the test. */
  use(...handlers: RequestHandler[]): void;
}

export function useEmulator(transport: Transport, options: EmbeddingsEmulatorOptions = {}): Harness {
  const h = {} as Harness;
  let stop: (() => Promise<void>) | undefined;
  let reset: (() => void) | undefined;
  beforeAll(async () => {
    h.emulator = createEmbeddingsEmulator(options);
    if (transport === "msw") {
      const server = setupServer(...emulatorHandlers(h.emulator));
      server.listen({ onUnhandledRequest: "error" });
      stop = async () => server.close();
      h.use = (...handlers) => server.use(...handlers);
      reset = () => server.resetHandlers();
      h.voyageBaseUrl = "https://api.voyageai.com/v1";
      h.openaiBaseUrl = "https://api.openai.com/v1";
    } else {
      const server = await h.emulator.listen();
      stop = server.close;
      h.use = () => {
        throw new Error("use() needs the MSW transport");
      };
      h.voyageBaseUrl = server.voyageBaseUrl;
      h.openaiBaseUrl = server.openaiBaseUrl;
    }
    h.voyage = new VoyageAIClient({ apiKey: API_KEY, baseUrl: h.voyageBaseUrl, maxRetries: 0 });
    h.openai = new OpenAI({ apiKey: API_KEY, baseURL: h.openaiBaseUrl, maxRetries: 0 });
  });
  afterEach(() => {
    h.emulator.reset();
    reset?.();
  });
  afterAll(async () => stop?.());
  return h;
}

export interface RawAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** POSTs `body` (an object, or raw text) to `{base}/embeddings` with fetch, bypassing the SDKs. */
export async function post(
  h: Harness,
  api: EmulatorApi,
  body: unknown,
  init: { key?: string | null; method?: string; path?: string } = {},
): Promise<RawAnswer> {
  const base = api === "voyage" ? h.voyageBaseUrl : h.openaiBaseUrl;
  const key = init.key === undefined ? API_KEY : init.key;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const method = init.method ?? "POST";
  const response = await fetch(`${base}${init.path ?? "/embeddings"}`, {
    method,
    headers,
    body: method === "GET" ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, text, json };
}

/** The rejection of `promise` (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

/** `n` tokens of ASCII text for the emulator's tokenizer (4 bytes a token), words so vectors vary. */
export function textOfTokens(n: number, seed = 0): string {
  const word = `w${seed}x`; // 4 bytes with the trailing space below
  return `${word} `.repeat(n).slice(0, n * 4);
}

export function decodeFloat32(base64: string): Float32Array {
  const bytes = Buffer.from(base64, "base64");
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
