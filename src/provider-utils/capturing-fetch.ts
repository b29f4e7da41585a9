/** What {@link capturingFetch} saw of one HTTP exchange. */
export interface CapturedExchange {
  /** The response, when one arrived. */
  response?: {
    readonly status: number;
    readonly ok: boolean;
    readonly headers: Headers;
    /** The body of a non-2xx response, read from a clone (`undefined` when unreadable). */
    readonly errorBody?: Promise<string | undefined>;
  };
  /** What `fetch` threw, when it threw. */
  networkError?: unknown;
}

/**
 * Wraps `fetch` to remember the response status, headers and error body, and what a failed fetch
 * threw. SDKs lose some of this on the way to their error classes (the Voyage SDK drops the status
 * of an error response whose body is not JSON, and the network error itself; the OpenAI SDK drops
 * error bodies that are not shaped like OpenAI's), and error mapping needs it. One per request.
 */
export function capturingFetch(getFetch: () => typeof globalThis.fetch): {
  fetch: typeof globalThis.fetch;
  exchange: CapturedExchange;
} {
  const exchange: CapturedExchange = {};
  const fetch: typeof globalThis.fetch = async (input, init) => {
    try {
      const response = await getFetch()(input, init);
      exchange.response = {
        status: response.status,
        ok: response.ok,
        headers: response.headers,
        errorBody: response.ok
          ? undefined
          : response
              .clone()
              .text()
              .catch(() => undefined),
      };
      return response;
    } catch (error) {
      exchange.networkError = error;
      throw error;
    }
  };
  return { fetch, exchange };
}
