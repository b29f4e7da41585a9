import type { EmulatorFaultType } from "./faults.js";

/** Which API a request speaks. */
export type EmulatorApi = "voyage" | "openai";

/**
 * One HTTP request as the emulator's core sees it, whatever carried it (MSW or the loopback server).
 */
export interface EmulatorRequest {
  /** The API the request was sent to (chosen by host or path prefix, not by sniffing the body). */
  readonly api: EmulatorApi;
  /** HTTP method, upper case. */
  readonly method: string;
  /** Full URL, for the record. */
  readonly url: string;
  /** Path below the API's root, e.g. `/v1/embeddings` for both APIs. */
  readonly path: string;
  /** Request headers with lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The raw body text. */
  readonly body: string;
  /** Aborted when the client goes away: ends a stall early. */
  readonly signal?: AbortSignal;
}

/** What the core answers: an HTTP response, or no answer at all (the connection is dropped). */
export type EmulatorOutcome =
  | {
      readonly kind: "response";
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: string;
    }
  | { readonly kind: "drop" };

/** One request the emulator saw. Never holds an API key: credentials are `[redacted]`. */
export interface EmulatorCall {
  /** Arrival order, from 1. */
  readonly id: number;
  readonly api: EmulatorApi;
  readonly method: string;
  readonly url: string;
  /** Request headers, lower-case names; `authorization` reads `Bearer [redacted]`. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  readonly body: unknown;
  /** The status answered, `null` when the connection was dropped. */
  readonly status: number | null;
  /** Tokens billed (0 unless the request succeeded). */
  readonly tokens: number;
  /** Embeddings returned (0 unless the request succeeded). */
  readonly inputs: number;
  /** The fault this request got, if any. */
  readonly fault?: EmulatorFaultType;
  /** When the request was processed, by the emulator's clock (ms). */
  readonly timestamp: number;
}

/** Counters since creation or the last `reset()`. */
export interface EmulatorStats {
  /** Requests seen. */
  readonly requests: number;
  /** Requests answered 429 for a rate limit (the emulator's own or an injected `rate_limit`). */
  readonly rateLimited: number;
  /** Requests not answered 200 (including 429s and dropped connections). */
  readonly errors: number;
  /** Tokens billed over all successful requests. */
  readonly tokensBilled: number;
  /** Embeddings returned over all successful requests. */
  readonly inputs: number;
  /** Requests being handled right now. */
  readonly inFlight: number;
  /** Most requests handled at once so far: check a client's concurrency limit with it. */
  readonly maxInFlight: number;
  /** The Files and Batches endpoints. */
  readonly batch: EmulatorBatchStats;
}

/** Counters of the Files and Batches endpoints (both APIs together). */
export interface EmulatorBatchStats {
  /** Files uploaded. */
  readonly uploads: number;
  /** Request lines in the uploaded files. */
  readonly uploadedLines: number;
  /** Batches created. */
  readonly batchesCreated: number;
  /** Reads of a batch's status. */
  readonly polls: number;
  /** Downloads of a file's content. */
  readonly downloads: number;
  /** Files deleted. */
  readonly filesDeleted: number;
  /** Request lines answered. */
  readonly linesCompleted: number;
  /** Request lines failed (errors, expiry, cancellation). */
  readonly linesFailed: number;
  /** Embeddings returned in answered lines. */
  readonly inputs: number;
  /** Tokens billed at the batch price. */
  readonly tokensBilled: number;
  /**
   * What those tokens cost in realtime-token units: each token times the batch price ratio (OpenAI
   * 0.5, Voyage 0.67). Compare with `tokensBilled` of realtime requests, which cost 1 each.
   */
  readonly cost: number;
}

/** Options of `emulator.listen()`. */
export interface ListenOptions {
  /**
   * TCP port; 0 picks a free one.
   * @default 0
   */
  readonly port?: number;
  /**
   * Interface to bind. Loopback only, unless you mean otherwise.
   * @default "127.0.0.1"
   */
  readonly host?: string;
}

/** A running loopback server. Both APIs are served, under `/voyage` and `/openai`. */
export interface EmulatorServer {
  /** Root URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /**
   * Give this to `new VoyageAIClient({ baseUrl })`: `{url}/voyage/v1`. Like the SDK's default
   * (`https://api.voyageai.com/v1`) it ends in `/v1`; the endpoint is `{voyageBaseUrl}/embeddings`.
   */
  readonly voyageBaseUrl: string;
  /** Give this to `new OpenAI({ baseURL })`: `{url}/openai/v1`. The endpoint is `{openaiBaseUrl}/embeddings`. */
  readonly openaiBaseUrl: string;
  /** Stops the server: open connections are closed and stalled requests end. */
  close(): Promise<void>;
}

/**
 * Where `emulatorHandlers(emulator, baseUrls)` (`@relay/embeddings/testing/msw`) answers. Give each API's base URL, with or without the trailing
 * `/v1` (`https://api.voyageai.com` and `https://api.voyageai.com/v1` mean the same); the embeddings
 * endpoint is always `{root}/v1/embeddings`, as on the real APIs. Only the APIs given are served.
 */
export interface EmulatorBaseUrls {
  /**
   * Voyage's base URL.
   * @default not served (without `baseUrls`, `https://api.voyageai.com`)
   */
  readonly voyage?: string;
  /**
   * OpenAI's base URL (or an OpenAI-compatible server's).
   * @default not served (without `baseUrls`, `https://api.openai.com`)
   */
  readonly openai?: string;
}
