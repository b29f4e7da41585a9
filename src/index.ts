export type * from "./contracts/embedding-provider.js";
export type * from "./contracts/embedding-store.js";
export * from "./errors/index.js";
export { hashText } from "./hash.js";
