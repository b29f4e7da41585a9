/*
 * The scenarios: the emulator's model of Voyage (latency, tier limits) and how a user on each tier
 * configures `backfill()`. Every number here is stated in bench/RESULTS.md.
 */
import type { LibrarySettings } from "./contenders/types.js";
import type { ContenderName } from "./protocol.js";

/**
 * Latency of one request: a base (network round trip and queueing, the time of a one-input request)
 * plus a cost per token (the model's work, one request on one replica). 100 ms + 20 ms per 1,000
 * tokens gives ~0.1 s for a query, ~1.1 s for 128 skills (51K tokens) and ~6.5 s for a full
 * 320K-token batch: the "hundreds of ms to a few seconds per large batch" embedding APIs answer in.
 * It is the model under which issue 9's measurements were taken.
 */
export const LATENCY = { baseMs: 100, perTokenMs: 0.02 } as const;

/** Voyage's published limits for voyage-3.5 (FACTS.md): tier 1, tiers 2 and 3 multiply them. */
export const TIERS = {
  1: { requestsPerMinute: 2_000, tokensPerMinute: 8_000_000 },
  3: { requestsPerMinute: 6_000, tokensPerMinute: 24_000_000 },
} as const;

/**
 * How the emulator enforces the per-minute figures: a sliding 60 s window (what Voyage documents),
 * or token buckets holding one second of each limit, refilled continuously (OpenAI documents that a
 * per-minute limit may be enforced as a per-second one).
 */
export const SHAPES = {
  window: { enforcement: "sliding-window", label: "sliding 60 s window" },
  bucket: { enforcement: "token-bucket", label: "token bucket, 1 s", burstSeconds: 1 },
} as const;

export type ShapeName = keyof typeof SHAPES;

/** Per-request caps of voyage-3.5 (the lower bound may not split beyond them). */
export const REQUEST_CAPS = { maxInputsPerRequest: 1_000, maxTokensPerRequest: 320_000 } as const;

export type TierName = keyof typeof TIERS;

/**
 * What (a) is told: the tier's requests and tokens per minute, the numbers on the provider's
 * dashboard, and nothing else. Concurrency, request size and the burst follow from them.
 */
export function librarySettings(tier: TierName): LibrarySettings {
  return { ...TIERS[tier] };
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
  /** The enforcement shapes it runs under (every speed scenario: both). */
  readonly shapes: readonly ShapeName[];
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
  const large = Math.max(rows, 40_000);
  return {
    tier1: {
      name: "tier1",
      title: "Tier 1 (2,000 RPM, 8M TPM)",
      rows,
      tier: 1,
      contenders: ["library", "plan", "ai-sdk"],
      rerun: true,
      targets: ["bound", "vs-ai-sdk"],
      shapes: ["bucket", "window"],
    },
    tier3: {
      name: "tier3",
      title: "Tier 3 (6,000 RPM, 24M TPM)",
      rows,
      tier: 3,
      // (b) and (c) have no limit settings: where a run of theirs met no 429 under lower limits (or,
      // for the window, under the bucket with less than a minute's figures in all), it stands here
      // (see `reusable` in bench/index.ts).
      contenders: ["library", "plan", "ai-sdk"],
      rerun: false,
      targets: ["bound", "vs-plan", "vs-ai-sdk"],
      shapes: ["bucket", "window"],
    },
    "tier1-40k": {
      name: "tier1-40k",
      title: "Tier 1, 40,000 skills (~2 minutes of the token limit)",
      rows: large,
      tier: 1,
      // (b) would take ~7 minutes per run here (sequential 128-skill requests): left out.
      contenders: ["library", "ai-sdk"],
      rerun: false,
      targets: ["bound", "vs-ai-sdk"],
      shapes: ["bucket", "window"],
    },
    "tier3-40k": {
      name: "tier3-40k",
      title: "Tier 3, 40,000 skills (~40 s of the token limit)",
      rows: large,
      tier: 3,
      contenders: ["library", "ai-sdk"],
      rerun: false,
      targets: ["bound", "vs-ai-sdk"],
      shapes: ["bucket", "window"],
    },
    rss: {
      name: "rss",
      title: "Peak RSS, 10,000 vs 100,000 rows (tier 3)",
      rows: 100_000,
      tier: 3,
      contenders: ["library"],
      rerun: false,
      targets: ["rss"],
      // Memory, not speed: one shape is enough.
      shapes: ["window"],
      serverOnly: true,
    },
  };
}
