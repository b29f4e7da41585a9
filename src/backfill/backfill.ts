import { BatchRun } from "../batch/batch-run.js";
import type { EmbeddingProvider } from "../contracts/embedding-provider.js";
import type {
  EmbeddingRecord,
  EmbeddingStore,
  EmbeddingTarget,
  PendingCount,
  PendingItem,
  RefusedRow,
} from "../contracts/embedding-store.js";
import { SCAN } from "../defaults.js";
import { APICallError } from "../errors/api-call-error.js";
import type { BackfillError } from "../errors/backfill-error.js";
import { EmbeddingsError } from "../errors/embeddings-error.js";
import { type Batch, BatchPlanner } from "./batch-planner.js";
import { costOf } from "./cost.js";
import { type BackfillOptions, type ResolvedBackfillOptions, resolveOptions } from "./options.js";
import { planText } from "./plan-text.js";
import { RateLimiter } from "./rate-limiter.js";
import type { BackfillProgress, BackfillReport, SkipReason } from "./report.js";
import { type RetryPolicy, withRetry } from "./retry.js";
import { type Run, RunTally, rowsOf, type StopHow } from "./run-tally.js";
import { validateEmbeddings } from "./validate-embeddings.js";
import { VectorCache } from "./vector-cache.js";

/** Most rows one write takes when batches queue up for the writer. */
const MAX_WRITE_ROWS = 1000;
const DRY_RUN_VECTOR = new Float32Array(0);

/**
 * Finds the store's rows whose embedding is missing or stale, embeds them in batches within the
 * provider's limits (paced at the rate limits, retried, split when too large) and writes them
 * safely: a batch is written whole or not at all, and only if the row's text did not change
 * meanwhile.
 *
 * Resolves to a {@link BackfillReport}. Rejects with an {@link InvalidOptionError} for a bad option,
 * with the store's own typed error when `prepare()` refuses (a `StoreError` or a
 * `DimensionMismatchError`), with `signal.reason` when aborted, and otherwise with a
 * {@link BackfillError} carrying the report: whatever failed once the run started (the provider, the
 * store, the database connection, the transaction's commit) is its `cause`.
 *
 * @example
 * ```ts
 * import { backfill } from "@relay/embeddings";
 * import { voyageProvider } from "@relay/embeddings/providers/voyage";
 * import { drizzleStore } from "@relay/embeddings/adapters/drizzle";
 *
 * const report = await backfill({
 *   provider: voyageProvider({ model: "voyage-3.5" }),
 *   store: drizzleStore({ db, version: "1", source, target }),
 *   requestsPerMinute: 2_000, // your plan's limits: Voyage tier 1
 *   tokensPerMinute: 8_000_000,
 * });
 * console.log(`${report.embedded} rows embedded, ${report.tokens} tokens`);
 * ```
 */
export async function backfill<Id = unknown>(options: BackfillOptions<Id>): Promise<BackfillReport<Id>> {
  const resolved = resolveOptions(options);
  const { provider, store, signal } = resolved;
  signal?.throwIfAborted();
  const target: EmbeddingTarget = {
    provider: provider.provider,
    model: provider.model,
    dimensions: provider.dimensions,
    ...(provider.vectorType === "bit" ? { vectorType: "bit" as const } : {}),
  };
  const run: Run<Id> =
    resolved.mode === "batch"
      ? new BatchRun(resolved, store, target)
      : new BackfillRun(resolved, store, target);
  // The store's own refusals (schema, lock, dimensions) are typed already; anything else is not.
  const refused = (error: unknown) =>
    signal?.aborted || EmbeddingsError.isInstance(error) ? error : run.stop(error);
  try {
    await store.prepare?.(target, { signal });
  } catch (error) {
    throw refused(error);
  }
  try {
    await run.prepare?.();
  } catch (error) {
    await store.release?.().catch(() => {});
    throw refused(error);
  }
  let report: BackfillReport<Id>;
  try {
    if (!resolved.atomic || resolved.dryRun) report = await run.run();
    else report = await store.transaction((tx) => run.run(tx));
  } catch (error) {
    // The run's error stands; releasing after it is best effort (the connection may be the failure).
    await store.release?.().catch(() => {});
    if (signal?.aborted) throw signal.reason;
    // The run's first failure; else the transaction's own (its commit, a dead connection).
    throw run.stop(error, { rolledBack: resolved.atomic && !resolved.dryRun });
  }
  try {
    await store.release?.();
  } catch (error) {
    throw run.stop(error, { after: "releasing the store failed" });
  }
  return report;
}

