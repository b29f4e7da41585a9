/*
 * The Files and Batches endpoints of both APIs (`{root}/v1/files…`, `{root}/v1/batches…`): uploads,
 * batches that finish after a configurable turnaround, their output and error files, faults
 * (failed lines, expiry, cancellation, a failed batch, bad output lines) and the batch counters
 * (tokens billed at the batch price). Request lines are validated and embedded exactly as the
 * realtime endpoint would (the same dialects), so a batch answers what a realtime request would.
 */
import { randomBytes } from "node:crypto";
import { deterministicEmbedding } from "../deterministic-embedding.js";
import { type Dialect, type EmbedJob, isPlainObject, isReply, json, type Reply } from "./dialect.js";
import { encodeEmbedding } from "./encoding.js";
import type { ResolvedEmulatorOptions } from "./options.js";
import type { EmulatorApi, EmulatorBatchStats } from "./types.js";

/**
 * A misbehaviour of one batch, injected with `emulator.injectBatch()` for the next batch created.
 */
export type EmulatorBatchFault =
  | {
      /** These request lines (from 1) fail: in the error file, with an HTTP `status`. */
      readonly type: "fail_lines";
      readonly lines: readonly number[];
      /** @default 500 */
      readonly status?: number;
    }
  | {
      /**
       * The batch expires: the first `completedLines` lines are answered, the others are in the
       * error file with code `batch_expired`.
       */
      readonly type: "expire";
      /** @default half the lines, rounded down */
      readonly completedLines?: number;
    }
  | {
      /**
       * The batch is cancelled at the provider (as from its dashboard) once it runs: the first
       * `completedLines` lines are answered, the others are in the error file (`batch_cancelled`).
       */
      readonly type: "cancel";
      /** @default half the lines, rounded down */
      readonly completedLines?: number;
    }
  | {
      /** The batch fails as a whole (status `failed`, no output), as when its file is refused. */
      readonly type: "fail";
    }
  | {
      /** This batch takes `turnaroundMs` (instead of the emulator's `batches.turnaroundMs`). */
      readonly type: "slow";
      readonly turnaroundMs: number;
    }
  | {
      /**
       * Output line `line` (from 1, in output order) is wrong: its vectors too short, its
       * `custom_id` missing or unknown, or not JSON at all.
       */
      readonly type: "bad_line";
      readonly line: number;
      readonly kind: "wrong_dimension" | "missing_custom_id" | "unknown_custom_id" | "malformed";
    };

/** Options of the batch endpoints (`batches` in the emulator's options). */
export interface EmulatorBatchOptions {
  /**
   * Milliseconds from a batch's creation until it is `completed` (until then `validating`, then
   * `in_progress` with a growing count of completed lines).
   * @default 0 (done at the first look)
   */
  readonly turnaroundMs?: number;
}

/** The batch price as a share of the realtime price: OpenAI 50%, Voyage 33% off. */
export const BATCH_PRICE_RATIO: Readonly<Record<EmulatorApi, number>> = { openai: 0.5, voyage: 0.67 };

const LIMITS: Readonly<Record<EmulatorApi, { requests: number; inputs: number; bytes: number }>> = {
  openai: { requests: 50_000, inputs: 50_000, bytes: 200 * 1024 * 1024 },
  voyage: { requests: 100_000, inputs: 100_000, bytes: 1024 * 1024 * 1024 },
};
const WINDOW: Readonly<Record<EmulatorApi, string>> = { openai: "24h", voyage: "12h" };

interface StoredFile {
  readonly id: string;
  readonly api: EmulatorApi;
  readonly filename: string;
  readonly purpose: string;
  readonly content: string;
  readonly createdAt: number;
}

interface StoredBatch {
  readonly id: string;
  readonly api: EmulatorApi;
  readonly inputFileId: string;
  readonly endpoint: string;
  readonly metadata: Record<string, string> | null;
  readonly requestParams: Record<string, unknown>;
  readonly createdAt: number;
  readonly faults: readonly EmulatorBatchFault[];
  status: string;
  total: number;
  cancelRequested: boolean;
  outputFileId: string | null;
  errorFileId: string | null;
  errors: Array<{ code: string; message: string; line: number | null }> | null;
  finishedAt: number | null;
}

