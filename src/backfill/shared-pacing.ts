import { InvalidOptionError } from "../errors/index.js";
import { Pacer } from "./pacer.js";

/** Options of {@link sharedPacing}. */
export interface SharedPacingOptions {
  /**
   * Requests per minute the runs sharing this pacing may send together (this process's share of the
   * key's limit).
   * @default Infinity (not given: learned from the first 429)
   */
  requestsPerMinute?: number;
  /**
   * Tokens per minute the runs sharing this pacing may send together.
   * @default Infinity (not given: learned from the first 429)
   */
  tokensPerMinute?: number;
}

/**
 * The pacing of one API key's limits in this process, for several `backfill()` runs to share (one
 * after another, or at once): pass it as their `pacing` option. Their requests are spread together
 * at its rates, and what one run learns (the burst the API allows, a lower rate when the key is
 * shared with other processes) the runs after it start from. Made by {@link sharedPacing}.
 */
export interface SharedPacing {
  /** The requests per minute given (`Infinity`: learned from 429s). */
  readonly requestsPerMinute: number;
  /** The tokens per minute given (`Infinity`: learned from 429s). */
  readonly tokensPerMinute: number;
}

const PACERS = new WeakMap<SharedPacing, Pacer>();

function figure(value: unknown, option: string): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  if (typeof value !== "number" || !(value > 0)) throw new InvalidOptionError(option, "a positive number");
  return value;
}

/**
 * A pacing that several `backfill()` runs in this process share through their `pacing` option, so
 * that together they stay near `requestsPerMinute` / `tokensPerMinute` and each run starts from what
 * the earlier ones learned. Useful when one process runs many short backfills against one key (a
 * worker embedding one key range after another, a server backfilling per tenant): a run of its own
 * would start from scratch each time, with a fresh burst allowance.
 *
 * @example
 * const pacing = sharedPacing({ requestsPerMinute: 2_000, tokensPerMinute: 8_000_000 });
 * for (const store of tenantStores) await backfill({ provider, store, pacing });
 */
export function sharedPacing(options: SharedPacingOptions = {}): SharedPacing {
  if (typeof options !== "object" || options === null) throw new InvalidOptionError("options", "an object");
  const requestsPerMinute = figure(options.requestsPerMinute, "requestsPerMinute");
  const tokensPerMinute = figure(options.tokensPerMinute, "tokensPerMinute");
  const pacing: SharedPacing = Object.freeze({ requestsPerMinute, tokensPerMinute });
  PACERS.set(pacing, new Pacer({ requestsPerMinute, tokensPerMinute }));
  return pacing;
}

/** The pacer behind a {@link SharedPacing}; `undefined` for anything `sharedPacing()` did not make. */
export function pacerOf(pacing: unknown): Pacer | undefined {
  return typeof pacing === "object" && pacing !== null ? PACERS.get(pacing as SharedPacing) : undefined;
}