interface Planned<Id> {
  readonly item: PendingItem<Id>;
  /** The text as sent: lone surrogates replaced, since JSON APIs reject them. */
  readonly text: string;
  readonly tokens: number;
}

/** One run of the pipeline: scan → plan → embed (throttled, retried) → write, overlapping. */
class BackfillRun<Id> implements Run<Id> {
  private readonly tally: RunTally<Id>;
  private readonly provider: EmbeddingProvider;
  private readonly limiter: RateLimiter;
  private readonly planner: BatchPlanner<Planned<Id>>;
  private readonly cache: VectorCache;
  private readonly retryPolicy: RetryPolicy;
  /** Rows waiting for a vector that another row with the same text (queued or in flight) will get. */
  private readonly followers = new Map<string, PendingItem<Id>[]>();
  private readonly inflight = new Set<Promise<void>>();
  /** Vectors served from the cache, written with the next batch. */
  private writeBuffer: EmbeddingRecord<Id>[] = [];
  /** Batches waiting for the writer, written together (up to MAX_WRITE_ROWS rows a write). */
  private writeQueue: EmbeddingRecord<Id>[][] = [];
  private writing: Promise<void> | undefined;
  /** Batches queued or being written. */
  private pendingWrites = 0;
  private writeDrained: (() => void) | undefined;
  private failure: { error: unknown; rowIds: Id[] } | undefined;

  constructor(
    private readonly options: ResolvedBackfillOptions<Id>,
    /** The store it reads and writes: the given one, or the transaction's in atomic mode. */
    private store: EmbeddingStore<Id>,
    private readonly target: EmbeddingTarget,
  ) {
    const o = options;
    this.tally = new RunTally<Id>(o.onProgress);
    this.provider = o.provider;
    this.counters.dryRun = o.dryRun;
    const concurrency = o.provider.supportsParallelCalls === false ? 1 : o.concurrency;
    this.limiter = new RateLimiter({
      concurrency,
      requestsPerMinute: o.requestsPerMinute,
      tokensPerMinute: o.tokensPerMinute,
      minIntervalMs: o.minIntervalMs,
      signal: o.signal,
      pacer: o.pacer,
    });
    this.planner = new BatchPlanner(() => ({
      maxInputs: o.maxInputsPerRequest,
      maxTokens: this.requestTokens(),
    }));
    this.cache = new VectorCache(o.dedupeCacheSize);
    this.retryPolicy = {
      retries: o.retries,
      minDelayMs: o.retryMinDelayMs,
      maxDelayMs: o.retryMaxDelayMs,
      maxRetryTimeMs: o.maxRetryTimeMs,
    };
  }

  async run(store: EmbeddingStore<Id> = this.store): Promise<BackfillReport<Id>> {
    this.store = store;
    const { options: o } = this;
    // A store that counts while it scans is not read twice: the count comes with its first page.
    const counting = store.countsWhileScanning === true;
    let started = false;
    const start = (count?: PendingCount) => {
      if (started) return;
      started = true;
      if (count) this.tally.countedWhileScanning(count);
      this.emit("start");
    };
    if (!counting) {
      this.tally.countPending(await store.coverage({ ...this.target, signal: o.signal }), o.reembed);
      start();
    }
    try {
      const pages = store.scan({
        ...this.target,
        reembed: o.reembed,
        pageSize: o.pageSize,
        firstPageSize: SCAN.firstPageSize,
        signal: o.signal,
        retryRefused: o.retryRefused,
        ...(counting ? { onCount: start } : {}),
      });
      scan: for await (const page of pages) {
        start();
        for (const item of page) {
          if (this.stopped) break scan;
          this.tally.countScanned();
          await this.accept(item);
        }
      }
      start();
      const last = this.stopped ? undefined : this.planner.flush();
      if (last) await this.dispatch(last);
    } catch (error) {
      this.fail(error, rowsOf<Id>(error));
    }
    await this.settle();

    if (o.signal?.aborted) throw o.signal.reason;
    if (this.failure) throw this.backfillError(this.failure);
    const report = this.report();
    this.emit("done");
    return report;
  }

