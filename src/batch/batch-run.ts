import { randomUUID } from "node:crypto";
import { sleep } from "../backfill/abortable.js";
import { type Batch, BatchPlanner } from "../backfill/batch-planner.js";
import { costOf } from "../backfill/cost.js";
import type { ResolvedBackfillOptions } from "../backfill/options.js";
import { planText } from "../backfill/plan-text.js";
import { RateLimiter } from "../backfill/rate-limiter.js";
import type {
  BackfillProgress,
  BackfillReport,
  BatchProgress,
  BatchReport,
  SkipReason,
} from "../backfill/report.js";
import { type RetryPolicy, withRetry } from "../backfill/retry.js";
import { type Run, RunTally, rowsOf, type StopHow } from "../backfill/run-tally.js";
import { validateEmbeddings } from "../backfill/validate-embeddings.js";
import type {
  BatchEmbeddingApi,
  BatchInfo,
  BatchOutputLine,
  BatchStatus,
} from "../contracts/batch-embedding-api.js";
import type { BatchJob, BatchJobItem, BatchJobLine, BatchJobStore } from "../contracts/batch-job-store.js";
import type {
  EmbeddingRecord,
  EmbeddingStore,
  EmbeddingTarget,
  PendingItem,
  RefusedRow,
  WriteResult,
} from "../contracts/embedding-store.js";
import { APICallError } from "../errors/api-call-error.js";
import type { BackfillError } from "../errors/backfill-error.js";
import { BatchLineError, type BatchLineErrorReason } from "../errors/batch-line-error.js";
import { DimensionMismatchError } from "../errors/dimension-mismatch-error.js";
import { InvalidOptionError } from "../errors/invalid-option-error.js";
import { redactSecrets } from "../errors/redact.js";
import { RequestFile } from "./request-file.js";

const FINAL: ReadonlySet<BatchStatus> = new Set(["completed", "failed", "expired", "cancelled"]);

/** The request file's name: `findFile()` finds an upload whose id a killed run did not record. */
export function requestFileName(jobId: string): string {
  return `relay-embeddings-${jobId}.jsonl`;
}

interface Planned<Id> {
  readonly item: PendingItem<Id>;
  readonly text: string;
  readonly tokens: number;
}

/** A batch at the provider that this run waits for or collects. */
interface Tracked {
  readonly job: BatchJob;
  info: BatchInfo;
}

/** Where the lines of the batch being planned go: a temporary file, or (dry run) nowhere. */
interface LineSink {
  readonly bytes: number;
  readonly lines: number;
  append(line: string): Promise<void>;
}

class CountingSink implements LineSink {
  bytes = 0;
  lines = 0;
  async append(line: string): Promise<void> {
    this.bytes += Buffer.byteLength(line) + 1;
    this.lines++;
  }
}

/** A line of the batch being planned, before it is recorded. */
interface OpenLine<Id> {
  readonly customId: string;
  readonly items: BatchJobItem<Id>[];
}

/**
 * `backfill({ mode: "batch" })`: the same scan, planning, validation, compare-and-set writes, report
 * and progress as the realtime pipeline, with the provider's batch API in place of its embeddings
 * endpoint. A run:
 *
 * 1. re-attaches to the jobs the store records (a file uploaded but not recorded is found again by
 *    name, a batch created but not recorded by its metadata), and collects those that finished;
 * 2. scans the pending rows that are in no open job, writes request files within the provider's
 *    limits, records each job with its rows before uploading it, uploads, creates the batch, and
 *    records its id;
 * 3. with `wait`, polls with backoff and collects each batch as it finishes: streams its output,
 *    validates every line, writes a line's vectors compare-and-set in the same transaction that
 *    marks the line done (so no row is written twice), releases the rows of failed lines, deletes the
 *    files and forgets the job. Rows of failed lines go into a new batch of the same run, up to
 *    `batchRounds` submissions.
 */
