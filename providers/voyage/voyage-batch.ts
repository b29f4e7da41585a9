import {
  APICallError,
  type BatchCallOptions,
  type BatchEmbeddingApi,
  type BatchInfo,
  type BatchOutputLine,
} from "../../src/index.js";
import {
  type ApiConnection,
  type BatchObject,
  type EmbeddingEncoding,
  parseBatchOutputLine,
  readBatchInfo,
  readJsonLines,
  transportCallError,
} from "../../src/provider-utils/index.js";
import type { VoyageOutputDtype } from "./voyage-options.js";

/** What the batch API needs of the provider besides its connection. */
export interface VoyageBatchSettings {
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
export function voyageBatchApi(api: ApiConnection, settings: VoyageBatchSettings): BatchEmbeddingApi {
  const s = settings;
  const source = { provider: "voyage", label: "Voyage", model: s.model };

  /**
   * One HTTP exchange on the connection (deadline, abort, error mapping, key redaction): a non-2xx
   * answer is thrown, and the connection reads its status, headers and body from what it saw.
   */
  const send = (
    path: string,
    init: { method: string; body?: BodyInit; json?: unknown },
    options: BatchCallOptions | undefined,
    read: (response: Response) => Promise<unknown>,
  ): Promise<any> =>
    api.call(
      { model: s.model, path, signal: options?.signal },
      async ({ apiKey, baseURL, fetch, signal }) => {
        const headers: Record<string, string> = {
          authorization: `Bearer ${apiKey}`,
          accept: "application/json",
        };
        let body = init.body;
        if (init.json !== undefined) {
          headers["content-type"] = "application/json";
          body = JSON.stringify(init.json);
        }
        const response = await fetch(`${baseURL}${path}`, { method: init.method, headers, body, signal });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return read(response);
      },
    );
  const json = (response: Response) => response.json();

  /** Pages through a list endpoint until `match` finds something or the search limit is reached. */
  const search = async <T extends { id: string }, R>(
    path: string,
    match: (item: T) => R | undefined,
    options: BatchCallOptions | undefined,
  ): Promise<R | undefined> => {
    let after: string | undefined;
    for (let seen = 0; seen < SEARCH_LIMIT; ) {
      const query = `${path}${path.includes("?") ? "&" : "?"}limit=${PAGE}${after ? `&after=${encodeURIComponent(after)}` : ""}`;
      const page = (await send(query, { method: "GET" }, options, json)) as {
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
      const uploaded = (await send("/files", { method: "POST", body: form }, options, json)) as {
        id: string;
      };
      return uploaded.id;
    },
    findFile: (name, options) =>
      search<{ id: string; filename?: string }, string>(
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
        "/batches",
        (batch) => (batch.metadata?.relay_job === jobId ? readBatchInfo(batch) : undefined),
        options,
      ),
    getBatch: async (batchId, options) =>
      readBatchInfo(
        (await send(
          `/batches/${encodeURIComponent(batchId)}`,
          { method: "GET" },
          options,
          json,
        )) as BatchObject,
      ),
    async *readFile(fileId, options): AsyncGenerator<BatchOutputLine> {
      const path = `/files/${encodeURIComponent(fileId)}/content`;
      const response = (await send(path, { method: "GET" }, options, async (r) => r)) as Response;
      if (!response.body) return;
      const lines = readJsonLines(response.body, {
        idleTimeoutMs: api.timeoutMs,
        signal: options?.signal,
        onIdle: () =>
          transportCallError(
            {
              provider: "voyage",
              label: api.label,
              model: s.model,
              url: `${api.baseURL}${path}`,
              timeoutMs: api.timeoutMs,
              redact: api.redact,
            },
            "timeout",
          ),
      });
      for await (const { line, text } of lines) yield parseBatchOutputLine(text, line, s.encoding, source);
    },
    deleteFile: async (fileId, options) => {
      try {
        await send(
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
