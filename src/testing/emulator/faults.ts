import { InvalidOptionError } from "../../errors/invalid-option-error.js";
import type { EmulatorApi } from "./types.js";

/**
 * A misbehaviour the emulator can be told to show. Faults that replace the answer (`rate_limit`,
 * `server_error`, `drop_connection`, `invalid_key`, `forbidden`, `insufficient_quota`) bill nothing and
 * do not count against rate limits; faults that corrupt a successful answer (`malformed_json`,
 * `wrong_count`, `wrong_dimension`, `nan`, `zero_vector`) are billed like the success they spoil; given to a request
 * that fails anyway (400, 429), they are used up without showing. `stall` delays whatever the answer is.
 */
export type EmulatorFault =
  | {
      /** 429 with the API's rate-limit body. */
      readonly type: "rate_limit";
      /**
       * Milliseconds sent as `Retry-After` (rounded up to seconds) and, on OpenAI, `retry-after-ms`;
       * `null` sends neither header.
       * @default 1000
       */
      readonly retryAfterMs?: number | null;
    }
  | {
      /**
       * A server or gateway error. 500 and 503 carry the API's JSON error body; 502 and 504 an HTML
       * page, as gateways send.
       */
      readonly type: "server_error";
      /** @default 500 */
      readonly status?: 500 | 502 | 503 | 504;
    }
  | {
      /** No answer: the socket is destroyed (loopback server), or `Response.error()` (MSW). */
      readonly type: "drop_connection";
    }
  | {
      /** No answer for `ms`, then the normal answer. A client with a shorter timeout sees a timeout. */
      readonly type: "stall";
      /** @default 60_000 */
      readonly ms?: number;
    }
  | {
      /** 200 with `content-type: application/json` and the body cut in half. */
      readonly type: "malformed_json";
    }
  | {
      /** 200 with `delta` embeddings too many (copies of the last) or too few (the last dropped). */
      readonly type: "wrong_count";
      /** @default -1 */
      readonly delta?: number;
    }
  | {
      /** 200 with every vector cut or zero-padded to `dimensions` components. */
      readonly type: "wrong_dimension";
      /** @default half the requested dimension */
      readonly dimensions?: number;
    }
  | {
      /**
       * 200 with a NaN as the first component of embedding `index`. JSON cannot carry NaN: float
       * arrays get `null` (or the string `"NaN"`), float base64 buffers carry NaN bits, and a
       * quantised base64 embedding is sent as a JSON array instead.
       */
      readonly type: "nan";
      /** @default 0 */
      readonly index?: number;
      /** @default "null" */
      readonly as?: "null" | "string";
    }
  | {
      /** 200 with embedding `index` all zeros (a vector without direction). */
      readonly type: "zero_vector";
      /** @default 0 */
      readonly index?: number;
    }
  | {
      /** 401 with the API's invalid-key body, whatever key was sent. */
      readonly type: "invalid_key";
    }
  | {
      /** 403 with the API's forbidden body. */
      readonly type: "forbidden";
    }
  | {
      /**
       * OpenAI's 429 `insufficient_quota` (not a rate limit: never retry it). OpenAI only: Voyage
       * requests pass it by.
       */
      readonly type: "insufficient_quota";
    };

/** The name of a fault; alone, it means the fault with its defaults. */
export type EmulatorFaultType = EmulatorFault["type"];

/** When an injected fault shows. */
export interface InjectOptions {
  /**
   * How many requests get the fault.
   * @default 1
   */
  readonly times?: number;
  /**
   * How many matching requests pass untouched first.
   * @default 0
   */
  readonly afterRequests?: number;
  /**
   * Only requests to this API match.
   * @default both APIs ("openai" for insufficient_quota)
   */
  readonly api?: EmulatorApi;
}

/** Faults drawn at random, reproducibly: each request draws one number from a PRNG seeded by `seed`. */
export interface RandomFaults {
  /**
   * Seed of the PRNG. The same seed and the same request order give the same faults.
   * @default 1
   */
  readonly seed?: number;
  /**
   * Each fault with its probability per request; probabilities add up to at most 1. Queued faults
   * (`inject`) take precedence and draw nothing.
   */
  readonly faults: ReadonlyArray<{
    readonly fault: EmulatorFault | EmulatorFaultType;
    readonly probability: number;
  }>;
}

