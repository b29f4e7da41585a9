export type { ActiveModel, CreateIndexOptions } from "../../src/postgres/index.js";
export { anyVector } from "./any-vector.js";
export { type DrizzleStore, drizzleStore } from "./drizzle-store.js";
export type {
  CutoverOptions,
  CutoverResult,
  PruneOptions,
  StoreIndexOptions,
} from "./models.js";
export type {
  ColumnData,
  ColumnOf,
  DrizzleActiveModelOptions,
  DrizzleBatchJobsOptions,
  DrizzleRefusalsOptions,
  DrizzleSourceOptions,
  DrizzleStoreBaseOptions,
  DrizzleStoreOptions,
  DrizzleTargetOptions,
  PartitionOptions,
  SourceRow,
  TargetKeyRule,
  TextColumnOf,
  VectorColumnOf,
  VectorColumnType,
  VersionOption,
} from "./options.js";
export type {
  DuplicatePair,
  FindDuplicatesOptions,
  FindSimilarOptions,
  IndexTuning,
  NearestOptions,
  SearchOptions,
  SelectedRow,
  SimilarityOptions,
  SimilaritySelection,
  SimilarRow,
  SimilarRows,
} from "./similarity.js";
