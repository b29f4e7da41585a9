export type { VoyageModelFacts } from "./voyage-models.js";
export { VOYAGE_MODELS } from "./voyage-models.js";
export type { VoyageEmbeddingModelId, VoyageOutputDtype, VoyageProviderOptions } from "./voyage-options.js";
export { voyageProvider } from "./voyage-provider.js";
