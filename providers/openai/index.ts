export type { OpenAIModelFacts } from "./openai-models.js";
export { OPENAI_MODELS } from "./openai-models.js";
export type { OpenAIEmbeddingModelId, OpenAIProviderOptions } from "./openai-options.js";
export { openaiProvider } from "./openai-provider.js";