export class BatchRun<Id> implements Run<Id> {
  private readonly tally: RunTally<Id>;
  private readonly api: BatchEmbeddingApi;
  private readonly jobs: BatchJobStore<Id>;
  private readonly limiter: RateLimiter;
  private readonly retryPolicy: RetryPolicy;
  private readonly tracked = new Map<string, Tracked>();
  private readonly stats = {
    submitted: { batches: 0, rows: 0, lines: 0 },
    collected: { batches: 0, rows: 0 },
    failedLines: 0,
    unfinished: 0,
    waitingMs: 0,
  };
  /** Rows of collected lines refused as too long, remembered with the next lines finished. */
  private refused: RefusedRow<Id>[] = [];
  /** Rows released (to go again) since the last submission. */
  private released = 0;
  private failure: { error: unknown; rowIds: Id[] } | undefined;

  // The batch being planned.
  private sink: LineSink | undefined;
  private file: RequestFile | undefined;
  private lines: OpenLine<Id>[] = [];
  private inputs = 0;
  private planner: BatchPlanner<Planned<Id>>;
  /** Rows waiting for the input of an earlier row with the same text, in the line being planned. */
  private followers = new Map<string, PendingItem<Id>[]>();
  /** Where each text of the batch being planned was placed, for later rows with the same text. */
  private placed = new Map<string, { items: BatchJobItem<Id>[]; position: number }>();

  constructor(
    private readonly options: ResolvedBackfillOptions<Id>,
    private readonly store: EmbeddingStore<Id>,
    private readonly target: EmbeddingTarget,
  ) {
    const o = options;
    this.api = o.provider.batch!;
    this.jobs = store.batchJobs!;
    this.tally = new RunTally<Id>(o.onProgress);
    this.tally.counters.dryRun = o.dryRun;
    this.limiter = new RateLimiter({
      concurrency: 1,
      requestsPerMinute: o.requestsPerMinute,
      tokensPerMinute: Number.POSITIVE_INFINITY,
      minIntervalMs: o.minIntervalMs,
      signal: o.signal,
    });
    this.retryPolicy = {
      retries: o.retries,
      minDelayMs: o.retryMinDelayMs,
      maxDelayMs: o.retryMaxDelayMs,
      maxRetryTimeMs: o.maxRetryTimeMs,
    };
    this.planner = this.newPlanner();
  }

  private get counters() {
    return this.tally.counters;
  }

  private get stopped(): boolean {
    return this.failure !== undefined || this.options.signal?.aborted === true;
  }

  /** Like `store.prepare()`: a missing jobs table stops the run before any work, with the store's error. */
  async prepare(): Promise<void> {
    const o = this.options;
    await this.jobs.prepare(this.target, { signal: o.signal, create: !o.dryRun });
  }

  async run(): Promise<BackfillReport<Id>> {
    const o = this.options;
    const coverage = await this.store.coverage({ ...this.target, signal: o.signal });
    this.tally.countPending(coverage, o.reembed);
    this.emit("start");
    try {
      if (o.dryRun) {
        for (const job of await this.jobs.open(this.target)) this.countInFlight(job);
        await this.submitPending();
      } else {
        for (const job of await this.jobs.open(this.target)) {
          if (this.stopped) break;
          await this.reattach(job);
        }
        await this.pollAll();
        for (let round = 1; !this.stopped; round++) {
          this.released = 0;
          await this.submitPending();
          if (!o.wait || this.stopped) break;
          await this.waitAll();
          if (this.released === 0 || round >= o.batchRounds) break;
        }
      }
    } catch (error) {
      this.fail(error, rowsOf<Id>(error));
    }
    await this.discardOpenBatch();
    if (o.signal?.aborted) throw o.signal.reason;
    if (this.failure) throw this.tally.error(this.failure, this.extra());
    const report = this.report();
    this.emit("done");
    return report;
  }

  // ---------------------------------------------------------------- re-attaching and collecting

  /** Takes up a job a previous run left: finishes its upload and batch creation if needed. */
  private async reattach(job: BatchJob): Promise<void> {
    let { fileId } = job;
    if (job.state === "created") {
      fileId = await this.call(() => this.api.findFile(requestFileName(job.id), { signal: this.signal }));
      if (fileId === undefined) {
        // Killed before its upload finished: nothing is at the provider, the rows are pending again.
        await this.jobs.remove(job.id);
        return;
      }
      await this.jobs.update(job.id, { state: "uploaded", fileId });
    }
    let info: BatchInfo;
    if (job.state === "submitted") {
      info = { id: job.batchId!, status: "validating" };
    } else {
      // Killed between creating the batch and recording it? Then the batch exists: look first.
      info = await this.createBatch(job.id, fileId!, true);
    }
    this.tracked.set(job.id, { job: { ...job, fileId, batchId: info.id, state: "submitted" }, info });
  }

