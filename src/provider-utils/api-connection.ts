import type { EmbedResult } from "../contracts/embedding-provider.js";
import type { APICallErrorReason } from "../errors/api-call-error.js";
import { InvalidOptionError } from "../errors/invalid-option-error.js";
import { InvalidResponseError } from "../errors/invalid-response-error.js";
import { type CallContext, httpCallError, transportCallError } from "./api-call-failure.js";
import type { EmbeddingEncoding } from "./base64.js";
import { type CapturedExchange, capturingFetch } from "./capturing-fetch.js";
import { readEmbeddings, readUsage } from "./embeddings-response.js";
import { baseURLOption, loadApiKey, timeoutOption } from "./options.js";
import { runProviderCall } from "./provider-call.js";
import { type HeadersLike, parseRateLimitHeaders } from "./rate-limit-headers.js";
import { type Redact, secretRedactor } from "./secret-redactor.js";

/** What an SDK's error class says about a failed request, as far as the SDK knows it. */
export interface SdkErrorInfo {
  /** HTTP status, when the SDK got an answer. */
  readonly status?: number | undefined;
  /** Response headers. */
  readonly headers?: HeadersLike | undefined;
  /** The error body as the SDK parsed it (an object), or its raw text. */
  readonly body?: unknown;
  /** Whether the SDK's own timer gave up. */
  readonly timeout?: boolean | undefined;
}

/** Options of {@link apiConnection}. */
export interface ApiConnectionOptions {
  /** Provider id, used in errors and reports: `"voyage"`. */
  readonly provider: string;
  /** How messages name the service: `"Voyage"`. */
  readonly label: string;
  /** The user's `apiKey` option. When absent or empty, `apiKeyEnv` is read. */
  readonly apiKey: string | undefined;
  /** Environment variable holding the key: `"VOYAGE_API_KEY"`. */
  readonly apiKeyEnv: string;
  /** The user's `baseURL` option, with the API's version path. When absent, `baseURLEnv` is read. */
  readonly baseURL: string | undefined;
  /**
   * Environment variable holding the base URL: `"VOYAGE_BASE_URL"`.
   * @default none: only `baseURL` and `defaultBaseURL` are used
   */
  readonly baseURLEnv?: string;
  /** The service's own base URL: `"https://api.voyageai.com/v1"`. */
  readonly defaultBaseURL: string;
  /**
   * The user's `timeoutMs` option: time for one request, response body included.
   * @default 60_000
   */
  readonly timeoutMs: number | undefined;
  /**
   * The user's `fetch` option.
   * @default globalThis.fetch
   */
  readonly fetch: typeof globalThis.fetch | undefined;
  /**
   * Advice per failure reason, replacing the default sentence at the end of an error's message; a
   * function gets the base URL and the key's first three characters (never more of it).
   * @default generic advice, e.g. "The API key was refused: check `apiKey`." for `authentication`
   */
  readonly hints?:
    | Partial<Record<APICallErrorReason, string>>
    | ((connection: { baseURL: string; keyPrefix: string }) => Partial<Record<APICallErrorReason, string>>);
  /**
   * Reads an SDK's error class. What the wrapped `fetch` saw (status, headers, error body, network
   * error) is preferred; this fills in what it could not see.
   * @default nothing is read from the error itself
   */
  readonly readError?: (error: unknown) => SdkErrorInfo;
  /**
   * Headers that authenticate a request sent with {@link CallIO.postJson}.
   * @default `{ authorization: "Bearer <key>" }`
   */
  readonly authHeaders?: (apiKey: string) => Record<string, string>;
}

/** An answer read by {@link CallIO.postJson}, or what an SDK's raw-response method gives. */
export interface JsonResponse {
  /** The parsed body. */
  readonly body: unknown;
  /** The response headers (for `x-ratelimit-*`). */
  readonly headers?: HeadersLike | undefined;
}

/** What one call of {@link ApiConnection.call} gets to send its request with. */
export interface CallIO {
  /** The API key, for the SDK client. */
  readonly apiKey: string;
  /** The base URL, without a trailing slash. */
  readonly baseURL: string;
  /**
   * The `fetch` to give the SDK: it records what the error mapping needs. Create the SDK client
   * inside the call, so this `fetch` sees this call's requests only. Calling it yourself: throw on a
   * non-2xx answer (any error will do): the status, headers and body are read from what it saw.
   */
  readonly fetch: typeof globalThis.fetch;
  /** Aborts when the caller aborts or the time is up: give it to the SDK call. */
  readonly signal: AbortSignal;
  /** The request timeout, for an SDK that wants its own (the connection's deadline fires first). */
  readonly timeoutMs: number;
  /**
   * POSTs `body` as JSON to `baseURL + path` with the auth headers, and returns the parsed answer;
   * a non-2xx answer, a dropped connection or a body that is not JSON become the right error.
   */
  postJson(path: string, body: unknown): Promise<JsonResponse>;
  /** GETs `baseURL + path` with the auth headers, and returns the parsed answer, as {@link postJson}. */
  getJson(path: string): Promise<JsonResponse>;
}

