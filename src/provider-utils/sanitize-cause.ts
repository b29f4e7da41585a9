import { redactSecrets } from "../errors/redact.js";
import type { Redact } from "./secret-redactor.js";

const MAX_DEPTH = 5;

/**
 * A copy of `error` that is safe to attach as a `cause`: its name, its message and stack passed
 * through `redact`, a string `code`, and a sanitized copy of its own cause; nothing else. SDK errors
 * carry response headers, bodies and sometimes request options, any of which can hold an API key (a
 * server may echo it).
 *
 * @param redact - the provider's redactor (see {@link secretRedactor}).
 * @default redact: redacts bearer tokens and key-shaped strings only
 */
export function sanitizeCause(error: unknown, redact: Redact = redactSecrets): Error | undefined {
  return copy(error, redact, 0);
}

function copy(error: unknown, redact: Redact, depth: number): Error | undefined {
  if (error === undefined || error === null) return undefined;
  if (!(error instanceof Error)) return new Error(redact(String(error)));
  const cause = depth < MAX_DEPTH ? copy(error.cause, redact, depth + 1) : undefined;
  const safe = new Error(redact(error.message), cause ? { cause } : undefined);
  safe.name = redact(error.name);
  safe.stack = error.stack === undefined ? undefined : redact(error.stack);
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") Object.defineProperty(safe, "code", { value: redact(code) });
  return safe;
}
