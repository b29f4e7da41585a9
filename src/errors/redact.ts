/*
 * Secrets never reach an error message, a log line or a progress event. Providers register their API
 * key here when they are created; every library error redacts registered keys (and anything shaped
 * like a bearer token) from its message.
 */
const secrets = new Set<string>();

/** Marks `secret` as never to be shown. Short values are ignored: they would redact ordinary words. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 8) secrets.add(secret);
}

const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;
const KEY_SHAPES = /\b(?:sk|pa|al)-[A-Za-z0-9_-]{16,}/g;

/** Returns `text` with every registered secret and every bearer token replaced by `[redacted]`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join("[redacted]");
  }
  return out.replace(BEARER, "$1[redacted]").replace(KEY_SHAPES, "[redacted]");
}