const TYPES: ReadonlySet<string> = new Set<EmulatorFaultType>([
  "rate_limit",
  "server_error",
  "drop_connection",
  "stall",
  "malformed_json",
  "wrong_count",
  "wrong_dimension",
  "nan",
  "zero_vector",
  "invalid_key",
  "forbidden",
  "insufficient_quota",
]);

export function normalizeFault(fault: EmulatorFault | EmulatorFaultType, option: string): EmulatorFault {
  const value = typeof fault === "string" ? ({ type: fault } as EmulatorFault) : fault;
  if (!value || !TYPES.has(value.type)) {
    throw new InvalidOptionError(option, `one of ${[...TYPES].map((t) => `"${t}"`).join(", ")}`);
  }
  return value;
}

function appliesTo(fault: EmulatorFault, api: EmulatorApi, only: EmulatorApi | undefined): boolean {
  if (fault.type === "insufficient_quota" && api !== "openai") return false;
  return only === undefined || only === api;
}

interface Queued {
  readonly fault: EmulatorFault;
  readonly api: EmulatorApi | undefined;
  skip: number;
  times: number;
}

/** The queue of injected faults and the random ones; decides each request's fault in arrival order. */
export class FaultSchedule {
  private queue: Queued[] = [];
  private random:
    | { next: () => number; faults: Array<{ fault: EmulatorFault; probability: number }> }
    | undefined;

  inject(fault: EmulatorFault | EmulatorFaultType, options: InjectOptions = {}): void {
    const { times = 1, afterRequests = 0, api } = options;
    if (!Number.isSafeInteger(times) || times < 1)
      throw new InvalidOptionError("times", "a positive integer");
    if (!Number.isSafeInteger(afterRequests) || afterRequests < 0) {
      throw new InvalidOptionError("afterRequests", "a non-negative integer");
    }
    if (api !== undefined && api !== "voyage" && api !== "openai") {
      throw new InvalidOptionError("api", '"voyage" or "openai"');
    }
    this.queue.push({ fault: normalizeFault(fault, "fault"), api, skip: afterRequests, times });
  }

  setRandom(config: RandomFaults | null): void {
    if (config === null) {
      this.random = undefined;
      return;
    }
    const seed = config.seed ?? 1;
    if (!Number.isSafeInteger(seed)) throw new InvalidOptionError("seed", "an integer");
    const faults = (config.faults ?? []).map((entry, i) => {
      const p = entry.probability;
      if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
        throw new InvalidOptionError(`faults[${i}].probability`, "a number between 0 and 1");
      }
      return { fault: normalizeFault(entry.fault, `faults[${i}].fault`), probability: p };
    });
    const total = faults.reduce((sum, f) => sum + f.probability, 0);
    if (total > 1 + 1e-9) throw new InvalidOptionError("faults", "probabilities adding up to at most 1");
    this.random = { next: mulberry32(seed), faults };
  }

  /** The fault of the next request to `api`, if any. Call once per request, in arrival order. */
  next(api: EmulatorApi): EmulatorFault | undefined {
    let chosen: Queued | undefined;
    for (const entry of this.queue) {
      if (!appliesTo(entry.fault, api, entry.api)) continue;
      if (entry.skip > 0) entry.skip--;
      else if (!chosen && entry.times > 0) chosen = entry;
    }
    if (chosen) {
      chosen.times--;
      this.queue = this.queue.filter((entry) => entry.times > 0);
      return chosen.fault;
    }
    if (!this.random) return undefined;
    let u = this.random.next();
    for (const { fault, probability } of this.random.faults) {
      if (u < probability) return appliesTo(fault, api, undefined) ? fault : undefined;
      u -= probability;
    }
    return undefined;
  }

  /** Injected faults not yet shown. */
  get pending(): number {
    return this.queue.reduce((sum, entry) => sum + entry.times, 0);
  }

  clear(): void {
    this.queue = [];
    this.random = undefined;
  }
}

/** mulberry32: small, fast, and the same on every platform. */
function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
