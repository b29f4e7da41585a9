import type { EmbeddingProvider } from "../contracts/embedding-provider.js";
import type { BackfillCost } from "./report.js";

/**
 * What `tokens` cost at `pricePerMillionTokens` (the realtime price) and at the provider's batch
 * price; `undefined` without a price.
 */
export function costOf(
  tokens: number,
  pricePerMillionTokens: number | undefined,
  provider: Pick<EmbeddingProvider, "batch">,
): BackfillCost | undefined {
  if (pricePerMillionTokens === undefined) return undefined;
  const realtime = (tokens / 1_000_000) * pricePerMillionTokens;
  const ratio = provider.batch?.priceRatio;
  return { realtime, batch: ratio === undefined ? undefined : realtime * ratio };
}
