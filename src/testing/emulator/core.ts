/*
 * The one place requests are decided. MSW handlers and the loopback server only translate to and
 * from `EmulatorRequest` / `EmulatorOutcome`; everything the emulator does happens here, in this
 * order: route, authenticate, pick the fault, parse, validate, rate-limit, embed, corrupt, wait.
 */
import { deterministicEmbedding } from "../deterministic-embedding.js";
import { BatchService } from "./batches.js";
import { type Dialect, type EmbedJob, isReply, type Reply } from "./dialect.js";
import { encodeEmbedding } from "./encoding.js";
import { type EmulatorFault, FaultSchedule } from "./faults.js";
import { openaiDialect } from "./openai.js";
import type { ResolvedEmulatorOptions } from "./options.js";
import { formatDuration, type RateLimitEnforcer, SlidingWindow, TokenBucket } from "./rate-limiter.js";
import type { EmulatorApi, EmulatorCall, EmulatorOutcome, EmulatorRequest, EmulatorStats } from "./types.js";
import { voyageDialect } from "./voyage.js";

const DIALECTS: Readonly<Record<EmulatorApi, Dialect>> = { voyage: voyageDialect, openai: openaiDialect };
const DROP: EmulatorOutcome = { kind: "drop" };
const SECRET_HEADERS = new Set(["authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"]);
const REPLACING = new Set<EmulatorFault["type"]>([
  "rate_limit",
  "server_error",
  "drop_connection",
  "invalid_key",
  "forbidden",
  "insufficient_quota",
]);

interface Decision {
  readonly outcome: EmulatorOutcome;
  readonly delayMs: number;
  /** The success body, computed once other requests waiting to be admitted have been. */
  readonly body?: () => string;
}

export class EmulatorCore {
  readonly faults = new FaultSchedule();
  readonly batches: BatchService;
  private windows = new Map<string, RateLimitEnforcer>();
  private log: EmulatorCall[] = [];
  private counters = {
    requests: 0,
    rateLimited: 0,
    errors: 0,
    tokensBilled: 0,
    inputs: 0,
    inFlight: 0,
    maxInFlight: 0,
  };
  private sequence = 0;
  private readonly slots: Slots;
  private readonly timers = new Set<() => void>();
  /** Success bodies waiting to be computed, one per turn of the event loop. */
  private readonly computeQueue: Array<() => void> = [];

  constructor(readonly options: ResolvedEmulatorOptions) {
    this.slots = new Slots(options.maxConcurrency);
    this.batches = new BatchService(options, DIALECTS);
  }

  get calls(): readonly EmulatorCall[] {
    return this.log.slice();
  }

  get stats(): EmulatorStats {
    return { ...this.counters, batch: this.batches.stats };
  }

  /** Clears calls, stats, rate-limit windows and faults; ends waiting requests without an answer. */
  reset(): void {
    this.log = [];
    this.sequence = 0;
    this.windows.clear();
    this.faults.clear();
    this.batches.reset();
    const { inFlight } = this.counters;
    this.counters = {
      requests: 0,
      rateLimited: 0,
      errors: 0,
      tokensBilled: 0,
      inputs: 0,
      inFlight,
      maxInFlight: inFlight,
    };
    for (const cancel of [...this.timers]) cancel();
  }

  /** Answers one request. Resolves when the answer is due (after latency, stalls and queueing). */
  async handle(request: EmulatorRequest): Promise<EmulatorOutcome> {
    this.counters.inFlight++;
    this.counters.maxInFlight = Math.max(this.counters.maxInFlight, this.counters.inFlight);
    try {
      if (!(await this.slots.acquire(request.signal))) return DROP;
      try {
        const { outcome, delayMs, body } = this.decide(request);
        if (!body) {
          if (delayMs > 0 && !(await this.wait(delayMs, request.signal))) return DROP;
          return outcome;
        }
        // Admission is decided as a request arrives; its vectors are computed one request per turn
        // of the event loop, so that requests arriving meanwhile are admitted when they arrive, as an
        // API's gateway admits requests apart from the model's work (computing a burst's bodies back
        // to back would hold up the admission of the requests behind it, then admit them bunched).
        const answered =
          outcome.kind === "response" ? { ...outcome, body: await this.compute(body) } : outcome;
        if (delayMs > 0 && !(await this.wait(delayMs, request.signal))) return DROP;
        return answered;
      } finally {
        this.slots.release();
      }
    } finally {
      this.counters.inFlight--;
    }
  }