  private async createBatch(jobId: string, fileId: string, lookFirst = false): Promise<BatchInfo> {
    let info: BatchInfo;
    try {
      info = await this.call(async (attempt) => {
        // A create whose answer was lost may have created the batch: look before creating another.
        const look = lookFirst || attempt > 1;
        const found = look ? await this.api.findBatch(jobId, { signal: this.signal }) : undefined;
        return (
          found ??
          this.api.createBatch({ fileId, jobId, inputType: this.options.inputType, signal: this.signal })
        );
      });
    } catch (error) {
      // Refused for good (not a passing failure): a later run would be refused again, so the file is
      // deleted and the job forgotten; its rows are pending again.
      if (this.refusedForGood(error)) await this.abandon(jobId, fileId);
      throw error;
    }
    await this.jobs.update(jobId, { state: "submitted", batchId: info.id });
    return info;
  }

  private refusedForGood(error: unknown): boolean {
    return !this.signal?.aborted && !(APICallError.isInstance(error) && error.isRetryable);
  }

  /** Deletes a job's request file (if any) and forgets the job, as best it can. */
  private async abandon(jobId: string, fileId: string | undefined): Promise<void> {
    if (fileId) await this.api.deleteFile(fileId, { signal: this.signal }).catch(() => {});
    await this.jobs.remove(jobId).catch(() => {});
  }

  /** Polls every tracked batch once, collecting those that finished; whether any did. */
  private async pollAll(): Promise<boolean> {
    let finished = false;
    for (const [jobId, tracked] of [...this.tracked]) {
      if (this.stopped) break;
      try {
        tracked.info = await this.call(() => this.api.getBatch(tracked.info.id, { signal: this.signal }));
      } catch (error) {
        if (!(APICallError.isInstance(error) && error.reason === "not_found")) throw error;
        // The provider no longer knows the batch (deleted, or another project's key): its rows go again.
        tracked.info = { id: tracked.info.id, status: "failed", errors: [error.message] };
      }
      this.emit("poll", { batch: this.progressOf(tracked) });
      if (!FINAL.has(tracked.info.status)) continue;
      await this.collect(tracked);
      this.tracked.delete(jobId);
      finished = true;
    }
    return finished;
  }

  /** Polls with backoff until every tracked batch is collected. */
  private async waitAll(): Promise<void> {
    const o = this.options;
    let delay = o.pollIntervalMs;
    while (this.tracked.size > 0 && !this.stopped) {
      const started = Date.now();
      await sleep(delay, o.signal);
      this.stats.waitingMs += Date.now() - started;
      const finished = await this.pollAll();
      delay = finished ? o.pollIntervalMs : Math.min(delay * 2, o.maxPollIntervalMs);
    }
  }

