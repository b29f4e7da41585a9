/*
 * @relay/embeddings/postgres: the PostgreSQL kit for stores. Everything a pgvector store needs that does
 * not depend on how it builds SQL: one session interface over node-postgres, postgres.js and PGlite,
 * binary encodings and COPY, catalog and schema checks, run locks, staging of vectors, vector indexes,
 * and the mapping of database errors to the library's errors. drizzleStore is built on it.
 */
export { abortable } from "./abortable.js";
export {
  type ActiveModel,
  activeModelsDdl,
  lockActiveModel,
  quoteLiteral,
  readActiveModel,
  writeActiveModel,
} from "./active-models.js";
export { acquireRunLock, type HeldLock, type RunLockOptions } from "./advisory-lock.js";
export {
  binaryKeyEncoder,
  type CopyField,
  copyFile,
  TEXT_TYPES,
  textArray,
  vectorArray,
  vectorText,
} from "./binary.js";
export { cancelOnAbort } from "./cancel.js";
export {
  type ColumnInfo,
  hasUniqueIndex,
  qualifiedName,
  quoteIdentifier,
  relationExists,
  type TableName,
  tableColumns,
  tableExists,
  tableName,
  vectorExtension,
  vectorTypeOid,
} from "./catalog.js";
export { planVectorCopy, type VectorCopyColumns, type VectorCopyPlan } from "./copy-plan.js";
export { databaseError, guard, sqlState } from "./database-error.js";
export { makeSession, type SessionParts, withReserved } from "./make-session.js";
export { type NodePostgresClient, nodePostgresSession } from "./node-postgres.js";
export { type PGliteClient, pgliteSession } from "./pglite.js";
export { type PostgresJsSql, postgresJsSession } from "./postgres-js.js";
export {
  checkTableColumns,
  checkUniqueIndex,
  checkVectorColumn,
  checkVectorExtension,
  type VectorColumnCheck,
} from "./schema-checks.js";
export type {
  PgCapabilities,
  PgDriver,
  PgQueryOptions,
  PgReleaseOptions,
  PgReservedSession,
  PgRow,
  PgSession,
} from "./session.js";
export {
  fragmentQuery,
  joinFragments,
  rawFragment,
  type SqlFragment,
  sqlFragment,
} from "./sql-fragment.js";
export { type StagedRow, type StagedRows, type StagingCache, stageRows } from "./staging.js";
export {
  type CreateIndexOptions,
  createVectorIndex,
  type IndexPart,
  type VectorIndexOps,
} from "./vector-index.js";
export {
  bitText,
  castType,
  HALF_MAX,
  halfOverflow,
  MAX_INDEXED_VECTOR_DIMENSIONS,
  toHalfPrecision,
  type VectorColumnType,
  vectorBinary,
  vectorColumnType,
  vectorTextOf,
  vectorTypeName,
} from "./vector-types.js";
