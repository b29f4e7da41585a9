import { APICallError, InvalidResponseError } from "../../src/index.js";
import { type CallContext, httpCallError, transportCallError } from "../../src/provider-utils/index.js";

/** AI SDK errors carry `Symbol.for("vercel.ai.error.<name>")`: read without importing the AI SDK. */
function isAiSdkError(error: unknown, name: string): error is Error & Record<string, unknown> {
  return (
    typeof error === "object" &&
    error !== null &&
    (error as Record<symbol, unknown>)[Symbol.for(`vercel.ai.error.${name}`)] === true
  );
}

/** Response headers as the AI SDK keeps them (a plain object), read like fetch `Headers`. */
export function headersOf(record: unknown): { get(name: string): string | null } | undefined {
  if (!record || typeof record !== "object") return undefined;
  const lower = new Map(
    Object.entries(record as Record<string, unknown>)
      .filter((entry): entry is [string, string] => typeof entry[1] === "string")
      .map(([name, value]) => [name.toLowerCase(), value]),
  );
  return { get: (name) => lower.get(name.toLowerCase()) ?? null };
}

const INVALID_RESPONSE = [
  "AI_InvalidResponseDataError",
  "AI_TypeValidationError",
  "AI_JSONParseError",
  "AI_EmptyResponseBodyError",
];

/**
 * Maps what an AI SDK model's `doEmbed` threw: its `APICallError` by the HTTP status and body as the
 * built-in providers map theirs (reason, `retryAfterMs`, `detail`), one without a status (it could not
 * connect) as `connection`, answers it could not read as {@link InvalidResponseError}, and too many
 * values for one call as `request_too_large` (the engine splits the request).
 */
export function aiSdkCallError(error: unknown, ctx: CallContext): unknown {
  if (isAiSdkError(error, "AI_APICallError")) {
    const at = typeof error.url === "string" ? { ...ctx, url: error.url } : ctx;
    const status = typeof error.statusCode === "number" ? error.statusCode : undefined;
    if (status !== undefined && (status < 200 || status >= 300)) {
      return httpCallError(at, {
        status,
        headers: headersOf(error.responseHeaders),
        text: typeof error.responseBody === "string" ? error.responseBody : undefined,
        body: error.responseBody === undefined ? error.data : undefined,
        cause: error,
      });
    }
    if (status !== undefined) return invalidResponse(at, error);
    return transportCallError(at, "connection", error.cause ?? error);
  }
  if (INVALID_RESPONSE.some((name) => isAiSdkError(error, name))) return invalidResponse(ctx, error as Error);
  if (isAiSdkError(error, "AI_TooManyEmbeddingValuesForCallError")) {
    return new APICallError(
      `${ctx.label} (model "${ctx.model}") takes fewer values per call: ${error.message}`,
      {
        provider: ctx.provider,
        model: ctx.model,
        reason: "request_too_large",
        cause: error,
      },
    );
  }
  if (isAiSdkError(error, "AI_LoadAPIKeyError")) {
    return new APICallError(`${ctx.label} (model "${ctx.model}") has no API key: ${error.message}`, {
      provider: ctx.provider,
      model: ctx.model,
      reason: "authentication",
      cause: error,
    });
  }
  // fetch's own failure, when the AI SDK passed it on as it was.
  if (error instanceof TypeError && /fetch failed|failed to fetch/i.test(error.message)) {
    return transportCallError(ctx, "connection", error);
  }
  return transportCallError(ctx, "unknown", error);
}

function invalidResponse(ctx: CallContext, error: Error): InvalidResponseError {
  return new InvalidResponseError(
    `${ctx.label} returned an embeddings response (model "${ctx.model}") that cannot be used: ${error.message}`,
    { provider: ctx.provider, model: ctx.model, cause: error },
  );
}
