/*
 * The last line of defence: text shaped like a bearer token or a well-known API key is redacted from
 * every library error's message and every progress event. It needs no state: each provider redacts
 * its own key, in every form, where its errors are made (`secretRedactor` in the provider kit), so no
 * process-wide list of keys is kept.
 */
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;
const KEY_SHAPES = /\b(?:sk|pa|al)-[A-Za-z0-9_-]{16,}/g;

/**
 * Returns `text` with every bearer token (`Bearer …`) and every string shaped like an OpenAI
 * (`sk-…`) or Voyage (`pa-…`, `al-…`) key replaced by `[redacted]`.
 */
export function redactSecrets(text: string): string {
  return text.replace(BEARER, "$1[redacted]").replace(KEY_SHAPES, "[redacted]");
}
