/*
 * The fastest any client could finish, from first principles, against the emulator's model:
 *
 * - Rate limits: the emulator admits, in any sliding 60 s window, at most RPM requests and TPM billed
 *   tokens. If the T tokens to embed exceed TPM, some request can only be admitted 60 s ×
 *   (⌈T / TPM⌉ − 1) after the first, and then takes at least its own latency. The same holds for the
 *   fewest requests the per-request caps allow (1,000 inputs, 320K tokens) against RPM.
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

  // One window's worth of requests, all in flight, the work split evenly among them.
  const parallel = Math.max(1, Math.min(rpm, inputs));
  const latencyMs = requestMs(Math.max(input.maxInputTokens, tokens / parallel));

  // Tokens: full windows before the last admission, then the smallest request of the last window.
  const tokenWindows = Number.isFinite(tpm) ? Math.max(0, Math.ceil(tokens / tpm) - 1) : 0;
  const leftover = tokens - tokenWindows * (Number.isFinite(tpm) ? tpm : 0);
  const tokenMs =
    tokenWindows > 0
      ? tokenWindows * WINDOW_MS + requestMs(Math.max(meanTokens, leftover / Math.min(rpm, inputs)))
      : 0;

  // Requests: the fewest the per-request caps allow, RPM per window.
  const fewest = Math.max(
    Math.ceil(inputs / input.maxInputsPerRequest),
    Math.ceil(tokens / input.maxTokensPerRequest),
  );
  const requestWindows = Number.isFinite(rpm) ? Math.max(0, Math.ceil(fewest / rpm) - 1) : 0;
  const requestMsBound = requestWindows > 0 ? requestWindows * WINDOW_MS + requestMs(meanTokens) : 0;

  const emulatorMs =
    input.emulatorComputeMs === undefined
      ? 0
      : tokenWindows * WINDOW_MS + (input.emulatorComputeMs * leftover) / tokens + latency.baseMs;

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
