import type { EmbeddingProvider } from "../contracts/embedding-provider.js";

/**
 * A row's text as it is sent, with the tokens the planner counts for it: lone surrogates replaced
 * (JSON APIs reject them), and an API that truncates never billing more than its context for one
 * input. `size` is what the text weighs against a request's token limit: the whole text, and for an
 * API that does not truncate, an input over the context weighs more than any request holds, so it
 * travels alone (a refusal splits no batch, and a dry run counts what is sent).
 */
export function planText(
  text: string,
  estimateTokens: (text: string) => number,
  provider: Pick<EmbeddingProvider, "truncates" | "limits">,
): { text: string; tokens: number; size: number } {
  const sent = text.isWellFormed() ? text : text.toWellFormed();
  const estimate = estimateTokens(sent);
  const { maxTokensPerInput } = provider.limits;
  const tokens = provider.truncates ? Math.min(estimate, maxTokensPerInput) : estimate;
  const size = !provider.truncates && estimate > maxTokensPerInput ? Number.POSITIVE_INFINITY : estimate;
  return { text: sent, tokens, size };
}