  /**
   * Collects a finished batch: streams its output and error files, writes each valid line's
   * vectors (compare-and-set, in the transaction that marks the line done), releases the rows of
   * failed or unanswered lines, deletes the files and forgets the job.
   */
  private async collect(tracked: Tracked): Promise<void> {
    const { job, info } = tracked;
    const lines = new Map((await this.jobs.lines(job.id)).map((line) => [line.customId, line]));
    const seen = new Set<string>();
    const writes: { customId: string; records: EmbeddingRecord<Id>[] }[] = [];
    const releases: string[] = [];
    let buffered = 0;
    const flush = async () => {
      if (writes.length === 0 && releases.length === 0) return;
      await this.finishLines(job.id, writes.splice(0), releases.splice(0), lines);
      buffered = 0;
    };

    for (const fileId of [info.outputFileId, info.errorFileId]) {
      if (!fileId) continue;
      // A download that breaks is read again from the start: lines already handled are skipped.
      await this.call(async () => {
        for await (const out of this.api.readFile(fileId, { signal: this.signal })) {
          const verdict = this.check(out, lines, seen, info.id);
          if (verdict === undefined) continue;
          seen.add(verdict.line.customId);
          if ("records" in verdict) {
            writes.push({ customId: verdict.line.customId, records: verdict.records });
            buffered += verdict.records.length;
          } else {
            releases.push(verdict.line.customId);
            buffered += verdict.line.items.length;
          }
          if (buffered >= this.options.pageSize) await flush();
        }
      });
      await flush();
    }
    // Lines with no answer at all: the batch failed, expired or was cancelled before reaching them.
    for (const line of lines.values()) {
      if (line.done || seen.has(line.customId)) continue;
      this.stats.failedLines++;
      this.release(line);
      releases.push(line.customId);
    }
    await flush();
    if (info.status !== "completed") this.stats.unfinished++;

    for (const fileId of new Set([job.fileId, info.outputFileId, info.errorFileId])) {
      if (fileId) await this.call(() => this.api.deleteFile(fileId, { signal: this.signal }));
    }
    await this.jobs.remove(job.id);
    this.stats.collected.batches++;
    this.stats.collected.rows += job.rows;
    // A batch that failed as a whole says why (a refused file, an unknown model…): show it.
    const message = info.errors?.length ? redactSecrets(info.errors.join("; ")) : undefined;
    this.emit("collect", { batch: this.progressOf(tracked), ...(message ? { message } : {}) });
  }

  /**
   * Judges one output line: the records to write, a line to release (its rows go again), or
   * `undefined` (nothing to do: collected before, or not attributable).
   */
  private check(
    out: BatchOutputLine,
    lines: Map<string, BatchJobLine<Id>>,
    seen: Set<string>,
    batchId: string,
  ): { line: BatchJobLine<Id>; records: EmbeddingRecord<Id>[] } | { line: BatchJobLine<Id> } | undefined {
    const where = `line ${out.line} of batch ${batchId}`;
    if (out.customId === undefined) {
      this.lineError(
        "missing_custom_id",
        `${where} has no custom_id: its answer cannot be matched.`,
        out,
        batchId,
        [],
      );
      return undefined;
    }
    const line = lines.get(out.customId);
    if (!line) {
      this.lineError(
        "unknown_custom_id",
        `${where} answers custom_id "${out.customId}", which is no request of this batch.`,
        out,
        batchId,
        [],
      );
      return undefined;
    }
    if (line.done || seen.has(line.customId)) return undefined;
    const ids = line.items.map((item) => item.id);
    if (out.invalid !== undefined) {
      this.lineError(
        "invalid_line",
        `${where} (custom_id "${out.customId}") cannot be read: ${out.invalid}`,
        out,
        batchId,
        ids,
      );
      return this.release(line);
    }
    if (out.error) {
      this.stats.failedLines++;
      const inputs = new Set(line.items.map((item) => item.position)).size;
      if (inputs === 1 && out.error.reason === "request_too_large") {
        // One text alone was refused for its length: sending it again cannot help.
        this.skip(ids, "input_too_long");
        for (const item of line.items) this.refused.push({ id: item.id, hash: item.hash });
        return { line };
      }
      return this.release(line);
    }
    if (!out.result) {
      this.lineError(
        "invalid_line",
        `${where} (custom_id "${out.customId}") has neither an answer nor an error.`,
        out,
        batchId,
        ids,
      );
      return this.release(line);
    }
    const byPosition: Id[] = [];
    for (const item of line.items) byPosition[item.position] ??= item.id;
    let vectors: Float32Array[];
    try {
      vectors = validateEmbeddings(out.result, byPosition, this.options.provider);
    } catch (error) {
      const reason: BatchLineErrorReason = DimensionMismatchError.isInstance(error)
        ? "dimension_mismatch"
        : "invalid_line";
      const detail = error instanceof Error ? error.message : String(error);
      this.lineError(reason, `${where} (custom_id "${out.customId}"): ${detail}`, out, batchId, ids, error);
      return this.release(line);
    }
    this.counters.tokens += out.result.usage?.tokens ?? 0;
    return {
      line,
      records: line.items.map((item) => ({
        id: item.id,
        hash: item.hash,
        embedding: vectors[item.position]!,
      })),
    };
  }

