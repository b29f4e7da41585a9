import type { EmbeddingProvider } from "../contracts/embedding-provider.js";

/**
 * A row's text as it is sent, with the tokens the planner counts for it: lone surrogates replaced
 * (JSON APIs reject them), and an API that truncates never billing more than its context for one
 * input.
 */
export function planText(
  text: string,
  estimateTokens: (text: string) => number,
  provider: Pick<EmbeddingProvider, "truncates" | "limits">,
): { text: string; tokens: number } {
  const sent = text.isWellFormed() ? text : text.toWellFormed();
  const estimate = estimateTokens(sent);
  const tokens = provider.truncates ? Math.min(estimate, provider.limits.maxTokensPerInput) : estimate;
  return { text: sent, tokens };
}
