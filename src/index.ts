export { backfill } from "./backfill/backfill.js";
export type { BackfillOptions } from "./backfill/options.js";
export type {
  BackfillCounters,
  BackfillProgress,
  BackfillReport,
  RangeProgress,
  SkippedRow,
  SkipReason,
} from "./backfill/report.js";
export {
  type SharedPacing,
  type SharedPacingOptions,
  sharedPacing,
} from "./backfill/shared-pacing.js";
export type * from "./contracts/batch-embedding-api.js";
export type * from "./contracts/batch-job-store.js";
export type * from "./contracts/embedding-provider.js";
export type * from "./contracts/embedding-store.js";
export { BACKFILL_DEFAULTS, defaultEstimateTokens, SEARCH_DEFAULTS } from "./defaults.js";
export * from "./errors/index.js";
export { hashText } from "./hash.js";
export {
  type ConsoleReporterOptions,
  consoleReporter,
  type ReporterStream,
} from "./progress/console-reporter.js";
export {
  type EmbedQueryOptions,
  type EmbedRowsOptions,
  embedQuery,
  embedRows,
} from "./search/index.js";
