import { redactSecrets } from "../errors/redact.js";

const MAX_DEPTH = 5;

/**
 * A copy of `error` that is safe to attach as a `cause`: name, redacted message and stack, a string
 * `code`, and a sanitized copy of its own cause; nothing else. SDK errors carry response headers,
 * bodies and sometimes request options, any of which can hold an API key (a server may echo it).
 */
export function sanitizeCause(error: unknown, depth = 0): Error | undefined {
  if (error === undefined || error === null) return undefined;
  if (!(error instanceof Error)) return new Error(redactSecrets(String(error)));
  const cause = depth < MAX_DEPTH ? sanitizeCause(error.cause, depth + 1) : undefined;
  const copy = new Error(redactSecrets(error.message), cause ? { cause } : undefined);
  copy.name = error.name;
  copy.stack = error.stack === undefined ? undefined : redactSecrets(error.stack);
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") Object.defineProperty(copy, "code", { value: redactSecrets(code) });
  return copy;
}
