export type { CreateIndexOptions } from "./create-index.js";
export { type DrizzleStore, drizzleStore } from "./drizzle-store.js";
export type {
  DrizzleBatchJobsOptions,
  DrizzleSourceOptions,
  DrizzleStoreOptions,
  DrizzleTargetOptions,
  PartitionOptions,
  SourceRow,
} from "./options.js";
export type { FindSimilarOptions, NearestOptions, SimilarRow } from "./similarity.js";
