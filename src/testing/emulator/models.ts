/*
 * The models the emulator knows, with their documented limits. An unknown model is refused as the
 * real API refuses it, so a typo in a model name fails in tests rather than in production.
 * Each API's models are its provider's own table: what a provider declares and what the emulator
 * enforces cannot drift apart.
 */
export { OPENAI_LIMITS, OPENAI_MODELS } from "../../../providers/openai/openai-models.js";
export { VOYAGE_MAX_INPUTS, VOYAGE_MODELS } from "../../../providers/voyage/voyage-models.js";
