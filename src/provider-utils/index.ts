/*
 * The provider kit, public as `@relay/embeddings/provider-utils`: what an `EmbeddingProvider` needs
 * besides its own request. The Voyage, OpenAI and AI SDK providers are built on it alone.
 */
export {
  type CallContext,
  type HttpFailure,
  httpCallError,
  transportCallError,
} from "./api-call-failure.js";
export {
  type ApiConnection,
  type ApiConnectionOptions,
  apiConnection,
  type CallIO,
  type CallRequest,
  type EmbedRequest,
  type JsonResponse,
  type SdkErrorInfo,
} from "./api-connection.js";
export { decodeEmbedding, type EmbeddingEncoding } from "./base64.js";
export {
  type BatchObject,
  parseBatchOutputLine,
  readBatchInfo,
  readJsonLines,
} from "./batch-files.js";
export { type ResponseSource, readEmbeddings, readUsage } from "./embeddings-response.js";
export { extractErrorDetail, isRequestTooLarge } from "./error-body.js";
export { loadApiKey, mergeLimits, optionalPositiveInteger, timeoutOption } from "./options.js";
export { redactError, runProviderCall } from "./provider-call.js";
export { type HeadersLike, parseRateLimitHeaders } from "./rate-limit-headers.js";
export { sanitizeCause } from "./sanitize-cause.js";
export { type Redact, secretRedactor } from "./secret-redactor.js";