/** One request line of an input file, validated. */
type ParsedLine =
  | { readonly customId: string; readonly job: EmbedJob }
  | { readonly customId: string | undefined; readonly error: Reply };

export class BatchService {
  private files = new Map<string, StoredFile>();
  private batches = new Map<string, StoredBatch>();
  private queued: EmulatorBatchFault[][] = [];
  private counters: { -readonly [K in keyof EmulatorBatchStats]: EmulatorBatchStats[K] } = emptyStats();

  constructor(
    private readonly options: ResolvedEmulatorOptions,
    private readonly dialects: Readonly<Record<EmulatorApi, Dialect>>,
  ) {}

  get stats(): EmulatorBatchStats {
    return { ...this.counters };
  }

  /** Files currently stored (uploaded and not deleted, outputs included). */
  get fileCount(): number {
    return this.files.size;
  }

  inject(faults: EmulatorBatchFault | readonly EmulatorBatchFault[]): void {
    this.queued.push(Array.isArray(faults) ? [...faults] : [faults as EmulatorBatchFault]);
  }

  get pendingFaults(): number {
    return this.queued.length;
  }

  reset(): void {
    this.files.clear();
    this.batches.clear();
    this.queued = [];
    this.counters = emptyStats();
  }

  /** Whether `path` is one of the batch endpoints. */
  static serves(path: string): boolean {
    return /^\/v1\/(files|batches)(\/|$)/.test(path);
  }

  handle(
    api: EmulatorApi,
    method: string,
    path: string,
    url: string,
    headers: Record<string, string>,
    body: string,
  ): Reply {
    const dialect = this.dialects[api];
    const now = this.options.clock();
    const parts = path.split("/").filter(Boolean).slice(1); // drop "v1"
    const [resource, id, action] = parts;
    if (resource === "files") {
      if (method === "POST" && id === undefined) return this.upload(api, headers, body, now);
      if (method === "GET" && id === undefined) return this.listFiles(api, new URL(url).searchParams);
      const file = id === undefined ? undefined : this.files.get(id);
      if (!file || file.api !== api) return notFound(api, `No such File object: ${id}`);
      if (method === "GET" && action === undefined) return json(200, fileObject(file));
      if (method === "GET" && action === "content") {
        this.counters.downloads++;
        return { status: 200, body: file.content, headers: { "content-type": "application/jsonl" } };
      }
      if (method === "DELETE" && action === undefined) {
        this.files.delete(file.id);
        this.counters.filesDeleted++;
        return json(200, { id: file.id, object: "file", deleted: true });
      }
      return dialect.notFound(method, path);
    }
    if (method === "POST" && id === undefined) return this.create(api, body, now);
    if (method === "GET" && id === undefined) return this.listBatches(api, new URL(url).searchParams, now);
    const batch = id === undefined ? undefined : this.batches.get(id);
    if (!batch || batch.api !== api) return notFound(api, `No batch found with id '${id}'.`);
    if (method === "GET" && action === undefined) {
      this.counters.polls++;
      this.advance(batch, now);
      return json(200, this.batchObject(batch));
    }
    if (method === "POST" && action === "cancel") {
      this.advance(batch, now);
      if (!isFinal(batch.status)) {
        batch.cancelRequested = true;
        batch.status = "cancelling";
      }
      return json(200, this.batchObject(batch));
    }
    return dialect.notFound(method, path);
  }

