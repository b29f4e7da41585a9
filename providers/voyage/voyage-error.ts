import type { APICallError } from "../../src/errors/api-call-error.js";
import {
  type CallContext,
  type CapturedExchange,
  httpCallError,
  transportCallError,
} from "../../src/provider-utils/index.js";

/** Reads what the `voyageai` SDK's `VoyageAIError` carries, without depending on its class identity. */
function sdkFields(error: unknown): { statusCode?: number; body?: unknown; headers?: Headers } {
  if (!error || typeof error !== "object") return {};
  const e = error as {
    statusCode?: unknown;
    body?: unknown;
    rawResponse?: { status?: unknown; headers?: unknown };
  };
  const real = typeof e.rawResponse?.status === "number" && e.rawResponse.status > 0;
  return {
    statusCode: typeof e.statusCode === "number" ? e.statusCode : undefined,
    body: e.body,
    headers: real && e.rawResponse?.headers instanceof Headers ? e.rawResponse.headers : undefined,
  };
}

function isTimeout(error: unknown, exchange: CapturedExchange): boolean {
  // The SDK's own timer aborts fetch with the string "timeout"; Node's fetch rejects with that reason.
  return (
    (error as { name?: unknown })?.name === "VoyageAITimeoutError" || exchange.networkError === "timeout"
  );
}

/**
 * Maps what `client.embed()` threw to an {@link APICallError}. Prefers what the wrapped fetch saw
 * (the real status, headers and body) to the SDK error, which loses the status of an error response
 * whose body is not JSON, and the network error itself.
 */
export async function voyageCallError(
  error: unknown,
  exchange: CapturedExchange,
  ctx: CallContext,
): Promise<APICallError> {
  if (isTimeout(error, exchange)) return transportCallError(ctx, "timeout", error);
  const sdk = sdkFields(error);
  const response = exchange.response;
  const status = response && !response.ok ? response.status : sdk.statusCode;
  if (status !== undefined) {
    const text = await response?.errorBody;
    return httpCallError(ctx, {
      status,
      headers: response?.headers ?? sdk.headers,
      // The SDK's parsed body, unless it only kept the raw text or nothing: then parse `text`.
      body: sdk.body && typeof sdk.body === "object" ? sdk.body : undefined,
      text: text ?? (typeof sdk.body === "string" ? sdk.body : undefined),
      cause: error,
    });
  }
  // No HTTP error answer: fetch failed, or the body of a 2xx response could not be read.
  if (exchange.networkError !== undefined || response?.ok) {
    return transportCallError(ctx, "connection", exchange.networkError ?? error);
  }
  return transportCallError(ctx, "unknown", error);
}