  private get counters() {
    return this.tally.counters;
  }

  /**
   * Estimated tokens for the next request: what the limiter asks for (within the learned burst),
   * within `maxTokensPerRequest`; and once the work left would fill fewer requests than the run has
   * in flight, that work shared among them, shrinking down to the limiter's smallest worthwhile
   * request (not with `minIntervalMs`), so the run ends on small requests that finish soon rather
   * than on large ones.
   */
  private requestTokens(): number {
    const { counters, planner } = this;
    const size = Math.min(this.options.maxTokensPerRequest, this.limiter.requestTokens());
    // With a minimum interval between requests, every extra request costs that interval: no split.
    if (this.options.minIntervalMs > 0 || counters.pending === undefined || counters.scanned === 0) {
      return size;
    }
    const perRow = counters.estimatedTokens / counters.scanned;
    const left = Math.max(0, counters.pending - counters.scanned) * perRow + planner.tokens;
    const slots = this.limiter.tailSlots;
    if (left >= slots * size) return size;
    return Math.min(size, Math.max(this.limiter.minRequestTokens(), Math.ceil(left / slots)));
  }

  private get stopped(): boolean {
    return this.failure !== undefined || this.options.signal?.aborted === true;
  }

  /** Routes one pending row: skipped, served from the cache, attached to a twin, or planned. */
  private async accept(item: PendingItem<Id>): Promise<void> {
    if (item.refused) {
      this.skip([item.id], "refused_before");
      return;
    }
    if (item.text.trim() === "") {
      this.skip([item.id], "empty_input");
      return;
    }
    const cached = this.cache.get(item.hash);
    if (cached) {
      this.counters.deduplicated++;
      if (this.options.dryRun) return;
      this.writeBuffer.push({ id: item.id, hash: item.hash, embedding: cached });
      if (this.writeBuffer.length >= this.options.maxInputsPerRequest) await this.enqueueWrite([]);
      return;
    }
    const twins = this.followers.get(item.hash);
    if (twins) {
      twins.push(item);
      return;
    }
    this.followers.set(item.hash, []);
    const { text, tokens, size } = planText(item.text, this.options.estimateTokens, this.provider);
    this.counters.estimatedTokens += tokens;
    for (const batch of this.planner.add({ item, text, tokens }, size)) await this.dispatch(batch);
  }

  /** Starts a batch once a request slot and room in the write queue are free (back-pressure). */
  private async dispatch(batch: Batch<Planned<Id>>): Promise<void> {
    if (this.options.dryRun) {
      this.counters.requests++;
      for (const { item } of batch.items) {
        this.counters.deduplicated += this.takeFollowers(item.hash).length;
        // Remember the text as if embedded, so later repeats count as the real run would count them.
        this.cache.set(item.hash, DRY_RUN_VECTOR);
      }
      return;
    }
    while (this.pendingWrites > this.limiter.concurrency) {
      await new Promise<void>((resolve) => {
        this.writeDrained = resolve;
      });
    }
    await this.limiter.acquire();
    if (this.stopped) {
      // The run failed or was aborted while this batch waited: fail fast, schedule nothing new.
      this.limiter.release();
      return;
    }
    const task: Promise<void> = this.embedBatch(batch).finally(() => {
      this.limiter.release();
      this.inflight.delete(task);
    });
    this.inflight.add(task);
  }

