import { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import type { APICallError } from "../../src/errors/api-call-error.js";
import { InvalidResponseError } from "../../src/errors/invalid-response-error.js";
import {
  type CallContext,
  type CapturedExchange,
  httpCallError,
  sanitizeCause,
  transportCallError,
} from "../../src/provider-utils/index.js";

/**
 * Maps what `client.embeddings.create()` threw. The raw error body from the wrapped fetch is
 * preferred, because `APIError.error` keeps only an OpenAI-shaped `{ error }`, and OpenAI-compatible
 * servers put their message elsewhere (vLLM: top-level `message`).
 */
export async function openaiCallError(
  error: unknown,
  exchange: CapturedExchange,
  ctx: CallContext,
): Promise<APICallError | InvalidResponseError> {
  if (error instanceof APIConnectionTimeoutError) return transportCallError(ctx, "timeout", error);
  if (error instanceof APIConnectionError) return transportCallError(ctx, "connection", error.cause ?? error);
  if (error instanceof APIError && typeof error.status === "number") {
    const text = await exchange.response?.errorBody;
    return httpCallError(ctx, {
      status: error.status,
      headers: error.headers ?? exchange.response?.headers,
      body: text === undefined && error.error ? { error: error.error } : undefined,
      text,
      cause: error,
    });
  }
  if (error instanceof SyntaxError) {
    return new InvalidResponseError(
      `${ctx.label} answered with a body that is not JSON (model "${ctx.model}", ${ctx.url}): is \`baseURL\` an OpenAI-compatible API?`,
      { provider: ctx.provider, model: ctx.model, cause: sanitizeCause(error) },
    );
  }
  // The response started but its body could not be read (the connection dropped).
  if (exchange.response?.ok && error instanceof TypeError)
    return transportCallError(ctx, "connection", error);
  return transportCallError(ctx, "unknown", error);
}
