import type {
  BatchCallOptions,
  BatchEmbeddingApi,
  BatchInfo,
  BatchOutputLine,
} from "../../src/contracts/batch-embedding-api.js";
import { APICallError } from "../../src/errors/api-call-error.js";
import {
  type BatchObject,
  type CallContext,
  callWithDeadline,
  type EmbeddingEncoding,
  httpCallError,
  parseBatchOutputLine,
  readBatchInfo,
  readJsonLines,
  transportCallError,
} from "../../src/provider-utils/index.js";
import type { VoyageOutputDtype } from "./voyage-options.js";

/** What the batch API needs of the provider's settings. */
export interface VoyageBatchSettings {
  readonly apiKey: string;
  readonly baseURL: string;
  readonly timeoutMs: number;
  readonly fetch: typeof globalThis.fetch | undefined;
  readonly model: string;
  /** The provider's own `inputType`, sent when a batch names none. */
  readonly inputType: "document" | "query" | null;
  readonly truncation: boolean;
  readonly outputDimension: number | undefined;
  readonly outputDtype: VoyageOutputDtype;
  readonly encoding: EmbeddingEncoding;
}

/**
 * Voyage's batch limits (public preview): 100K inputs per batch. No byte limit per file is
 * documented in the guide; 1 GiB is assumed, and `maxInputsPerBatch` keeps files far below it.
 */
export const VOYAGE_BATCH_LIMITS = {
  maxRequestsPerBatch: 100_000,
  maxInputsPerBatch: 100_000,
  maxBytesPerFile: 1024 * 1024 * 1024,
} as const;

const SEARCH_LIMIT = 1000;
const PAGE = 100;

/**
 * Voyage's Batch API for `/v1/embeddings` (the `voyageai` SDK has no batch methods, so this sends
 * requests with the provider's `fetch`, base URL and key): JSONL lines `{ custom_id, body: { input } }`,
 * the model and its options set once per batch in `request_params`, a 12-hour window, the job id
 * in the batch's metadata, output files streamed line by line.
 */