  /** Runs `work` after the bodies queued before it, one per turn of the event loop. */
  private compute(work: () => string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.computeQueue.push(() => {
        try {
          resolve(work());
        } catch (error) {
          reject(error);
        }
      });
      if (this.computeQueue.length === 1) setImmediate(() => this.computeNext());
    });
  }

  private computeNext(): void {
    this.computeQueue[0]!();
    this.computeQueue.shift();
    // The next one after the I/O that arrived meanwhile (an immediate queued now runs next turn).
    if (this.computeQueue.length > 0) setImmediate(() => this.computeNext());
  }

  private decide(request: EmulatorRequest): Decision {
    const dialect = DIALECTS[request.api];
    const { options } = this;
    const now = options.clock();
    const id = ++this.sequence;
    let body: unknown = request.body;
    let parsed = false;
    try {
      body = JSON.parse(request.body);
      parsed = true;
    } catch {}

    let fault: EmulatorFault | undefined;
    let reply: Reply;
    let compute: (() => string) | undefined;
    let job: EmbedJob | undefined;
    let stallMs = 0;
    let tokens = 0;
    const key = bearer(request.headers.authorization);

    const batchEndpoint = BatchService.serves(request.path);
    if (!batchEndpoint && (request.path !== "/v1/embeddings" || request.method !== "POST")) {
      reply = dialect.notFound(request.method, request.path);
    } else if (!key || (options.apiKeys && !options.apiKeys.has(key))) {
      reply = dialect.unauthorized(!key);
    } else if (batchEndpoint) {
      fault = this.faults.next(request.api);
      if (fault?.type === "drop_connection") {
        this.record(request, id, now, body, null, 0, 0, fault);
        return { outcome: DROP, delayMs: options.latency.baseMs };
      }
      if (fault?.type === "stall") stallMs = fault.ms ?? 60_000;
      reply =
        fault && REPLACING.has(fault.type)
          ? this.faultReply(dialect, fault, body)
          : this.batches.handle(
              request.api,
              request.method,
              request.path,
              request.url,
              request.headers,
              request.body,
            );
    } else {
      fault = this.faults.next(request.api);
      if (fault?.type === "stall") stallMs = fault.ms ?? 60_000;
      if (fault && REPLACING.has(fault.type)) {
        if (fault.type === "drop_connection") {
          this.record(request, id, now, body, null, 0, 0, fault);
          return { outcome: DROP, delayMs: options.latency.baseMs };
        }
        reply = this.faultReply(dialect, fault, body);
      } else if (!parsed) {
        reply = dialect.invalidJson();
      } else {
        const validated = dialect.validate(body, options);
        if (isReply(validated)) reply = validated;
        else {
          job = validated;
          tokens = job.inputs.reduce((sum, input) => sum + input.tokens, 0);
          const admitted = this.admit(dialect, job, tokens, now);
          if (admitted) reply = admitted;
          else {
            reply = { status: 200, body: "" };
            const admittedJob = job;
            compute = () => this.embed(dialect, admittedJob, fault);
          }
        }
      }
    }

    const success = reply.status === 200;
    const headers: Record<string, string> = { "content-type": "application/json", ...reply.headers };
    if (request.api === "openai") headers["x-request-id"] = `req_emulator_${id}`;
    if (job && dialect.rateLimitHeaders && options.rateLimits) {
      Object.assign(headers, this.rateLimitHeaders(request.api, job.model, now));
    }
    this.record(
      request,
      id,
      now,
      body,
      reply.status,
      success ? tokens : 0,
      success && job ? job.inputs.length : 0,
      fault,
    );
    const delayMs = options.latency.baseMs + (success ? options.latency.perTokenMs * tokens : 0) + stallMs;
    return {
      outcome: { kind: "response", status: reply.status, headers, body: reply.body },
      delayMs,
      body: compute,
    };
  }

  /** Counts an admitted request against the limits (and bills it); the 429 reply when refused. */
  private admit(dialect: Dialect, job: EmbedJob, tokens: number, now: number): Reply | undefined {
    const limits = this.options.rateLimits;
    if (limits) {
      const admission = this.window(dialect.api, job.model).admit(now, tokens);
      if (!admission.ok) {
        this.counters.rateLimited++;
        const reply = dialect.rateLimited(job.model, admission);
        const wait = limits.retryAfter ? admission.waitMs : undefined;
        return { ...reply, headers: { ...reply.headers, ...retryHeaders(dialect.api, wait) } };
      }
    }
    this.counters.tokensBilled += tokens;
    this.counters.inputs += job.inputs.length;
    return undefined;
  }

  /** The success body of an admitted job, with the fault that corrupts it. */
  private embed(dialect: Dialect, job: EmbedJob, fault: EmulatorFault | undefined): string {
    let vectors: Float32Array[] = job.inputs.map((input) =>
      deterministicEmbedding(input.text, job.dimensions),
    );
    let nanAs: "null" | "string" = "null";
    switch (fault?.type) {
      case "wrong_count": {
        const delta = fault.delta ?? -1;
        const last = vectors[vectors.length - 1]!;
        vectors =
          delta < 0
            ? vectors.slice(0, Math.max(0, vectors.length + delta))
            : [...vectors, ...Array(delta).fill(last)];
        break;
      }
      case "wrong_dimension": {
        const size = fault.dimensions ?? Math.max(1, Math.floor(job.dimensions / 2));
        vectors = vectors.map((v) => {
          const out = new Float32Array(size);
          out.set(v.subarray(0, size));
          return out;
        });
        break;
      }
      case "nan": {
        const index = fault.index ?? 0;
        const target = vectors[index];
        if (target) {
          const copy = Float32Array.from(target);
          copy[0] = Number.NaN;
          vectors[index] = copy;
        }
        nanAs = fault.as ?? "null";
        break;
      }
      case "zero_vector": {
        const index = fault.index ?? 0;
        if (vectors[index]) vectors[index] = new Float32Array(job.dimensions);
        break;
      }
    }
    const embeddings = vectors.map((v) => encodeEmbedding(v, job.dtype, job.format, nanAs));
    const body = JSON.stringify(dialect.success(job, embeddings));
    return fault?.type === "malformed_json" ? body.slice(0, Math.floor(body.length / 2)) : body;
  }

  private faultReply(dialect: Dialect, fault: EmulatorFault, body: unknown): Reply {
    switch (fault.type) {
      case "rate_limit": {
        this.counters.rateLimited++;
        const model =
          typeof (body as { model?: unknown })?.model === "string" ? (body as { model: string }).model : "";
        const limit = this.options.rateLimits?.requestsPerMinute ?? 3000;
        const wait = fault.retryAfterMs === undefined ? 1000 : (fault.retryAfterMs ?? undefined);
        const reply = dialect.rateLimited(model, {
          ok: false,
          reason: "requests",
          limit,
          used: limit,
          requested: 1,
          waitMs: wait ?? 1000,
        });
        return { ...reply, headers: { ...reply.headers, ...retryHeaders(dialect.api, wait) } };
      }
      case "server_error":
        return dialect.serverError(fault.status ?? 500);
      case "invalid_key":
        return dialect.unauthorized(false);
      case "forbidden":
        return dialect.forbidden();
      default:
        return dialect.insufficientQuota();
    }
  }

  private window(api: EmulatorApi, model: string): RateLimitEnforcer {
    const key = `${api}:${model}`;
    let window = this.windows.get(key);
    if (!window) {
      const limits = this.options.rateLimits;
      window =
        limits?.enforcement === "token-bucket"
          ? new TokenBucket(limits.requestsPerMinute, limits.tokensPerMinute, limits.burstSeconds)
          : new SlidingWindow(limits?.requestsPerMinute, limits?.tokensPerMinute);
      this.windows.set(key, window);
    }
    return window;
  }

  private rateLimitHeaders(api: EmulatorApi, model: string, now: number): Record<string, string> {
    const state = this.window(api, model).state(now);
    const headers: Record<string, string> = {};
    if (state.limitRequests !== undefined) {
      headers["x-ratelimit-limit-requests"] = String(state.limitRequests);
      headers["x-ratelimit-remaining-requests"] = String(state.remainingRequests);
      headers["x-ratelimit-reset-requests"] = formatDuration(state.resetRequestsMs);
    }
    if (state.limitTokens !== undefined) {
      headers["x-ratelimit-limit-tokens"] = String(state.limitTokens);
      headers["x-ratelimit-remaining-tokens"] = String(state.remainingTokens);
      headers["x-ratelimit-reset-tokens"] = formatDuration(state.resetTokensMs);
    }
    return headers;
  }

  private record(
    request: EmulatorRequest,
    id: number,
    timestamp: number,
    body: unknown,
    status: number | null,
    tokens: number,
    inputs: number,
    fault: EmulatorFault | undefined,
  ): void {
    this.counters.requests++;
    if (status !== 200) this.counters.errors++;
    const max = this.options.maxRecordedCalls;
    if (max === 0) return;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      headers[name] = SECRET_HEADERS.has(name) ? redact(value) : value;
    }
    const call: EmulatorCall = {
      id,
      api: request.api,
      method: request.method,
      url: request.url,
      headers,
      body,
      status,
      tokens,
      inputs,
      ...(fault ? { fault: fault.type } : {}),
      timestamp,
    };
    this.log.push(call);
    if (this.log.length > max) this.log.splice(0, this.log.length - max);
  }

  /** Real-time wait; false when the client went away or `reset()` ended it. */
  private wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (completed: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", cancel);
        this.timers.delete(cancel);
        resolve(completed);
      };
      const cancel = () => finish(false);
      const timer = setTimeout(() => finish(true), ms);
      signal?.addEventListener("abort", cancel, { once: true });
      this.timers.add(cancel);
    });
  }
}

/** The bearer key of an `Authorization` header, or undefined. Never stored. */
function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? "");
  const key = match?.[1]?.trim();
  return key ? key : undefined;
}

function redact(value: string): string {
  return /^Bearer\s/i.test(value) ? "Bearer [redacted]" : "[redacted]";
}

function retryHeaders(api: EmulatorApi, waitMs: number | undefined): Record<string, string> {
  if (waitMs === undefined) return {};
  const headers: Record<string, string> = { "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))) };
  if (api === "openai") headers["retry-after-ms"] = String(Math.max(1, Math.ceil(waitMs)));
  return headers;
}

/** At most `max` requests processed at once; the others wait in arrival order. */
class Slots {
  private active = 0;
  private waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  acquire(signal: AbortSignal | undefined): Promise<boolean> {
    if (this.active < this.max) {
      this.active++;
      return Promise.resolve(true);
    }
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.waiting = this.waiting.filter((w) => w !== grant);
        resolve(false);
      };
      const grant = () => {
        signal?.removeEventListener("abort", onAbort);
        this.active++;
        resolve(true);
      };
      this.waiting.push(grant);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  release(): void {
    this.active--;
    this.waiting.shift()?.();
  }
}
