export { cosineSimilarity, deterministicEmbedding } from "./deterministic-embedding.js";
export * from "./emulator/index.js";
export { type MemoryRecord, type MemoryStore, type MemoryStoreOptions, memoryStore } from "./memory-store.js";
export {
  type ScriptedCall,
  type ScriptedProvider,
  type ScriptedProviderOptions,
  type ScriptStep,
  scriptedProvider,
  scriptedTokenCount,
} from "./scripted-provider.js";
