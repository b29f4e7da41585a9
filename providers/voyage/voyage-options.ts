import type { EmbeddingProviderLimits, InputType } from "../../src/index.js";

/** Voyage embedding model ids the library knows the limits and dimensions of; any other id works too. */
export type VoyageEmbeddingModelId =
  | "voyage-4-large"
  | "voyage-4"
  | "voyage-4-lite"
  | "voyage-3.5"
  | "voyage-3.5-lite"
  | "voyage-3-large"
  | "voyage-code-3"
  | "voyage-finance-2"
  | "voyage-law-2"
  | "voyage-code-2"
  | "voyage-2"
  | (string & {});

/**
 * Data type of the returned vectors. `binary` and `ubinary` pack 8 dimensions into each byte: the
 * vectors then hold `outputDimension / 8` values. Voyage sends `binary` as signed bytes (offset binary,
 * the unsigned byte minus 128) and `ubinary` as unsigned ones; the provider gives both as the unsigned
 * bytes (`vectorType: "bit"`), for a `bit(outputDimension)` column.
 */
export type VoyageOutputDtype = "float" | "int8" | "uint8" | "binary" | "ubinary";

/** Options of {@link voyageProvider}. */
export interface VoyageProviderOptions {
  /**
   * Voyage API key. Never appears in an error, a log or a progress event.
   * @default process.env.VOYAGE_API_KEY
   */
  apiKey?: string;
  /**
   * Model id. Known ids come with their limits and dimensions; for any other id pass `dimensions`
   * (or `outputDimension`) and consider `limits`.
   * @example "voyage-3.5"
   */
  model: VoyageEmbeddingModelId;
  /**
   * What texts are embedded as, when `embed()` is not told (`backfill()` tells it only when given
   * its own `inputType`): Voyage prepends a retrieval prompt for `"query"` and `"document"`; `null`
   * sends none.
   * @default "document"
   */
  inputType?: InputType | null;
  /**
   * Output dimension (`output_dimension`). Models of the 3.5, 4, code-3 and 3-large families accept
   * 256, 512, 1024 (their default) and 2048; others only their own.
   * @default the model's default (1024; voyage-code-2: 1536)
   */
  outputDimension?: number;
  /**
   * Data type of the vectors (`output_dtype`). Anything other than `float` needs a model of the 3.5,
   * 4, code-3 or 3-large families. With `binary` / `ubinary` the provider's `dimensions` is the length
   * of the returned (packed) vectors, `outputDimension / 8`, and its `vectorType` is `"bit"`: the
   * store's column must be `bit(outputDimension)`. `int8` / `uint8` vectors go in `vector` or `halfvec`
   * columns like floats.
   * @default "float"
   */
  outputDtype?: VoyageOutputDtype;
  /**
   * Whether Voyage truncates inputs longer than the model's context (`true`) or refuses the request
   * (`false`). Becomes the provider's `truncates`.
   * @default true
   */
  truncation?: boolean;
  /**
   * API base URL, with its version path. Keys starting `al-` and keys starting `pa-` belong to
   * different hosts: use the base URL of the host that issued the key.
   * @default process.env.VOYAGE_BASE_URL ?? "https://api.voyageai.com/v1"
   */
  baseURL?: string;
  /**
   * Time for one request, response body included, in milliseconds. A timeout is reported as a
   * retryable `APICallError` with reason `"timeout"`.
   * @default 60_000
   */
  timeoutMs?: number;
  /**
   * A `fetch` to send requests with (a proxy, a test double).
   * @default globalThis.fetch
   */
  fetch?: typeof globalThis.fetch;
  /**
   * Overrides of the declared request limits, e.g. a lower `maxTokensPerRequest` to stay under a
   * tier's tokens per minute.
   * @default the model's limits: 1,000 inputs; tokens per request 1M (lite) / 320K / 120K (large,
   * domain); 32K tokens per input (voyage-law-2, voyage-code-2: 16K). Unknown models: 128 / 120K / 16K.
   */
  limits?: Partial<EmbeddingProviderLimits>;
  /**
   * Output dimension of a model the library does not know (before any bit packing). Required for
   * such a model unless `outputDimension` is set; for a known model it must match what the model
   * returns (choose with `outputDimension`).
   */
  dimensions?: number;
}
