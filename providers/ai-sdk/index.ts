export type { AiSdkCallProviderOptions, AiSdkEmbeddingModel, AiSdkEmbedResult } from "./ai-sdk-model.js";
export type { AiSdkProviderOptions } from "./ai-sdk-options.js";
export { aiSdkProvider } from "./ai-sdk-provider.js";