  private upload(api: EmulatorApi, headers: Record<string, string>, body: string, now: number): Reply {
    const form = parseMultipart(headers["content-type"], body);
    if (!form) return invalid(api, "The request must be multipart/form-data with a `file` and a `purpose`.");
    const file = form.get("file");
    const purpose = form.get("purpose")?.content;
    if (!file) return invalid(api, "Missing required parameter: 'file'.");
    if (purpose !== "batch") return invalid(api, `Invalid value for 'purpose': ${JSON.stringify(purpose)}.`);
    const bytes = Buffer.byteLength(file.content);
    if (bytes > LIMITS[api].bytes) {
      return invalid(api, `File is too large: ${bytes} bytes, at most ${LIMITS[api].bytes} bytes.`);
    }
    const stored: StoredFile = {
      id: `file-${randomBytes(12).toString("hex")}`,
      api,
      filename: file.filename ?? "file.jsonl",
      purpose,
      content: file.content,
      createdAt: now,
    };
    this.files.set(stored.id, stored);
    this.counters.uploads++;
    this.counters.uploadedLines += file.content.split("\n").filter((l) => l.trim() !== "").length;
    return json(200, fileObject(stored));
  }

  private listFiles(api: EmulatorApi, query: URLSearchParams): Reply {
    const purpose = query.get("purpose");
    const data = [...this.files.values()]
      .filter((f) => f.api === api && (!purpose || f.purpose === purpose))
      .sort((a, b) => b.createdAt - a.createdAt)
      .map(fileObject);
    return json(200, { object: "list", data, has_more: false });
  }

  private listBatches(api: EmulatorApi, query: URLSearchParams, now: number): Reply {
    const limit = Number(query.get("limit") ?? 20);
    const all = [...this.batches.values()]
      .filter((b) => b.api === api)
      .sort((a, b) => b.createdAt - a.createdAt);
    const after = query.get("after");
    const start = after ? all.findIndex((b) => b.id === after) + 1 : 0;
    const page = all.slice(start, start + limit);
    for (const batch of page) this.advance(batch, now);
    return json(200, {
      object: "list",
      data: page.map((b) => this.batchObject(b)),
      has_more: start + limit < all.length,
      ...(page.length > 0 ? { first_id: page[0]!.id, last_id: page[page.length - 1]!.id } : {}),
    });
  }