  private async embedBatch(batch: Batch<Planned<Id>>): Promise<void> {
    let vectors: (Float32Array | undefined)[];
    try {
      vectors = await this.embedSplitting(batch.items);
    } catch (error) {
      const ids = batch.items.flatMap(({ item }) => [
        item.id,
        ...this.takeFollowers(item.hash).map((f) => f.id),
      ]);
      this.fail(error, ids);
      return;
    }
    const records: EmbeddingRecord<Id>[] = [];
    const refused: RefusedRow<Id>[] = [];
    batch.items.forEach(({ item }, i) => {
      const twins = this.takeFollowers(item.hash);
      const embedding = vectors[i];
      if (!embedding) {
        const rows = [item, ...twins];
        this.skip(
          rows.map((r) => r.id),
          "input_too_long",
        );
        for (const row of rows) refused.push({ id: row.id, hash: row.hash });
        return;
      }
      this.cache.set(item.hash, embedding);
      records.push({ id: item.id, hash: item.hash, embedding });
      for (const twin of twins) records.push({ id: twin.id, hash: twin.hash, embedding });
      this.counters.deduplicated += twins.length;
    });
    await this.remember(refused);
    await this.enqueueWrite(records);
  }

  /**
   * Tells the store which rows the provider refused as too long, so later runs do not send them again
   * (a store that cannot remember gets them sent once per run). Its failure stops the run.
   */
  private async remember(rows: readonly RefusedRow<Id>[]): Promise<void> {
    const { store } = this;
    if (rows.length === 0 || !store.rememberRefused || this.options.signal?.aborted) return;
    try {
      await store.rememberRefused(rows, {
        ...this.target,
        reason: "input_too_long",
        signal: this.options.signal,
      });
    } catch (error) {
      // The rows are counted as skipped already: the failure names none.
      this.fail(error, []);
    }
  }

  /**
   * Embeds the items; when the provider refuses the request as too large, embeds each half instead.
   * A single item refused as too large comes back `undefined` (skipped as `input_too_long`).
   */
  private async embedSplitting(items: readonly Planned<Id>[]): Promise<(Float32Array | undefined)[]> {
    const halves = async () => {
      const middle = Math.ceil(items.length / 2);
      const head = await this.embedSplitting(items.slice(0, middle));
      const tail = await this.embedSplitting(items.slice(middle));
      return [...head, ...tail];
    };
    // The learned burst may have shrunk since the batch was planned: never send more than it admits.
    const tokens = items.reduce((sum, p) => sum + p.tokens, 0);
    if (items.length > 1 && tokens > this.limiter.maxRequestTokens) return halves();
    try {
      return await this.request(items);
    } catch (error) {
      if (!(APICallError.isInstance(error) && error.reason === "request_too_large")) throw error;
      if (items.length === 1) return [undefined];
      return halves();
    }
  }

  /** One request, throttled and retried, with its answer validated. */
  private request(items: readonly Planned<Id>[]): Promise<Float32Array[]> {
    const { provider, options: o } = this;
    const texts = items.map((p) => p.text);
    const ids = items.map((p) => p.item.id);
    const tokens = items.reduce((sum, p) => sum + p.tokens, 0);
    let rateLimitWait: number | undefined;
    return withRetry(
      async () => {
        const hold = await this.limiter.throttle(tokens);
        this.counters.requests++;
        let result: Awaited<ReturnType<EmbeddingProvider["embed"]>>;
        try {
          result = await provider.embed(texts, { inputType: o.inputType, signal: o.signal });
        } catch (error) {
          if (APICallError.isInstance(error) && error.reason === "rate_limit") {
            rateLimitWait = hold.rateLimited(error.retryAfterMs);
          } else hold.failed();
          throw error;
        }
        // Answered and billed, even if the answer turns out unusable.
        const billed = result.usage?.tokens;
        hold.succeeded(billed, result.rateLimit);
        this.counters.tokens += billed ?? tokens;
        return validateEmbeddings(result, ids, provider);
      },
      this.retryPolicy,
      {
        signal: o.signal,
        rateLimitWait: () => rateLimitWait,
        ...this.tally.retryHooks((message) => this.emit("retry", { message })),
      },
    );
  }

