import type { BatchInfo, BatchOutputLine, BatchStatus } from "../contracts/batch-embedding-api.js";
import { reasonForStatus } from "../errors/api-call-error.js";
import { redactSecrets } from "../errors/redact.js";
import type { EmbeddingEncoding } from "./base64.js";
import { readEmbeddings, readUsage } from "./embeddings-response.js";
import { extractErrorDetail, isRequestTooLarge } from "./error-body.js";

/**
 * Reads a JSONL response body one line at a time, holding only the current chunk and line: an
 * output file of hundreds of MB streams through. Rejects with `onIdle()` when no bytes arrive for
 * `idleTimeoutMs`, with `signal.reason` when aborted.
 */
export async function* readJsonLines(
  body: ReadableStream<Uint8Array>,
  options: { readonly idleTimeoutMs: number; readonly onIdle: () => Error; readonly signal?: AbortSignal },
): AsyncGenerator<{ readonly line: number; readonly text: string }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  let line = 0;
  try {
    for (;;) {
      const { done, value } = await readWithin(reader, options);
      pending += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let at = pending.indexOf("\n");
      while (at >= 0) {
        const text = pending.slice(0, at).replace(/\r$/, "");
        pending = pending.slice(at + 1);
        line++;
        if (text.trim() !== "") yield { line, text };
        at = pending.indexOf("\n");
      }
      if (done) break;
    }
    if (pending.trim() !== "") yield { line: line + 1, text: pending };
  } finally {
    await reader.cancel().catch(() => {});
  }
}

async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  options: { readonly idleTimeoutMs: number; readonly onIdle: () => Error; readonly signal?: AbortSignal },
): Promise<ReadableStreamReadResult<Uint8Array>> {
  const { signal } = options;
  signal?.throwIfAborted();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(options.onIdle()), options.idleTimeoutMs);
    onAbort = () => reject(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([reader.read(), stop]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    stop.catch(() => {});
  }
}

/**
 * Reads one line of an OpenAI or Voyage batch output or error file: `{ custom_id, response:
 * { status_code, body | message }, error: { code, message } | null }`. A 200 answer's body is read
 * as a realtime embeddings response (vectors decoded from `encoding`); anything else becomes the
 * line's `error` (with `reason` as an `APICallError` would give it) or, when the line cannot be
 * read, `invalid`. Never throws.
 */
export function parseBatchOutputLine(
  text: string,
  line: number,
  encoding: EmbeddingEncoding,
  source: { readonly provider: string; readonly label: string; readonly model: string },
): BatchOutputLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { line, customId: undefined, invalid: "the line is not JSON" };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return { line, customId: undefined, invalid: "the line is not a JSON object" };
  }
  const v = value as { custom_id?: unknown; response?: unknown; error?: unknown };
  const customId = typeof v.custom_id === "string" ? v.custom_id : undefined;
  const response =
    v.response && typeof v.response === "object"
      ? (v.response as { status_code?: unknown; body?: unknown; message?: unknown })
      : undefined;
  const status = typeof response?.status_code === "number" ? response.status_code : undefined;
  if (status === 200) {
    try {
      const body = response!.body;
      const data = body && typeof body === "object" ? (body as { data?: unknown }).data : undefined;
      const count = Array.isArray(data) ? data.length : 0;
      return {
        line,
        customId,
        result: { embeddings: readEmbeddings(body, count, encoding, source), usage: readUsage(body) },
      };
    } catch (error) {
      return {
        line,
        customId,
        invalid: redactSecrets(error instanceof Error ? error.message : String(error)),
      };
    }
  }
  const failure =
    v.error && typeof v.error === "object" ? (v.error as { code?: unknown; message?: unknown }) : undefined;
  if (failure || status !== undefined) {
    const code = typeof failure?.code === "string" ? failure.code : undefined;
    const message =
      (typeof failure?.message === "string" ? failure.message : undefined) ??
      (typeof response?.message === "string" ? response.message : undefined) ??
      extractErrorDetail(response?.body) ??
      `HTTP ${status}`;
    const reason =
      status !== undefined && isRequestTooLarge(message, code)
        ? "request_too_large"
        : status !== undefined
          ? reasonForStatus(status)
          : undefined;
    return { line, customId, error: { code, message: redactSecrets(message), status, reason } };
  }
  return { line, customId, invalid: "the line has neither a response nor an error" };
}

const STATUSES: ReadonlySet<string> = new Set<BatchStatus>([
  "validating",
  "in_progress",
  "finalizing",
  "completed",
  "failed",
  "expired",
  "cancelling",
  "cancelled",
]);

/** A batch object as OpenAI and Voyage return it (the SDK's `Batch` has the same fields). */
export interface BatchObject {
  readonly id: string;
  readonly status: string;
  readonly output_file_id?: string | null;
  readonly error_file_id?: string | null;
  readonly request_counts?: { total: number; completed: number; failed: number } | null;
  readonly errors?: { data?: Array<{ code?: string | null; message?: string | null }> } | null;
  readonly metadata?: Record<string, string> | null;
}

/** Reads a batch object into the engine's view of it; an unknown status counts as still running. */
export function readBatchInfo(batch: BatchObject): BatchInfo {
  const counts = batch.request_counts;
  return {
    id: batch.id,
    status: STATUSES.has(batch.status) ? (batch.status as BatchStatus) : "in_progress",
    outputFileId: batch.output_file_id ?? undefined,
    errorFileId: batch.error_file_id ?? undefined,
    counts: counts ? { total: counts.total, completed: counts.completed, failed: counts.failed } : undefined,
    errors: batch.errors?.data?.map((e) => `${e.code ?? "error"}: ${e.message ?? ""}`.trim()),
  };
}