  /** Writes the vectors of collected lines and marks them (and released lines) done, in one transaction. */
  private async finishLines(
    jobId: string,
    writes: { customId: string; records: EmbeddingRecord<Id>[] }[],
    releases: string[],
    lines: Map<string, BatchJobLine<Id>>,
  ): Promise<void> {
    const customIds = [...writes.map((w) => w.customId), ...releases];
    const refused = this.refused.splice(0);
    const result = await this.store.transaction(async (tx): Promise<WriteResult<Id>> => {
      const jobs = tx.batchJobs;
      if (!jobs) {
        throw new InvalidOptionError("store", "a store whose transactions keep `batchJobs` (batch mode)");
      }
      const claimed = new Set(await jobs.finish(jobId, customIds));
      // Remembered with the lines marked done: a later run neither collects nor sends them again.
      if (refused.length > 0 && tx.rememberRefused) {
        await tx.rememberRefused(refused, {
          ...this.target,
          reason: "input_too_long",
          signal: this.options.signal,
        });
      }
      const records = writes.filter((w) => claimed.has(w.customId)).flatMap((w) => w.records);
      if (records.length === 0) return { written: 0, conflicts: [] };
      return tx.write(records, { ...this.target, signal: this.options.signal });
    });
    for (const customId of customIds) {
      const line = lines.get(customId);
      if (line) lines.set(customId, { ...line, done: true, items: [] });
    }
    this.counters.embedded += result.written;
    if (result.conflicts.length > 0) this.skip([...result.conflicts], "changed_during_run");
    if (result.nondeterministic?.length) this.skip([...result.nondeterministic], "nondeterministic_text");
    const ids = writes.flatMap((w) => w.records.map((r) => r.id));
    if (ids.length > 0) this.emit("batch", { ids });
  }

  /** The line's rows go again (into the next batch). */
  private release(line: BatchJobLine<Id>): { line: BatchJobLine<Id> } {
    this.released += line.items.length;
    return { line };
  }

  private lineError(
    reason: BatchLineErrorReason,
    message: string,
    out: BatchOutputLine,
    batchId: string,
    ids: readonly Id[],
    cause?: unknown,
  ): void {
    this.stats.failedLines++;
    const error = new BatchLineError(message, {
      reason,
      batchId,
      line: out.line,
      customId: out.customId,
      cause,
    });
    this.fail(error, ids);
  }

  // ---------------------------------------------------------------- planning and submitting

  private newPlanner(): BatchPlanner<Planned<Id>> {
    const o = this.options;
    return new BatchPlanner({
      maxInputs: Math.min(o.maxInputsPerRequest, o.maxInputsPerBatch!),
      maxTokens: o.maxTokensPerRequest,
    });
  }

  /** Scans the pending rows that are in no open job and submits them in batches. */
  private async submitPending(): Promise<void> {
    const o = this.options;
    const pages = this.store.scan({
      ...this.target,
      reembed: o.reembed,
      pageSize: o.pageSize,
      signal: o.signal,
      retryRefused: o.retryRefused,
    });
    scan: for await (const page of pages) {
      const busy = new Set(
        await this.jobs.pending(
          page.map((item) => item.id),
          this.target,
        ),
      );
      for (const item of page) {
        if (this.stopped) break scan;
        this.counters.scanned++;
        if (busy.has(item.id)) continue;
        await this.accept(item);
      }
    }
    if (this.stopped) return;
    const last = this.planner.flush();
    if (last) await this.addLine(last);
    await this.closeBatch();
  }