/** One call: which model, which endpoint, which signal. */
export interface CallRequest {
  /** The model id, for error messages. */
  readonly model: string;
  /** The endpoint's path below `baseURL`, for error messages: `"/embeddings"`. */
  readonly path: string;
  /** The caller's signal (`EmbedCallOptions.signal`). */
  readonly signal?: AbortSignal | undefined;
  /**
   * Time for this call, when it differs from the connection's (an upload, a long download).
   * @default the connection's `timeoutMs`
   */
  readonly timeoutMs?: number | undefined;
}

/** An embeddings call: a {@link CallRequest} and how to read the answer. */
export interface EmbedRequest extends Omit<CallRequest, "path"> {
  /**
   * The endpoint's path below `baseURL`.
   * @default "/embeddings"
   */
  readonly path?: string;
  /** How many texts were sent: the answer must hold as many vectors. */
  readonly inputCount: number;
  /**
   * How base64 vectors are laid out; number arrays are taken as they are.
   * @default "float32"
   */
  readonly encoding?: EmbeddingEncoding;
}

/**
 * A configured connection to one embeddings API: its key, base URL, timeout and `fetch`, and the
 * skeleton every call needs. Hold it in a private field of the provider.
 */
export interface ApiConnection {
  /** Provider id, as given. */
  readonly provider: string;
  /** How messages name the service, as given. */
  readonly label: string;
  /** The base URL in use (option, environment variable or default), without a trailing slash. */
  readonly baseURL: string;
  /** Time for one call in milliseconds. */
  readonly timeoutMs: number;
  /** Redacts this connection's key, in every form, and bearer tokens from a text. */
  readonly redact: Redact;
  /**
   * Runs one request: with a deadline, abortable, with what the SDK throws mapped to an
   * {@link APICallError} (reason, status, detail, `retryAfterMs`) or an {@link InvalidResponseError},
   * and every error redacted of the key.
   */
  call<T>(request: CallRequest, send: (io: CallIO) => Promise<T>): Promise<T>;
  /**
   * Runs one embeddings request (see {@link ApiConnection.call}) and reads an OpenAI-shaped answer
   * (`{ data: [{ embedding, index }], usage }`, also Voyage's and most others') into an
   * {@link EmbedResult}: one vector per input in input order, base64 decoded, usage, and rate-limit
   * headers.
   */
  embed(request: EmbedRequest, send: (io: CallIO) => Promise<JsonResponse>): Promise<EmbedResult>;
}

class Connection implements ApiConnection {
  readonly provider: string;
  readonly label: string;
  readonly baseURL: string;
  readonly timeoutMs: number;
  readonly redact: Redact;
  // ES private fields: not enumerable, not in JSON, not in console.log of the provider.
  readonly #apiKey: string;
  readonly #options: ApiConnectionOptions;
  readonly #hints: Partial<Record<APICallErrorReason, string>> | undefined;