  private create(api: EmulatorApi, body: string, now: number): Reply {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return this.dialects[api].invalidJson();
    }
    if (!isPlainObject(parsed)) return invalid(api, "The request body must be a JSON object.");
    const { input_file_id, endpoint, completion_window, metadata, request_params } = parsed;
    const file = typeof input_file_id === "string" ? this.files.get(input_file_id) : undefined;
    if (!file || file.api !== api)
      return invalid(api, `Invalid 'input_file_id': ${JSON.stringify(input_file_id)}.`);
    if (endpoint !== "/v1/embeddings" && endpoint !== "v1/embeddings") {
      return invalid(
        api,
        `The emulator serves batches for /v1/embeddings only, got ${JSON.stringify(endpoint)}.`,
      );
    }
    if (completion_window !== WINDOW[api]) {
      return invalid(api, `Invalid 'completion_window': only '${WINDOW[api]}' is supported.`);
    }
    if (api === "voyage" && (!isPlainObject(request_params) || typeof request_params.model !== "string")) {
      return invalid(api, "Argument 'request_params' with a 'model' is required.");
    }
    const batch: StoredBatch = {
      id: `batch_${randomBytes(12).toString("hex")}`,
      api,
      inputFileId: file.id,
      endpoint: "/v1/embeddings",
      metadata: isPlainObject(metadata) ? (metadata as Record<string, string>) : null,
      requestParams: isPlainObject(request_params) ? request_params : {},
      createdAt: now,
      faults: this.queued.shift() ?? [],
      status: "validating",
      total: file.content.split("\n").filter((l) => l.trim() !== "").length,
      cancelRequested: false,
      outputFileId: null,
      errorFileId: null,
      errors: null,
      finishedAt: null,
    };
    this.batches.set(batch.id, batch);
    this.counters.batchesCreated++;
    return json(200, this.batchObject(batch));
  }

  /** Moves a batch along its timeline; computes its files when it finishes. */
  private advance(batch: StoredBatch, now: number): void {
    if (isFinal(batch.status)) return;
    const fault = (type: EmulatorBatchFault["type"]) => batch.faults.find((f) => f.type === type);
    if (batch.status === "validating" && fault("fail")) {
      this.finish(batch, "failed", now, 0);
      return;
    }
    batch.status = batch.status === "cancelling" ? "cancelling" : "in_progress";
    const half = Math.floor(batch.total / 2);
    const cancel = fault("cancel") as { completedLines?: number } | undefined;
    if (batch.cancelRequested || cancel) {
      this.finish(batch, "cancelled", now, cancel?.completedLines ?? half);
      return;
    }
    if (now < batch.createdAt + this.turnaround(batch)) return;
    const expire = fault("expire") as { completedLines?: number } | undefined;
    if (expire) this.finish(batch, "expired", now, expire.completedLines ?? half);
    else this.finish(batch, "completed", now, batch.total);
  }

  private turnaround(batch: StoredBatch): number {
    const slow = batch.faults.find((f) => f.type === "slow") as { turnaroundMs: number } | undefined;
    return slow?.turnaroundMs ?? this.options.batches.turnaroundMs;
  }

  /** Ends a batch: answers its first `answered` lines, writes the output and error files. */
  private finish(batch: StoredBatch, status: string, now: number, answered: number): void {
    batch.status = status;
    batch.finishedAt = now;
    const file = this.files.get(batch.inputFileId);
    if (status === "failed" || !file) {
      batch.errors = [
        { code: "invalid_file", message: "The batch input file could not be processed.", line: null },
      ];
      return;
    }
    const lines = file.content.split("\n").filter((l) => l.trim() !== "");
    const parsed = lines.map((line) => this.parseLine(batch, line));
    const limits = LIMITS[batch.api];
    const inputs = parsed.reduce((sum, p) => sum + ("job" in p ? p.job.inputs.length : 0), 0);
    if (lines.length > limits.requests || inputs > limits.inputs) {
      batch.status = "failed";
      batch.errors = [
        {
          code: "too_many_requests",
          message: `A batch holds at most ${limits.requests} requests and ${limits.inputs} inputs; this one has ${lines.length} and ${inputs}.`,
          line: null,
        },
      ];
      return;
    }
    const failLines = new Map<number, number>();
    for (const f of batch.faults) {
      if (f.type === "fail_lines") for (const n of f.lines) failLines.set(n, f.status ?? 500);
    }
    const output: string[] = [];
    const errors: string[] = [];
    const code = status === "expired" ? "batch_expired" : "batch_cancelled";
    parsed.forEach((line, i) => {
      if (i >= answered) {
        const message =
          status === "expired"
            ? "This request could not be executed before the completion window expired."
            : "This request was not executed because the batch was cancelled.";
        errors.push(this.errorLine(batch, line.customId, { code, message }));
        this.counters.linesFailed++;
        return;
      }
      const failStatus = failLines.get(i + 1);
      if (failStatus !== undefined) {
        const reply = SERVER_ERRORS.has(failStatus)
          ? this.dialects[batch.api].serverError(failStatus as 500 | 502 | 503 | 504)
          : invalid(batch.api, `The request failed with status ${failStatus}.`, failStatus);
        errors.push(this.errorLine(batch, line.customId, undefined, reply));
        this.counters.linesFailed++;
        return;
      }
      if ("error" in line) {
        errors.push(this.errorLine(batch, line.customId, undefined, line.error));
        this.counters.linesFailed++;
        return;
      }
      output.push(this.successLine(batch, line.customId, line.job, output.length + 1));
      this.counters.linesCompleted++;
      const tokens = line.job.inputs.reduce((sum, input) => sum + input.tokens, 0);
      this.counters.tokensBilled += tokens;
      this.counters.inputs += line.job.inputs.length;
      this.counters.cost += tokens * BATCH_PRICE_RATIO[batch.api];
    });
    // Output order is not input order on the real APIs: the emulator reverses it, so clients must join on custom_id.
    output.reverse();
    for (const f of batch.faults) {
      if (f.type === "bad_line" && output[f.line - 1] !== undefined) {
        output[f.line - 1] = this.corrupt(output[f.line - 1]!, f.kind);
      }
    }
    if (output.length > 0) batch.outputFileId = this.storeOutput(batch, "output", output, now);
    if (errors.length > 0) batch.errorFileId = this.storeOutput(batch, "error", errors, now);
  }

  private parseLine(batch: StoredBatch, text: string): ParsedLine {
    const dialect = this.dialects[batch.api];
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      return { customId: undefined, error: dialect.invalidJson() };
    }
    if (!isPlainObject(line) || typeof line.custom_id !== "string") {
      return { customId: undefined, error: invalid(batch.api, "Each line needs a string 'custom_id'.") };
    }
    const customId = line.custom_id;
    if (!isPlainObject(line.body))
      return { customId, error: invalid(batch.api, "Each line needs a 'body' object.") };
    if (batch.api === "openai" && (line.method !== "POST" || line.url !== batch.endpoint)) {
      return { customId, error: invalid(batch.api, `Each line must be a POST to ${batch.endpoint}.`) };
    }
    const body = batch.api === "voyage" ? { ...batch.requestParams, ...line.body } : line.body;
    const job = dialect.validate(body, this.options);
    return isReply(job) ? { customId, error: job } : { customId, job };
  }

  private successLine(batch: StoredBatch, customId: string, job: EmbedJob, n: number): string {
    const embeddings = job.inputs.map((input) =>
      encodeEmbedding(deterministicEmbedding(input.text, job.dimensions), job.dtype, job.format),
    );
    const body = this.dialects[batch.api].success(job, embeddings);
    return JSON.stringify(
      batch.api === "openai"
        ? {
            id: `batch_req_${n}`,
            custom_id: customId,
            response: { status_code: 200, request_id: `req_batch_${n}`, body },
            error: null,
          }
        : { batch_id: batch.id, custom_id: customId, response: { status_code: 200, body }, error: null },
    );
  }

  private errorLine(
    batch: StoredBatch,
    customId: string | undefined,
    error?: { code: string; message: string },
    reply?: Reply,
  ): string {
    if (error) {
      return JSON.stringify(
        batch.api === "openai"
          ? { id: `batch_req_${customId}`, custom_id: customId, response: null, error }
          : { batch_id: batch.id, custom_id: customId, response: null, error },
      );
    }
    let body: unknown = reply!.body;
    try {
      body = JSON.parse(reply!.body);
    } catch {}
    const detail = isPlainObject(body) && typeof body.detail === "string" ? body.detail : undefined;
    return JSON.stringify(
      batch.api === "openai"
        ? {
            id: `batch_req_${customId}`,
            custom_id: customId,
            response: { status_code: reply!.status, body },
            error: null,
          }
        : {
            batch_id: batch.id,
            custom_id: customId,
            response: { status_code: reply!.status, message: detail ?? String(reply!.body) },
            error: null,
          },
    );
  }

  private corrupt(
    line: string,
    kind: "wrong_dimension" | "missing_custom_id" | "unknown_custom_id" | "malformed",
  ): string {
    if (kind === "malformed") return line.slice(0, Math.floor(line.length / 2));
    const value = JSON.parse(line) as Record<string, any>;
    if (kind === "missing_custom_id") delete value.custom_id;
    else if (kind === "unknown_custom_id") value.custom_id = "not-a-request-of-this-batch";
    else {
      const data = value.response.body.data as Array<{ embedding: unknown }>;
      for (const item of data) {
        item.embedding =
          typeof item.embedding === "string"
            ? Buffer.from(item.embedding, "base64").subarray(0, 8).toString("base64")
            : (item.embedding as number[]).slice(0, 2);
      }
    }
    return JSON.stringify(value);
  }

  private storeOutput(batch: StoredBatch, kind: "output" | "error", lines: string[], now: number): string {
    const file: StoredFile = {
      id: `file-${randomBytes(12).toString("hex")}`,
      api: batch.api,
      filename: `${batch.id}_${kind}.jsonl`,
      purpose: kind === "output" ? "batch_output" : "batch_error",
      content: `${lines.join("\n")}\n`,
      createdAt: now,
    };
    this.files.set(file.id, file);
    return file.id;
  }

  private batchObject(batch: StoredBatch): Record<string, unknown> {
    const turnaround = this.turnaround(batch);
    const now = this.options.clock();
    const running = batch.status === "in_progress" && turnaround > 0;
    const progress = running ? Math.min(1, (now - batch.createdAt) / turnaround) : 0;
    const finished = isFinal(batch.status);
    const file = this.files.get(batch.outputFileId ?? "");
    const errorFile = this.files.get(batch.errorFileId ?? "");
    const count = (f: StoredFile | undefined) =>
      f ? f.content.split("\n").filter((l) => l !== "").length : 0;
    const completed = finished ? count(file) : Math.floor(batch.total * progress);
    const failed = finished ? count(errorFile) : 0;
    const time = (ms: number | null) =>
      ms === null ? null : batch.api === "openai" ? Math.floor(ms / 1000) : new Date(ms).toISOString();
    return {
      id: batch.id,
      object: "batch",
      endpoint: batch.endpoint,
      errors: batch.errors ? { object: "list", data: batch.errors } : null,
      input_file_id: batch.inputFileId,
      completion_window: WINDOW[batch.api],
      ...(batch.api === "voyage" ? { model: batch.requestParams.model } : {}),
      status: batch.status,
      output_file_id: batch.outputFileId,
      error_file_id: batch.errorFileId,
      created_at: time(batch.createdAt),
      completed_at: batch.status === "completed" ? time(batch.finishedAt) : null,
      failed_at: batch.status === "failed" ? time(batch.finishedAt) : null,
      expired_at: batch.status === "expired" ? time(batch.finishedAt) : null,
      cancelled_at: batch.status === "cancelled" ? time(batch.finishedAt) : null,
      request_counts: { total: batch.total, completed, failed },
      metadata: batch.metadata,
    };
  }
}

