import OpenAI from "openai";
import type {
  BatchCallOptions,
  BatchEmbeddingApi,
  BatchOutputLine,
} from "../../src/contracts/batch-embedding-api.js";
import {
  type CallContext,
  callWithDeadline,
  capturingFetch,
  parseBatchOutputLine,
  readBatchInfo,
  readJsonLines,
  transportCallError,
} from "../../src/provider-utils/index.js";
import { openaiCallError } from "./openai-error.js";

/** What the batch API needs of the provider's settings. */
export interface OpenAIBatchSettings {
  readonly apiKey: string;
  readonly baseURL: string;
  readonly organization: string | undefined;
  readonly timeoutMs: number;
  readonly fetch: typeof globalThis.fetch | undefined;
  readonly model: string;
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
export function openaiBatchApi(settings: OpenAIBatchSettings): BatchEmbeddingApi {
  const s = settings;
  const timeout = Math.max(1, Math.ceil(s.timeoutMs));

  /** Runs one SDK call with a client whose fetch is watched, mapping what it throws. */
  const call = <T>(
    what: string,
    options: BatchCallOptions | undefined,
    run: (client: OpenAI, signal: AbortSignal) => Promise<T>,
  ): Promise<T> => {
    const ctx: CallContext = {
      provider: "openai",
      label: `OpenAI batch (${what})`,
      model: s.model,
      url: s.baseURL,
      timeoutMs: s.timeoutMs,
      hints: {
        authentication: "The API key was refused: check `apiKey` (or OPENAI_API_KEY).",
        permission: "The API key may not use the Batch API or Files API of this project.",
      },
    };
    return callWithDeadline(
      async (signal) => {
        const { fetch, exchange } = capturingFetch(() => s.fetch ?? globalThis.fetch);
        // The SDK probes a fetch without `Response` for FormData support by fetching `data:,`: skip that.
        Object.assign(fetch, { Response });
        const client = new OpenAI({
          apiKey: s.apiKey,
          baseURL: s.baseURL,
          organization: s.organization,
          timeout,
          maxRetries: 0,
          fetch,
        });
        try {
          return await run(client, signal);
        } catch (error) {
          throw await openaiCallError(error, exchange, ctx);
        }
      },
      {
        signal: options?.signal,
        timeoutMs: s.timeoutMs,
        onTimeout: () => transportCallError(ctx, "timeout"),
      },
    );
  };
  const request = { timeout, maxRetries: 0 };
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
      call("upload", options, async (client, signal) => {
        const upload = new File([file], options.name, { type: "application/jsonl" });
        return (await client.files.create({ file: upload, purpose: "batch" }, { ...request, signal })).id;
      }),
    findFile: (name, options) =>
      call("list files", options, async (client, signal) => {
        let seen = 0;
        for await (const file of client.files.list({ purpose: "batch" }, { ...request, signal })) {
          if (file.filename === name) return file.id;
          if (++seen >= SEARCH_LIMIT) break;
        }
        return undefined;
      }),
    createBatch: (options) =>
      call("create", options, async (client, signal) =>
        readBatchInfo(
          await client.batches.create(
            {
              input_file_id: options.fileId,
              endpoint: "/v1/embeddings",
              completion_window: "24h",
              metadata: { relay_job: options.jobId },
            },
            { ...request, signal },
          ),
        ),
      ),
    findBatch: (jobId, options) =>
      call("list batches", options, async (client, signal) => {
        let seen = 0;
        for await (const batch of client.batches.list({ limit: 100 }, { ...request, signal })) {
          if (batch.metadata?.relay_job === jobId) return readBatchInfo(batch);
          if (++seen >= SEARCH_LIMIT) break;
        }
        return undefined;
      }),
    getBatch: (batchId, options) =>
      call("poll", options, async (client, signal) =>
        readBatchInfo(await client.batches.retrieve(batchId, { ...request, signal })),
      ),
    async *readFile(fileId, options): AsyncGenerator<BatchOutputLine> {
      const response = await call("download", options, (client, signal) =>
        client.files.content(fileId, { ...request, signal }),
      );
      if (!response.body) return;
      const lines = readJsonLines(response.body, {
        idleTimeoutMs: s.timeoutMs,
        signal: options?.signal,
        onIdle: () =>
          transportCallError(
            {
              provider: "openai",
              label: "OpenAI batch (download)",
              model: s.model,
              url: s.baseURL,
              timeoutMs: s.timeoutMs,
            },
            "timeout",
          ),
      });
      for await (const { line, text } of lines) yield parseBatchOutputLine(text, line, "float32", source);
    },
    deleteFile: async (fileId, options) => {
      try {
        await call("delete", options, (client, signal) =>
          client.files.delete(fileId, { ...request, signal }),
        );
      } catch (error) {
        // Already gone (deleted before a crash, or expired): nothing left to delete.
        if ((error as { status?: unknown })?.status !== 404) throw error;
      }
    },
  };
}