export function voyageBatchApi(settings: VoyageBatchSettings): BatchEmbeddingApi {
  const s = settings;
  const source = { provider: "voyage", label: "Voyage", model: s.model };

  const context = (what: string, path: string): CallContext => ({
    provider: "voyage",
    label: `Voyage batch (${what})`,
    model: s.model,
    url: `${s.baseURL}${path}`,
    timeoutMs: s.timeoutMs,
    hints: {
      authentication: "The API key was refused: check `apiKey` (or VOYAGE_API_KEY).",
      permission:
        "The API key may not do this: batch jobs belong to the project of the key that created them, and keys starting `al-` and `pa-` belong to different API hosts.",
      not_found: "Unknown batch or file, or no batch API at `baseURL` (it must include /v1).",
    },
  });

  /** One HTTP exchange; a non-2xx answer becomes an `APICallError`. Resolves to the response. */
  const send = (
    what: string,
    path: string,
    init: { method: string; body?: BodyInit; json?: unknown },
    options: BatchCallOptions | undefined,
    read: (response: Response) => Promise<unknown>,
  ): Promise<any> => {
    const ctx = context(what, path);
    return callWithDeadline(
      async (signal) => {
        const headers: Record<string, string> = {
          authorization: `Bearer ${s.apiKey}`,
          accept: "application/json",
        };
        let body = init.body;
        if (init.json !== undefined) {
          headers["content-type"] = "application/json";
          body = JSON.stringify(init.json);
        }
        let response: Response;
        try {
          response = await (s.fetch ?? globalThis.fetch)(ctx.url, {
            method: init.method,
            headers,
            body,
            signal,
          });
        } catch (error) {
          throw transportCallError(ctx, "connection", error);
        }
        if (!response.ok) {
          const text = await response.text().catch(() => undefined);
          throw httpCallError(ctx, { status: response.status, headers: response.headers, text });
        }
        try {
          return await read(response);
        } catch (error) {
          if (APICallError.isInstance(error)) throw error;
          throw transportCallError(ctx, "connection", error);
        }
      },
      {
        signal: options?.signal,
        timeoutMs: s.timeoutMs,
        onTimeout: () => transportCallError(ctx, "timeout"),
      },
    );
  };
  const json = (response: Response) => response.json();

  /** Pages through a list endpoint until `match` finds something or the search limit is reached. */
  const search = async <T extends { id: string }, R>(
    what: string,
    path: string,
    match: (item: T) => R | undefined,
    options: BatchCallOptions | undefined,
  ): Promise<R | undefined> => {
    let after: string | undefined;
    for (let seen = 0; seen < SEARCH_LIMIT; ) {
      const query = `${path}${path.includes("?") ? "&" : "?"}limit=${PAGE}${after ? `&after=${encodeURIComponent(after)}` : ""}`;
      const page = (await send(what, query, { method: "GET" }, options, json)) as {
        data?: T[];
        has_more?: boolean;
      };
      const items = page.data ?? [];
      for (const item of items) {
        const found = match(item);
        if (found !== undefined) return found;
      }
      seen += items.length;
      if (!page.has_more || items.length === 0) return undefined;
      after = items[items.length - 1]!.id;
    }
    return undefined;
  };

  return {
    limits: VOYAGE_BATCH_LIMITS,
    priceRatio: 0.67,
    completionWindow: "12h",
    requestLine: (customId, texts) => JSON.stringify({ custom_id: customId, body: { input: texts } }),
    uploadFile: async (file, options) => {
      const form = new FormData();
      form.append("purpose", "batch");
      form.append("file", file, options.name);
      const uploaded = (await send("upload", "/files", { method: "POST", body: form }, options, json)) as {
        id: string;
      };
      return uploaded.id;
    },
    findFile: (name, options) =>
      search<{ id: string; filename?: string }, string>(
        "list files",
        "/files?purpose=batch&order=desc",
        (file) => (file.filename === name ? file.id : undefined),
        options,
      ),
    createBatch: async (options) => {
      const requestParams = {
        model: s.model,
        input_type: options.inputType ?? s.inputType,
        truncation: s.truncation,
        encoding_format: "base64",
        ...(s.outputDimension === undefined ? {} : { output_dimension: s.outputDimension }),
        ...(s.outputDtype === "float" ? {} : { output_dtype: s.outputDtype }),
      };
      const batch = await send(
        "create",
        "/batches",
        {
          method: "POST",
          json: {
            endpoint: "/v1/embeddings",
            completion_window: "12h",
            input_file_id: options.fileId,
            request_params: requestParams,
            metadata: { relay_job: options.jobId },
          },
        },
        options,
        json,
      );
      return readBatchInfo(batch as BatchObject);
    },
    findBatch: (jobId, options) =>
      search<BatchObject, BatchInfo>(
        "list batches",
        "/batches",
        (batch) => (batch.metadata?.relay_job === jobId ? readBatchInfo(batch) : undefined),
        options,
      ),
    getBatch: async (batchId, options) =>
      readBatchInfo(
        (await send(
          "poll",
          `/batches/${encodeURIComponent(batchId)}`,
          { method: "GET" },
          options,
          json,
        )) as BatchObject,
      ),
    async *readFile(fileId, options): AsyncGenerator<BatchOutputLine> {
      const path = `/files/${encodeURIComponent(fileId)}/content`;
      const response = (await send("download", path, { method: "GET" }, options, async (r) => r)) as Response;
      if (!response.body) return;
      const lines = readJsonLines(response.body, {
        idleTimeoutMs: s.timeoutMs,
        signal: options?.signal,
        onIdle: () => transportCallError(context("download", path), "timeout"),
      });
      for await (const { line, text } of lines) yield parseBatchOutputLine(text, line, s.encoding, source);
    },
    deleteFile: async (fileId, options) => {
      try {
        await send(
          "delete",
          `/files/${encodeURIComponent(fileId)}`,
          { method: "DELETE" },
          options,
          async () => undefined,
        );
      } catch (error) {
        // Already gone (deleted before a crash, or expired): nothing left to delete.
        if (!(APICallError.isInstance(error) && error.status === 404)) throw error;
      }
    },
  };
}