  /**
   * Queues a batch's vectors; writes run one at a time, overlapping the requests of the next batches,
   * and batches that arrive while one is written go together in the next write (small requests do not
   * mean small writes).
   */
  private async enqueueWrite(records: EmbeddingRecord<Id>[]): Promise<void> {
    if (this.writeBuffer.length > 0) {
      records = records.concat(this.writeBuffer);
      this.writeBuffer = [];
    }
    if (records.length === 0) return;
    this.pendingWrites++;
    this.writeQueue.push(records);
    this.writing ??= this.drainWrites();
  }

  private async drainWrites(): Promise<void> {
    while (this.writeQueue.length > 0) {
      const batches: EmbeddingRecord<Id>[][] = [this.writeQueue.shift()!];
      let rows = batches[0]!.length;
      while (this.writeQueue.length > 0 && rows + this.writeQueue[0]!.length <= MAX_WRITE_ROWS) {
        rows += this.writeQueue[0]!.length;
        batches.push(this.writeQueue.shift()!);
      }
      await this.write(batches.flat(), batches.length);
    }
    this.writing = undefined;
  }

  private async write(records: EmbeddingRecord<Id>[], batches: number): Promise<void> {
    const ids = records.map((r) => r.id);
    try {
      // An aborted run writes nothing more; those rows stay pending for the next run.
      if (this.options.signal?.aborted) return;
      if (this.failure && this.options.atomic) return;
      const result = await this.store.write(records, { ...this.target, signal: this.options.signal });
      this.counters.embedded += result.written;
      if (result.conflicts.length > 0) this.skip([...result.conflicts], "changed_during_run");
      if (result.nondeterministic?.length) this.skip([...result.nondeterministic], "nondeterministic_text");
      this.emit("batch", { ids });
    } catch (error) {
      this.fail(error, ids);
    } finally {
      this.pendingWrites -= batches;
      const drained = this.writeDrained;
      this.writeDrained = undefined;
      drained?.();
    }
  }

  /** Waits for every request and write in flight; flushes vectors still buffered. */
  private async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    if (this.options.dryRun) return;
    await this.enqueueWrite([]);
    while (this.writing) await this.writing;
  }

  private takeFollowers(hash: string): PendingItem<Id>[] {
    const twins = this.followers.get(hash) ?? [];
    this.followers.delete(hash);
    return twins;
  }

  private skip(ids: readonly Id[], reason: SkipReason): void {
    this.tally.skip(ids, reason);
    this.emit("skip", { ids });
  }

  /**
   * The error a run stopped by `error` rejects with: caused by the run's first failure when it had
   * one (a later error, such as a rollback on a dead connection, does not hide it), else by `error`.
   * `rolledBack`: the run was one transaction that did not commit. `after`: what failed once the run
   * itself had completed.
   */
  stop(error: unknown, how: StopHow = {}): BackfillError<Id> {
    if (this.failure) return this.backfillError(this.failure, { rolledBack: how.rolledBack });
    this.fail(error, rowsOf<Id>(error));
    return this.backfillError(this.failure!, how);
  }

  /** Records an unrecoverable error: nothing new is scheduled, work in flight settles. */
  private fail(error: unknown, ids: readonly Id[]): void {
    this.counters.failed += ids.length;
    if (this.failure) this.failure.rowIds.push(...ids);
    else this.failure = { error, rowIds: [...ids] };
  }

  private backfillError(failure: { error: unknown; rowIds: Id[] }, how: StopHow = {}): BackfillError<Id> {
    return this.tally.error(failure, { cost: this.report().cost }, how);
  }

  private report(): BackfillReport<Id> {
    const { dryRun, tokens, estimatedTokens } = this.counters;
    const cost = costOf(dryRun ? estimatedTokens : tokens, this.options.pricePerMillionTokens, this.provider);
    return this.tally.report({ cost });
  }

  private emit(
    type: BackfillProgress<Id>["type"],
    extra?: Pick<BackfillProgress<Id>, "ids" | "message">,
  ): void {
    const error = this.tally.emit(type, this.limiter.concurrency, extra);
    if (error !== undefined) this.fail(error, []);
  }
}
