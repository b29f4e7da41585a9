/*
 * The fastest any client could finish, from first principles, against the emulator's model:
 *
 * - Rate limits, sliding window: the emulator admits, in any sliding 60 s window, at most RPM
 *   requests and TPM billed tokens. If the T tokens to embed exceed TPM, some request can only be
 *   admitted 60 s × (⌈T / TPM⌉ − 1) after the first, and then takes at least its own latency. The
 *   same holds for the fewest requests the per-request caps allow (1,000 inputs, 320K tokens) against RPM.
 * - Rate limits, token bucket: a bucket holding B seconds of the limit, full at the start and
 *   refilled at limit / 60 s, admits at most B × TPM / 60 + t × TPM / 60 tokens by time t: the last
 *   token is admitted no sooner than (T − B × TPM / 60) / (TPM / 60), and its request then takes at
 *   least its own latency (one input's). The same for requests, where no request may carry more
 *   tokens than the bucket holds.
 * - Latency: a request takes base + perToken × its tokens, and the emulator runs any number at once.
 *   Within one window a client may send at most RPM requests, so the slowest of them carries at least
 *   T / min(RPM, distinct inputs) tokens (and at least the longest input): that is the latency bound,
 *   reached only by splitting the work evenly over every request the window allows, all in flight.
 * - Writing: the vectors must also reach the database; a raw binary COPY of the same vectors, timed
 *   in the same run, is taken as the fastest way to do it (a floor for writes that overlap the rest).
 * - The emulator itself: it computes the vectors on one thread, one request at a time, before a
 *   request's modelled latency starts. Its time for all the distinct texts (measured in the same run)
 *   plus one base latency is a floor on this machine that the model alone ignores; in a rate-bound
 *   run, the share of it for the tokens left after the full windows comes after those windows.
 *
 * The bound is the largest of these: no schedule can beat any one of them.
 */

export interface BoundInput {
  /** Distinct texts to embed, and the emulator's tokens for them. */
  readonly inputs: number;
  readonly tokens: number;
  readonly maxInputTokens: number;
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
  /** How the limits are enforced: a sliding window, or buckets holding `burstSeconds` of them. */
  readonly shape:
    | { readonly enforcement: "sliding-window" }
    | { readonly enforcement: "token-bucket"; readonly burstSeconds: number };
  readonly latency: { readonly baseMs: number; readonly perTokenMs: number };
  readonly maxInputsPerRequest: number;
  readonly maxTokensPerRequest: number;
  /** A raw binary COPY of the same number of rows, measured (ms). */
  readonly writeFloorMs?: number;
  /** The emulator's own time to compute every vector, measured (ms). */
  readonly emulatorComputeMs?: number;
}

export interface Bound {
  readonly ms: number;
  /** Which constraint sets it. */
  readonly kind: "tokens per minute" | "requests per minute" | "latency" | "write floor" | "emulator floor";
  /** Every component, for the report. */
  readonly parts: Readonly<Record<string, number>>;
}

const WINDOW_MS = 60_000;

export function lowerBound(input: BoundInput): Bound {
  const { inputs, tokens, latency } = input;
  const rpm = input.requestsPerMinute ?? Number.POSITIVE_INFINITY;
  const tpm = input.tokensPerMinute ?? Number.POSITIVE_INFINITY;
  const meanTokens = tokens / Math.max(1, inputs);
  const requestMs = (t: number) => latency.baseMs + latency.perTokenMs * t;

  const bucket = input.shape.enforcement === "token-bucket" ? input.shape.burstSeconds : undefined;
  // What may go at once: a window's figures, or what the buckets hold.
  const atOnceRequests = bucket === undefined ? rpm : Math.max(1, (rpm * bucket) / 60);
  const atOnceTokens = bucket === undefined ? tpm : (tpm * bucket) / 60;

  // All at once, the work split evenly among as many requests as may go at once.
  const parallel = Math.max(1, Math.min(atOnceRequests, inputs, Math.floor(atOnceTokens / meanTokens) || 1));
  const latencyMs = requestMs(Math.max(input.maxInputTokens, tokens / parallel));

  // Requests: the fewest the per-request caps (and, for a bucket, its size) allow.
  const perRequest = Math.min(input.maxTokensPerRequest, atOnceTokens);
  const fewest = Math.max(Math.ceil(inputs / input.maxInputsPerRequest), Math.ceil(tokens / perRequest));

  let tokenMs = 0;
  let requestMsBound = 0;
  let emulatorMs = 0;
  if (bucket === undefined) {
    // Tokens: full windows before the last admission, then the smallest request of the last window.
    const tokenWindows = Number.isFinite(tpm) ? Math.max(0, Math.ceil(tokens / tpm) - 1) : 0;
    const leftover = tokens - tokenWindows * (Number.isFinite(tpm) ? tpm : 0);
    if (tokenWindows > 0) {
      tokenMs = tokenWindows * WINDOW_MS + requestMs(Math.max(meanTokens, leftover / Math.min(rpm, inputs)));
    }
    const requestWindows = Number.isFinite(rpm) ? Math.max(0, Math.ceil(fewest / rpm) - 1) : 0;
    if (requestWindows > 0) requestMsBound = requestWindows * WINDOW_MS + requestMs(meanTokens);
    if (input.emulatorComputeMs !== undefined) {
      emulatorMs = tokenWindows * WINDOW_MS + (input.emulatorComputeMs * leftover) / tokens + latency.baseMs;
    }
  } else {
    // The bucket, then the rate; the last request carries at least one input.
    if (Number.isFinite(tpm) && tokens > atOnceTokens) {
      tokenMs = ((tokens - atOnceTokens) / tpm) * WINDOW_MS + requestMs(meanTokens);
    }
    if (Number.isFinite(rpm) && fewest > atOnceRequests) {
      requestMsBound = ((fewest - atOnceRequests) / rpm) * WINDOW_MS + requestMs(meanTokens);
    }
    if (input.emulatorComputeMs !== undefined) emulatorMs = input.emulatorComputeMs + latency.baseMs;
  }

  const parts: Record<string, number> = {
    latency: latencyMs,
    "tokens per minute": tokenMs,
    "requests per minute": requestMsBound,
    "write floor": input.writeFloorMs ?? 0,
    "emulator floor": emulatorMs,
  };
  let kind: Bound["kind"] = "latency";
  let ms = latencyMs;
  for (const [name, value] of Object.entries(parts)) {
    if (value > ms) {
      ms = value;
      kind = name as Bound["kind"];
    }
  }
  return { ms, kind, parts };
}
