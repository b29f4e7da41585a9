export { BATCH_PRICE_RATIO, type EmulatorBatchFault, type EmulatorBatchOptions } from "./batches.js";
export { createEmbeddingsEmulator, type EmbeddingsEmulator } from "./emulator.js";
export { type OutputDtype, quantize as emulatorQuantize } from "./encoding.js";
export type { EmulatorFault, EmulatorFaultType, InjectOptions, RandomFaults } from "./faults.js";
export type {
  EmbeddingsEmulatorOptions,
  EmulatorEnforcement,
  EmulatorLatency,
  EmulatorRateLimits,
} from "./options.js";
export { emulatorTokenCount, emulatorTruncate } from "./tokens.js";
export type {
  EmulatorApi,
  EmulatorBaseUrls,
  EmulatorBatchStats,
  EmulatorCall,
  EmulatorOutcome,
  EmulatorRequest,
  EmulatorServer,
  EmulatorStats,
  ListenOptions,
} from "./types.js";
