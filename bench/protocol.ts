/* Messages between the benchmark's parent (emulator, report) and a child (one contender, isolated RSS). */
import type { BackfillReport } from "../src/index.js";
import type { LibrarySettings } from "./contenders/types.js";
import type { DataOptions } from "./data.js";
import type { DatabaseKind, SeedHandle } from "./db.js";

export type ContenderName = "library" | "plan" | "ai-sdk";

export interface ContenderJob {
  readonly kind: "contender";
  readonly contender: ContenderName;
  readonly database: DatabaseKind;
  readonly serverUrl?: string;
  /** The seeded data to open a copy of (`data` describes it). */
  readonly seed: SeedHandle;
  readonly data: DataOptions;
  readonly voyageBaseUrl: string;
  readonly apiKey: string;
  readonly library: LibrarySettings;
  /** Run the library a second time on the unchanged data (library only). */
  readonly rerun: boolean;
}

export interface WritePathJob {
  readonly kind: "write-path";
  readonly database: DatabaseKind;
  readonly serverUrl?: string;
  readonly seed: SeedHandle;
  readonly data: DataOptions;
  /** How many of the seeded rows to write (from the first). */
  readonly rows: number;
  /** Rows per drizzleStore.write() call. */
  readonly batch: number;
  readonly repeats: number;
}

export type ChildJob = ContenderJob | WritePathJob;

export interface Verification {
  /** Skills still without an embedding. */
  readonly missing: number;
  readonly embeddings: number;
  /** Sampled rows whose stored vector and hash match their text. */
  readonly sampled: number;
  readonly sampleMismatches: number;
}

export interface PhaseResult {
  readonly wallMs: number;
  /** CPU time of the child (user + system) during the phase. */
  readonly cpuMs: number;
  readonly peakRssKb: number;
  /** The peak could not be reset after seeding: it includes it. */
  readonly rssSinceStart: boolean;
  /** Peaks of the JS heap in use and of memory outside it (buffers), sampled every 200 ms. */
  readonly memory: { readonly heapUsedKb: number; readonly externalKb: number };
  readonly written: number;
  readonly error?: string;
  readonly report?: Omit<BackfillReport, "skippedRows">;
  readonly note?: string;
}

export interface WritePathResult {
  readonly rows: number;
  readonly batch: number;
  /** Best of the repeats, in ms. */
  readonly copyMs: number;
  readonly writeMs: number;
  readonly copyRuns: readonly number[];
  readonly writeRuns: readonly number[];
}

export type ChildMessage =
  | { readonly type: "ready" }
  | { readonly type: "phase"; readonly phase: "first" | "rerun"; readonly result: PhaseResult }
  | { readonly type: "verified"; readonly verification: Verification }
  | { readonly type: "write-path"; readonly result: WritePathResult }
  | { readonly type: "fatal"; readonly error: string };

export type ParentMessage = { readonly type: "go" };
