import type { EmulatorBatchFault } from "./batches.js";
import { EmulatorCore } from "./core.js";
import type { EmulatorFault, EmulatorFaultType, InjectOptions, RandomFaults } from "./faults.js";
import { listen } from "./http-server.js";
import { type EmbeddingsEmulatorOptions, resolveOptions } from "./options.js";
import type {
  EmulatorCall,
  EmulatorOutcome,
  EmulatorRequest,
  EmulatorServer,
  EmulatorStats,
  ListenOptions,
} from "./types.js";

/**
 * An emulator of the Voyage and OpenAI embeddings endpoints, faithful enough for the official SDKs.
 * One state (rate-limit windows, faults, calls, stats) is shared by every transport it serves.
 */
export interface EmbeddingsEmulator {
  /** Starts a loopback HTTP server serving both APIs. */
  listen(options?: ListenOptions): Promise<EmulatorServer>;
  /**
   * The core, for other transports (MSW: `emulatorHandlers` of `@relay/embeddings/testing/msw`):
   * answers one request (`drop` means: close the connection).
   */
  handle(request: EmulatorRequest): Promise<EmulatorOutcome>;
  /**
   * Queues a fault for upcoming requests. Faults show in the order they were injected.
   *
   * @example
   * ```ts
   * emulator.inject({ type: "server_error", status: 503 }, { times: 2 });
   * emulator.inject("drop_connection", { afterRequests: 5 });
   * ```
   */
  inject(fault: EmulatorFault | EmulatorFaultType, options?: InjectOptions): void;
  /**
   * Sets faults drawn at random (seeded) for every request without an injected fault; `null` stops them.
   *
   * @example
   * ```ts
   * emulator.setFaults({ seed: 7, faults: [{ fault: "rate_limit", probability: 0.1 }] });
   * ```
   */
  setFaults(config: RandomFaults | null): void;
  /** Injected faults not shown yet. */
  readonly pendingFaults: number;
  /**
   * Queues misbehaviours for the next batch created (one call per batch, in order): failed lines,
   * expiry, cancellation, a failed batch, bad output lines.
   *
   * @example
   * ```ts
   * emulator.injectBatch([{ type: "fail_lines", lines: [2] }, { type: "bad_line", line: 1, kind: "unknown_custom_id" }]);
   * emulator.injectBatch({ type: "expire", completedLines: 3 });
   * ```
   */
  injectBatch(faults: EmulatorBatchFault | readonly EmulatorBatchFault[]): void;
  /** Files stored by the Files endpoints now (uploads and batch outputs not yet deleted). */
  readonly storedFiles: number;
  /** Requests seen, in arrival order (the last `maxRecordedCalls`). A copy: it does not update. */
  readonly calls: readonly EmulatorCall[];
  /** Counters since creation or `reset()`. A snapshot. */
  readonly stats: EmulatorStats;
  /**
   * Forgets calls, stats, rate-limit windows and faults (options stay). Requests still waiting
   * (latency, stall, queue) end without an answer.
   */
  reset(): void;
}

/**
 * Creates an emulator of the Voyage (`POST {root}/v1/embeddings`) and OpenAI
 * (`POST {root}/v1/embeddings`) embeddings APIs: their documented limits, validation and error bodies,
 * rate limits, faults, and recorded calls; and of both APIs' Files and Batches endpoints
 * (`{root}/v1/files`, `{root}/v1/batches`), with a configurable turnaround, batch faults and a cost
 * counter. Vectors are `deterministicEmbedding(text, dimensions)` of
 * each (possibly truncated) input, Voyage's `input_type` aside; tokens are `emulatorTokenCount(text)`.
 *
 * @example
 * ```ts
 * const emulator = createEmbeddingsEmulator({ rateLimits: { requestsPerMinute: 100 } });
 * const { voyageBaseUrl, close } = await emulator.listen();
 * // or, with MSW: setupServer(...emulatorHandlers(emulator)) from "@relay/embeddings/testing/msw"
 * const voyage = new VoyageAIClient({ apiKey: "pa-test", baseUrl: voyageBaseUrl, maxRetries: 0 });
 * ```
 */
export function createEmbeddingsEmulator(options: EmbeddingsEmulatorOptions = {}): EmbeddingsEmulator {
  const core = new EmulatorCore(resolveOptions(options));
  return {
    listen: (listenOptions) => listen(core, listenOptions),
    handle: (request) => core.handle(request),
    inject: (fault, injectOptions) => core.faults.inject(fault, injectOptions),
    setFaults: (config) => core.faults.setRandom(config),
    get pendingFaults() {
      return core.faults.pending;
    },
    injectBatch: (faults) => core.batches.inject(faults),
    get storedFiles() {
      return core.batches.fileCount;
    },
    get calls() {
      return core.calls;
    },
    get stats() {
      return core.stats;
    },
    reset: () => core.reset(),
  };
}