function emptyStats(): EmulatorBatchStats {
  return {
    uploads: 0,
    uploadedLines: 0,
    batchesCreated: 0,
    polls: 0,
    downloads: 0,
    filesDeleted: 0,
    linesCompleted: 0,
    linesFailed: 0,
    inputs: 0,
    tokensBilled: 0,
    cost: 0,
  };
}

function isFinal(status: string): boolean {
  return status === "completed" || status === "failed" || status === "expired" || status === "cancelled";
}

function fileObject(file: StoredFile): Record<string, unknown> {
  return {
    id: file.id,
    object: "file",
    bytes: Buffer.byteLength(file.content),
    created_at: Math.floor(file.createdAt / 1000),
    filename: file.filename,
    purpose: file.purpose,
  };
}

const SERVER_ERRORS = new Set([500, 502, 503, 504]);

function invalid(api: EmulatorApi, message: string, status = 400): Reply {
  return api === "openai"
    ? json(status, { error: { message, type: "invalid_request_error", param: null, code: null } })
    : json(status, { detail: message });
}

function notFound(api: EmulatorApi, message: string): Reply {
  return api === "openai"
    ? json(404, { error: { message, type: "invalid_request_error", param: null, code: null } })
    : json(404, { detail: message });
}

/** The fields of a `multipart/form-data` body (text parts; a file part's content as text). */
function parseMultipart(
  contentType: string | undefined,
  body: string,
): Map<string, { content: string; filename?: string }> | undefined {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? "");
  const marker = boundary?.[1] ?? boundary?.[2];
  if (!contentType?.toLowerCase().startsWith("multipart/form-data") || !marker) return undefined;
  const fields = new Map<string, { content: string; filename?: string }>();
  for (const part of body.split(`--${marker}`)) {
    const split = part.indexOf("\r\n\r\n");
    if (split < 0) continue;
    const head = part.slice(0, split);
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    if (name === undefined) continue;
    const filename = /filename="([^"]*)"/i.exec(head)?.[1];
    const content = part.slice(split + 4).replace(/\r\n$/, "");
    fields.set(name, filename === undefined ? { content } : { content, filename });
  }
  return fields;
}
