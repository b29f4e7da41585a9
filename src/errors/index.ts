export {
  APICallError,
  type APICallErrorFields,
  type APICallErrorReason,
  parseRetryAfter,
  reasonForStatus,
} from "./api-call-error.js";
export { BackfillError } from "./backfill-error.js";
export { BatchLineError, type BatchLineErrorReason } from "./batch-line-error.js";
export { DimensionMismatchError } from "./dimension-mismatch-error.js";
export { EmbeddingsError } from "./embeddings-error.js";
export { InvalidOptionError } from "./invalid-option-error.js";
export { InvalidResponseError } from "./invalid-response-error.js";
export { redactSecrets } from "./redact.js";
export { type SerializedError, type SerializedReport, serializeError } from "./serialize-error.js";
export { StoreError, type StoreErrorReason } from "./store-error.js";
