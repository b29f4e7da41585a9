import type { OutputDtype, WireEmbedding } from "./encoding.js";
import type { ResolvedEmulatorOptions } from "./options.js";
import type { Admission } from "./rate-limiter.js";
import type { EmulatorApi } from "./types.js";

/** An HTTP answer before the core adds its own headers. */
export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A valid embeddings request, ready to compute. */
export interface EmbedJob {
  readonly model: string;
  /** What is embedded (after truncation) and the tokens billed for it. */
  readonly inputs: ReadonlyArray<{ readonly text: string; readonly tokens: number }>;
  readonly dimensions: number;
  readonly format: "float" | "base64";
  readonly dtype: OutputDtype;
}

/** One API's wire format: request validation, bodies, error shapes. */
export interface Dialect {
  readonly api: EmulatorApi;
  /** Whether responses carry OpenAI's `x-ratelimit-*` headers. */
  readonly rateLimitHeaders: boolean;
  notFound(method: string, path: string): Reply;
  unauthorized(missing: boolean): Reply;
  forbidden(): Reply;
  invalidJson(): Reply;
  /** Validates a parsed body against the API's rules and limits. */
  validate(body: unknown, options: ResolvedEmulatorOptions): EmbedJob | Reply;
  rateLimited(model: string, refusal: Exclude<Admission, { ok: true }>): Reply;
  serverError(status: 500 | 502 | 503 | 504): Reply;
  insufficientQuota(): Reply;
  /** The success body (an object, serialised by the core). */
  success(job: EmbedJob, embeddings: readonly WireEmbedding[]): unknown;
}

export function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return { status, body: JSON.stringify(body), headers };
}

export function isReply(value: EmbedJob | Reply): value is Reply {
  return "status" in value;
}

/** What gateways send for 502/504: an HTML page, not the API's JSON. */
export function gatewayPage(status: 502 | 504): Reply {
  const title = status === 502 ? "502 Bad Gateway" : "504 Gateway Time-out";
  return {
    status,
    body: `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`,
    headers: { "content-type": "text/html" },
  };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