  private async accept(item: PendingItem<Id>): Promise<void> {
    if (item.refused) {
      this.skip([item.id], "refused_before");
      return;
    }
    if (item.text.trim() === "") {
      this.skip([item.id], "empty_input");
      return;
    }
    const place = this.placed.get(item.hash);
    if (place) {
      place.items.push({ id: item.id, hash: item.hash, position: place.position });
      this.counters.deduplicated++;
      return;
    }
    const twins = this.followers.get(item.hash);
    if (twins) {
      twins.push(item);
      return;
    }
    this.followers.set(item.hash, []);
    const { text, tokens } = planText(item.text, this.options.estimateTokens, this.options.provider);
    this.counters.estimatedTokens += tokens;
    const planned = { item, text, tokens };
    const { provider } = this.options;
    if (!provider.truncates && tokens > provider.limits.maxTokensPerInput) {
      // Maybe too long for the model: alone in its line, so only its own row fails if it is.
      const open = this.planner.flush();
      if (open) await this.addLine(open);
      await this.addLine({ items: [planned], tokens });
      return;
    }
    for (const line of this.planner.add(planned, tokens)) await this.addLine(line);
  }

  /** Adds a request line to the batch being planned, closing that batch first if the line would not fit. */
  private async addLine(line: Batch<Planned<Id>>): Promise<void> {
    const o = this.options;
    const limits = this.api.limits;
    const texts = line.items.map((p) => p.text);
    let customId = `r${this.lines.length + 1}`;
    let json = this.api.requestLine(customId, texts, { inputType: o.inputType });
    const size = Buffer.byteLength(json) + 1;
    const sink = this.sink;
    if (
      sink &&
      (this.inputs + line.items.length > o.maxInputsPerBatch! ||
        sink.lines + 1 > limits.maxRequestsPerBatch ||
        sink.bytes + size > limits.maxBytesPerFile)
    ) {
      await this.closeBatch();
      customId = "r1";
      json = this.api.requestLine(customId, texts, { inputType: o.inputType });
    }
    if (!this.sink) {
      if (o.dryRun) this.sink = new CountingSink();
      else this.sink = this.file = await RequestFile.create(requestFileName("planned"));
    }
    await this.sink.append(json);
    const items: BatchJobItem<Id>[] = [];
    line.items.forEach((planned, position) => {
      const { item } = planned;
      items.push({ id: item.id, hash: item.hash, position });
      const twins = this.followers.get(item.hash) ?? [];
      this.followers.delete(item.hash);
      for (const twin of twins) items.push({ id: twin.id, hash: twin.hash, position });
      this.counters.deduplicated += twins.length;
      this.placed.set(item.hash, { items, position });
    });
    this.lines.push({ customId, items });
    this.inputs += line.items.length;
  }

  /**
   * Submits the batch being planned: records the job and its rows, uploads the file, creates the
   * batch and records its id. (A dry run only counts it.)
   */
  private async closeBatch(): Promise<void> {
    const lines = this.lines;
    const file = this.file;
    this.lines = [];
    this.inputs = 0;
    this.sink = undefined;
    this.file = undefined;
    this.placed = new Map();
    if (lines.length === 0) {
      await file?.dispose();
      return;
    }
    const rows = lines.reduce((sum, line) => sum + line.items.length, 0);
    const { submitted } = this.stats;
    if (this.options.dryRun) {
      submitted.batches++;
      submitted.rows += rows;
      submitted.lines += lines.length;
      this.counters.requests += lines.length;
      return;
    }
    const jobId = randomUUID();
    let fileId: string;
    try {
      await this.jobs.create(
        { id: jobId, lines: lines.map((line) => ({ ...line, done: false })) },
        this.target,
      );
      const blob = await file!.blob();
      const name = requestFileName(jobId);
      fileId = await this.call(async (attempt) => {
        // An upload whose answer was lost may have arrived: look before uploading again.
        const found = attempt > 1 ? await this.api.findFile(name, { signal: this.signal }) : undefined;
        return found ?? this.api.uploadFile(blob, { name, signal: this.signal });
      }).catch(async (error: unknown) => {
        if (this.refusedForGood(error)) await this.abandon(jobId, undefined);
        throw error;
      });
    } finally {
      await file!.dispose();
    }
    await this.jobs.update(jobId, { state: "uploaded", fileId });
    const info = await this.createBatch(jobId, fileId);
    const job: BatchJob = {
      id: jobId,
      state: "submitted",
      fileId,
      batchId: info.id,
      rows,
      lines: lines.length,
      createdAt: new Date(),
    };
    const tracked = { job, info };
    this.tracked.set(jobId, tracked);
    submitted.batches++;
    submitted.rows += rows;
    submitted.lines += lines.length;
    this.emit("submit", { batch: this.progressOf(tracked) });
  }

