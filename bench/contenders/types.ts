import type { BenchDatabase } from "../db.js";

/** What (a) is told on a tier: see bench/scenarios.ts. */
export interface LibrarySettings {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
}

export interface ContenderContext {
  readonly database: BenchDatabase;
  /** The emulator's Voyage base URL (`…/voyage/v1`). */
  readonly voyageBaseUrl: string;
  readonly apiKey: string;
  readonly library: LibrarySettings;
}

export interface ContenderOutcome {
  /** Rows the contender says it wrote. */
  readonly written: number;
  /** Anything worth showing next to the numbers (e.g. the library's report). */
  readonly note?: string;
}

/** "load 0.1 s, embed 11.2 s, write 6.1 s": where a script's time went. */
export function phases(started: number, loaded: number, embedded: number): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return `load ${s(loaded - started)}, embed ${s(embedded - loaded)}, write ${s(performance.now() - embedded)}`;
}