  constructor(options: ApiConnectionOptions) {
    this.#options = options;
    this.provider = options.provider;
    this.label = options.label;
    this.#apiKey = loadApiKey(options.apiKey, options.apiKeyEnv, options.label);
    this.redact = secretRedactor([this.#apiKey]);
    const envBaseURL = options.baseURLEnv ? readEnv(options.baseURLEnv) : undefined;
    this.baseURL = baseURLOption(options.baseURL ?? envBaseURL, options.defaultBaseURL);
    this.timeoutMs = timeoutOption("timeoutMs", options.timeoutMs, 60_000);
    if (options.fetch !== undefined && typeof options.fetch !== "function") {
      throw new InvalidOptionError("fetch", `a fetch function, got ${typeof options.fetch}`);
    }
    this.#hints =
      typeof options.hints === "function"
        ? options.hints({ baseURL: this.baseURL, keyPrefix: this.#apiKey.slice(0, 3) })
        : options.hints;
  }

  call<T>(request: CallRequest, send: (io: CallIO) => Promise<T>): Promise<T> {
    const timeoutMs =
      request.timeoutMs === undefined ? this.timeoutMs : timeoutOption("timeoutMs", request.timeoutMs, 0);
    const ctx: CallContext = {
      provider: this.provider,
      label: this.label,
      model: request.model,
      url: `${this.baseURL}${request.path}`,
      timeoutMs,
      hints: this.#hints,
      redact: this.redact,
    };
    const userFetch = this.#options.fetch;
    const { fetch, exchange } = capturingFetch(() => userFetch ?? globalThis.fetch);
    return runProviderCall(
      ctx,
      request.signal,
      (signal) => {
        const io: CallIO = {
          apiKey: this.#apiKey,
          baseURL: this.baseURL,
          fetch,
          signal,
          timeoutMs,
          postJson: (path, body) => this.#requestJson(io, "POST", path, body),
          getJson: (path) => this.#requestJson(io, "GET", path, undefined),
        };
        return send(io);
      },
      (error) => mapSdkError(error, exchange, ctx, this.#options.readError),
    );
  }

  async embed(request: EmbedRequest, send: (io: CallIO) => Promise<JsonResponse>): Promise<EmbedResult> {
    const source = { provider: this.provider, label: this.label, model: request.model };
    const path = request.path ?? "/embeddings";
    return this.call({ ...request, path }, async (io) => {
      const { body, headers } = await send(io);
      return {
        embeddings: readEmbeddings(body, request.inputCount, request.encoding ?? "float32", source),
        usage: readUsage(body),
        rateLimit: parseRateLimitHeaders(headers),
      };
    });
  }

  async #requestJson(io: CallIO, method: string, path: string, body: unknown): Promise<JsonResponse> {
    const auth = this.#options.authHeaders?.(io.apiKey) ?? { authorization: `Bearer ${io.apiKey}` };
    const response = await io.fetch(`${io.baseURL}${path}`, {
      method,
      headers: {
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...auth,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: io.signal,
    });
    // The error mapping reads status, headers and body from what the wrapped fetch saw.
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const text = await response.text();
    return { body: JSON.parse(text), headers: response.headers };
  }
}

function readEnv(name: string): string | undefined {
  const value = typeof process === "undefined" ? undefined : process.env[name];
  return value || undefined;
}

/**
 * Maps what a call threw. What the wrapped fetch saw (the real status, headers and body) is preferred
 * to the SDK's error, which may have lost the status of an error whose body is not JSON, an error body
 * not shaped like the SDK's own service's, or the network error itself.
 */
async function mapSdkError(
  error: unknown,
  exchange: CapturedExchange,
  ctx: CallContext,
  readError: ((error: unknown) => SdkErrorInfo) | undefined,
): Promise<unknown> {
  const sdk = readError?.(error) ?? {};
  // Node's fetch rejects with the reason an SDK's own timer aborted it with (Voyage: "timeout").
  if (sdk.timeout || exchange.networkError === "timeout") return transportCallError(ctx, "timeout", error);
  const response = exchange.response;
  const status = response && !response.ok ? response.status : sdk.status;
  if (status !== undefined && (status < 200 || status >= 300)) {
    const text = await response?.errorBody;
    return httpCallError(ctx, {
      status,
      headers: response?.headers ?? sdk.headers,
      body: sdk.body,
      text,
      cause: error,
    });
  }
  if (response?.ok && error instanceof SyntaxError) {
    return new InvalidResponseError(
      `${ctx.label} answered with a body that is not JSON (model "${ctx.model}", ${ctx.url}): is \`baseURL\` the API's, with its version path?`,
      { provider: ctx.provider, model: ctx.model, cause: error },
    );
  }
  // No HTTP error answer: fetch failed, or the body of a 2xx response could not be read.
  if (exchange.networkError !== undefined || response?.ok) {
    return transportCallError(ctx, "connection", exchange.networkError ?? error);
  }
  return transportCallError(ctx, "unknown", error);
}

/**
 * Creates an {@link ApiConnection}: reads the key (the option, else the environment variable; a
 * missing key is an {@link InvalidOptionError} now, before any work), the base URL (option, else
 * environment variable, else the default) and the timeout, each checked. Every error a call makes is
 * redacted of this key in every form a server can echo it (raw, JSON-escaped, URL-encoded, base64).
 *
 * @example
 * ```ts
 * const api = apiConnection({
 *   provider: "acme", label: "Acme",
 *   apiKey: options.apiKey, apiKeyEnv: "ACME_API_KEY",
 *   baseURL: options.baseURL, baseURLEnv: "ACME_BASE_URL", defaultBaseURL: "https://api.acme.example/v1",
 *   timeoutMs: options.timeoutMs, fetch: options.fetch,
 * });
 * const result = await api.embed({ model, inputCount: texts.length, signal }, (io) =>
 *   io.postJson("/embeddings", { model, input: texts, encoding_format: "base64" }),
 * );
 * ```
 */
export function apiConnection(options: ApiConnectionOptions): ApiConnection {
  return new Connection(options);
}
