/*
 * The scenarios: the emulator's model of Voyage (latency, tier limits) and how a user on each tier
 * configures `backfill()`. Every number here is stated in bench/RESULTS.md.
 */
import type { LibrarySettings } from "./contenders/types.js";
import type { ContenderName } from "./protocol.js";

/**
 * Latency of one request: a base (network round trip and queueing, the time of a one-input request)
 * plus a cost per token (the model's work, one request on one replica). 200 ms + 0.015 ms/token
 * gives ~0.2 s for a query, ~1 s for 128 skills (51K tokens) and ~5 s for a full 320K-token batch:
 * the "hundreds of ms to a few seconds per large batch" embedding APIs answer in (OpenAI reports of
 * ~10-30 s per million tokens in one request put the per-token cost at 0.01-0.03 ms).
 */
export const LATENCY = { baseMs: 200, perTokenMs: 0.015 } as const;

/** Voyage's published limits for voyage-3.5 (FACTS.md): tier 1, tiers 2 and 3 multiply them. */
export const TIERS = {
  1: { requestsPerMinute: 2_000, tokensPerMinute: 8_000_000 },
  3: { requestsPerMinute: 6_000, tokensPerMinute: 24_000_000 },
} as const;

/** Per-request caps of voyage-3.5 (the lower bound may not split beyond them). */
export const REQUEST_CAPS = { maxInputsPerRequest: 1_000, maxTokensPerRequest: 320_000 } as const;

export type TierName = keyof typeof TIERS;

/**
 * What a user on the tier sets, and why:
 * - `requestsPerMinute` / `tokensPerMinute`: the tier's limits, as the README says to.
 * - `concurrency: 64` (default 4): the limiter holds RPM and TPM whatever the cap, so a high cap
 *   costs nothing and lets a small table go out at once; 64 × 51K tokens stays under either TPM.
 * - `maxInputsPerRequest: 128` (default: the provider's 1,000, within 320K tokens ≈ 600 skills): the
 *   batch size the voyageai SDK documents. A request's latency grows with its tokens, so 128-input
 *   batches in parallel finish several times sooner than 600-input ones when slots are free.
 * - `dedupeCacheSize: 8_192` (default 2,048): duplicates in a catalog are anywhere in id order; a
 *   cache larger than the table's distinct texts serves every one (8,192 × 4 KB = 32 MB at most).
 */
export function librarySettings(tier: TierName): LibrarySettings {
  return {
    ...TIERS[tier],
    concurrency: 64,
    maxInputsPerRequest: 128,
    dedupeCacheSize: 8_192,
  };
}

export interface Scenario {
  readonly name: string;
  readonly title: string;
  readonly rows: number;
  readonly tier: TierName;
  readonly contenders: readonly ContenderName[];
  /** Run the library a second time on the unchanged data. */
  readonly rerun: boolean;
  /** Which speed targets this scenario checks. */
  readonly targets: readonly ("bound" | "vs-plan" | "vs-ai-sdk" | "rss")[];
  /**
   * Run it on the real server only, when the run has one: a long run that measures the provider side
   * or the library's memory (PGlite's database lives in the contender's process and grows with it).
   */
  readonly serverOnly?: boolean;
}

export const DEFAULT_ROWS = 5_000;
export const DUPLICATE_RATE = 0.05;
export const SEED = 20_261_124;

export function scenarios(rows: number): Record<string, Scenario> {
  return {
    tier1: {
      name: "tier1",
      title: "Tier 1 (2,000 RPM, 8M TPM)",
      rows,
      tier: 1,
      contenders: ["library", "plan", "ai-sdk"],
      rerun: true,
      targets: ["bound", "vs-ai-sdk"],
    },
    tier3: {
      name: "tier3",
      title: "Tier 3 (6,000 RPM, 24M TPM)",
      rows,
      tier: 3,
      // (b) and (c) have no limit settings: where their tier-1 run met no 429, higher limits cannot
      // change what they do, and that run stands for tier 3 (see `reusable` in bench/index.ts).
      contenders: ["library", "plan", "ai-sdk"],
      rerun: false,
      targets: ["vs-plan", "vs-ai-sdk"],
    },
    "tier1-rate": {
      name: "tier1-rate",
      title: "Tier 1, rate-bound (more tokens than one minute's budget)",
      // ~15M tokens: nearly two minutes' budget, so any slack in the client's accounting costs a minute.
      rows: Math.max(rows, 40_000),
      tier: 1,
      contenders: ["library", "ai-sdk"],
      rerun: false,
      targets: ["bound", "vs-ai-sdk"],
      serverOnly: true,
    },
    rss: {
      name: "rss",
      title: "Peak RSS, 10,000 vs 100,000 rows (tier 3)",
      rows: 100_000,
      tier: 3,
      contenders: ["library"],
      rerun: false,
      targets: ["rss"],
      serverOnly: true,
    },
  };
}