  /** A batch planned but not submitted (the run failed or was aborted): its file is deleted. */
  private async discardOpenBatch(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    this.sink = undefined;
    this.lines = [];
    await file?.dispose();
  }

  // ---------------------------------------------------------------- plumbing

  private get signal(): AbortSignal | undefined {
    return this.options.signal;
  }

  /** One call of the batch API, counted, paced by the limiter and retried by the one retry policy. */
  private call<T>(work: (attempt: number) => Promise<T>): Promise<T> {
    let attempt = 0;
    let rateLimitWait: number | undefined;
    return withRetry(
      async () => {
        await this.limiter.acquire();
        try {
          const hold = await this.limiter.throttle(0);
          this.counters.requests++;
          try {
            const result = await work(++attempt);
            hold.succeeded(0);
            return result;
          } catch (error) {
            if (APICallError.isInstance(error) && error.reason === "rate_limit") {
              rateLimitWait = hold.rateLimited(error.retryAfterMs);
            } else hold.failed();
            throw error;
          }
        } finally {
          this.limiter.release();
        }
      },
      this.retryPolicy,
      {
        signal: this.signal,
        rateLimitWait: () => rateLimitWait,
        ...this.tally.retryHooks((message) => this.emit("retry", { message })),
      },
    );
  }

  private countInFlight(job: BatchJob): void {
    this.inFlightBatches++;
    this.inFlightRows += job.rows;
  }

  private inFlightBatches = 0;
  private inFlightRows = 0;

  private progressOf(tracked: Tracked): BatchProgress {
    const { info, job } = tracked;
    return {
      id: info.id,
      status: info.status,
      lines: info.counts?.total || job.lines,
      completed: info.counts?.completed ?? 0,
      failed: info.counts?.failed ?? 0,
      waitingMs: this.stats.waitingMs,
    };
  }

  private skip(ids: readonly Id[], reason: SkipReason): void {
    this.tally.skip(ids, reason);
    this.emit("skip", { ids });
  }

  /**
   * The error a run stopped by `error` rejects with: caused by the run's first failure when it had
   * one, else by `error`. `after`: what failed once the run itself had completed.
   */
  stop(error: unknown, how: StopHow = {}): BackfillError<Id> {
    if (this.failure) return this.tally.error(this.failure, this.extra(), { rolledBack: how.rolledBack });
    this.fail(error, rowsOf<Id>(error));
    return this.tally.error(this.failure!, this.extra(), how);
  }

  private fail(error: unknown, ids: readonly Id[]): void {
    this.counters.failed += ids.length;
    if (this.failure) this.failure.rowIds.push(...ids);
    else this.failure = { error, rowIds: [...ids] };
  }

  private batchReport(): BatchReport {
    let batches = this.inFlightBatches;
    let rows = this.inFlightRows;
    for (const { job } of this.tracked.values()) {
      batches++;
      rows += job.rows;
    }
    const { submitted, collected } = this.stats;
    return {
      submitted: { ...submitted },
      collected: { ...collected },
      inFlight: { batches, rows },
      failedLines: this.stats.failedLines,
      unfinished: this.stats.unfinished,
      waitingMs: this.stats.waitingMs,
    };
  }

  private extra(): Pick<BackfillReport<Id>, "batch" | "cost"> {
    const { dryRun, tokens, estimatedTokens } = this.counters;
    const cost = costOf(
      dryRun ? estimatedTokens : tokens,
      this.options.pricePerMillionTokens,
      this.options.provider,
    );
    return { batch: this.batchReport(), cost };
  }

  private report(): BackfillReport<Id> {
    return this.tally.report(this.extra());
  }

  private emit(
    type: BackfillProgress<Id>["type"],
    extra?: Pick<BackfillProgress<Id>, "ids" | "message" | "batch">,
  ): void {
    const error = this.tally.emit(type, 1, extra);
    if (error !== undefined) this.fail(error, []);
  }
}
