import OpenAI from "openai";
import {
  APICallError,
  type BatchCallOptions,
  type BatchEmbeddingApi,
  type BatchOutputLine,
} from "../../src/index.js";
import {
  type ApiConnection,
  parseBatchOutputLine,
  readBatchInfo,
  readJsonLines,
  transportCallError,
} from "../../src/provider-utils/index.js";

/** What the batch API needs of the provider besides its connection. */
export interface OpenAIBatchSettings {
  readonly model: string;
  /** Sent as `OpenAI-Organization`. */
  readonly organization: string | undefined;
  /** Sent as `dimensions` in every request line, when set. */
  readonly dimensions: number | undefined;
}

/** OpenAI's Batch API limits for `/v1/embeddings` (its API reference, late 2026). */
export const OPENAI_BATCH_LIMITS = {
  maxRequestsPerBatch: 50_000,
  maxInputsPerBatch: 50_000,
  maxBytesPerFile: 200 * 1024 * 1024,
} as const;

/** Batches and files looked through when searching for one a killed run did not record. */
const SEARCH_LIMIT = 1000;

/**
 * The OpenAI Batch API for embeddings, through the `openai` SDK with its retries off (the engine
 * owns retries): JSONL lines `{ custom_id, method, url: "/v1/embeddings", body }` with base64
 * vectors, `files.create({ purpose: "batch" })`, `batches.create({ completion_window: "24h" })` with
 * the job id in the metadata, `files.content()` streamed line by line.
 */
export function openaiBatchApi(api: ApiConnection, settings: OpenAIBatchSettings): BatchEmbeddingApi {
  const s = settings;

  /** Runs one SDK call on the connection (deadline, abort, error mapping, key redaction). */
  const call = <T>(
    path: string,
    options: BatchCallOptions | undefined,
    run: (client: OpenAI, request: { signal: AbortSignal; timeout: number; maxRetries: 0 }) => Promise<T>,
  ): Promise<T> =>
    api.call(
      { model: s.model, path, signal: options?.signal },
      async ({ apiKey, baseURL, fetch, signal, timeoutMs }) => {
        // The SDK probes a fetch without `Response` for FormData support by fetching `data:,`: skip that.
        Object.assign(fetch, { Response });
        const client = new OpenAI({
          apiKey,
          baseURL,
          organization: s.organization,
          timeout: timeoutMs,
          maxRetries: 0,
          fetch,
        });
        return run(client, { signal, timeout: timeoutMs, maxRetries: 0 });
      },
    );
  const source = { provider: "openai", label: "OpenAI", model: s.model };

  return {
    limits: OPENAI_BATCH_LIMITS,
    priceRatio: 0.5,
    completionWindow: "24h",
    requestLine(customId, texts) {
      const body = {
        model: s.model,
        input: texts,
        encoding_format: "base64",
        ...(s.dimensions === undefined ? {} : { dimensions: s.dimensions }),
      };
      return JSON.stringify({ custom_id: customId, method: "POST", url: "/v1/embeddings", body });
    },
    uploadFile: (file, options) =>
      call("/files", options, async (client, request) => {
        const upload = new File([file], options.name, { type: "application/jsonl" });
        return (await client.files.create({ file: upload, purpose: "batch" }, request)).id;
      }),
    findFile: (name, options) =>
      call("/files", options, async (client, request) => {
        let seen = 0;
        for await (const file of client.files.list({ purpose: "batch" }, request)) {
          if (file.filename === name) return file.id;
          if (++seen >= SEARCH_LIMIT) break;
        }
        return undefined;
      }),
    createBatch: (options) =>
      call("/batches", options, async (client, request) =>
        readBatchInfo(
          await client.batches.create(
            {
              input_file_id: options.fileId,
              endpoint: "/v1/embeddings",
              completion_window: "24h",
              metadata: { relay_job: options.jobId },
            },
            request,
          ),
        ),
      ),
    findBatch: (jobId, options) =>
      call("/batches", options, async (client, request) => {
        let seen = 0;
        for await (const batch of client.batches.list({ limit: 100 }, request)) {
          if (batch.metadata?.relay_job === jobId) return readBatchInfo(batch);
          if (++seen >= SEARCH_LIMIT) break;
        }
        return undefined;
      }),
    getBatch: (batchId, options) =>
      call(`/batches/${batchId}`, options, async (client, request) =>
        readBatchInfo(await client.batches.retrieve(batchId, request)),
      ),
    async *readFile(fileId, options): AsyncGenerator<BatchOutputLine> {
      const path = `/files/${fileId}/content`;
      const response = await call(path, options, (client, request) => client.files.content(fileId, request));
      if (!response.body) return;
      const lines = readJsonLines(response.body, {
        idleTimeoutMs: api.timeoutMs,
        signal: options?.signal,
        onIdle: () =>
          transportCallError(
            {
              provider: "openai",
              label: api.label,
              model: s.model,
              url: `${api.baseURL}${path}`,
              timeoutMs: api.timeoutMs,
              redact: api.redact,
            },
            "timeout",
          ),
      });
      for await (const { line, text } of lines) yield parseBatchOutputLine(text, line, "float32", source);
    },
    deleteFile: async (fileId, options) => {
      try {
        await call(`/files/${fileId}`, options, (client, request) => client.files.delete(fileId, request));
      } catch (error) {
        // Already gone (deleted before a crash, or expired): nothing left to delete.
        if (!(APICallError.isInstance(error) && error.status === 404)) throw error;
      }
    },
  };
}
