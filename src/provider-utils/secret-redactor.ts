import { redactSecrets } from "../errors/redact.js";

/** Replaces every form of a provider's secrets in a text with `[redacted]`. */
export type Redact = (text: string) => string;

/** Secrets shorter than this are not redacted: they would redact ordinary words (`"ollama"`). */
const MIN_SECRET_LENGTH = 8;
/**
 * Any run of this many consecutive characters of a secret is redacted too: messages that quote a
 * snippet of a body (V8's `JSON.parse` errors show ~10 characters) can cut a key anywhere.
 */
const PARTIAL_LENGTH = 8;
const REDACTED = "[redacted]";

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

/** A hex number matched in either case: `2f` → `2[fF]`. */
function anyCaseHex(value: number, width: number): string {
  return [...value.toString(16).padStart(width, "0")]
    .map((digit) => (/[a-f]/.test(digit) ? `[${digit}${digit.toUpperCase()}]` : digit))
    .join("");
}

const JSON_SHORT: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "/": "\\/",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};
const HTML_NAMED: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

/**
 * Every way one character of a secret can come back from a server or a log: as itself, JSON-escaped
 * (`\"`, `\\`, `\/`, `\u00e9` in either case, surrogate pairs for astral characters), URL-encoded
 * (`%2F`/`%2f` per UTF-8 byte, `+` for a space), or as an HTML entity. Mixed forms in one string match
 * too (a server that escapes only some characters).
 */
function characterForms(char: string): string {
  const code = char.codePointAt(0)!;
  const forms = new Set<string>([escapeRegExp(char)]);
  if (JSON_SHORT[char]) forms.add(escapeRegExp(JSON_SHORT[char]));
  // UTF-16 code units: JSON writes an astral character as a surrogate pair of \u escapes.
  const units = Array.from({ length: char.length }, (_, i) => char.charCodeAt(i));
  forms.add(units.map((unit) => `\\\\u${anyCaseHex(unit, 4)}`).join(""));
  forms.add([...Buffer.from(char, "utf8")].map((byte) => `%${anyCaseHex(byte, 2)}`).join(""));
  if (char === " ") forms.add("\\+");
  if (HTML_NAMED[char]) forms.add(HTML_NAMED[char]);
  forms.add(`&#0*${code};`);
  forms.add(`&#[xX]0*${anyCaseHex(code, 1)};`);
  return `(?:${[...forms].join("|")})`;
}

/**
 * The part of the base64 of `secret` that does not depend on the bytes around it, for each of the
 * three positions it can start at inside a longer base64 text (`Basic` credentials, a base64 body):
 * the groups of four characters that hold only the secret's bytes. At most two bytes at each end stay
 * visible, never the secret.
 */
function base64Cores(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  const cores: string[] = [];
  for (const offset of [0, 1, 2]) {
    const padded = Buffer.concat([Buffer.alloc(offset), bytes]);
    const fullGroups = Math.floor(padded.length / 3);
    // Characters that mix the unknown leading bytes: none at offset 0, then 2, then 3.
    const skip = [0, 2, 3][offset]!;
    const core = padded
      .subarray(0, fullGroups * 3)
      .toString("base64")
      .slice(skip);
    if (core.length >= 6) {
      cores.push(core, core.replace(/\+/g, "-").replace(/\//g, "_"));
    }
  }
  return cores;
}

/**
 * One pattern for every form of `secret`: raw, JSON-escaped (also twice, for JSON inside a JSON
 * string), URL-encoded, HTML-escaped, and base64 (standard and URL-safe, at any alignment).
 */
function secretPattern(secret: string): string {
  const mixed = [...secret].map(characterForms).join("");
  const doubleJson = JSON.stringify(JSON.stringify(secret).slice(1, -1)).slice(1, -1);
  const literals = [doubleJson, ...base64Cores(secret)].map(escapeRegExp);
  return [mixed, ...literals].join("|");
}

/** Every run of {@link PARTIAL_LENGTH} characters of `secret`, as a pattern. */
function partialPattern(secret: string): string[] {
  const windows = new Set<string>();
  for (let i = 0; i + PARTIAL_LENGTH <= secret.length; i++) windows.add(secret.slice(i, i + PARTIAL_LENGTH));
  return [...windows].map(escapeRegExp);
}

/** Replaces every stretch of `text` covered by an occurrence (overlapping ones too) of `pattern`. */
function redactRuns(text: string, pattern: RegExp): string {
  const covered: Array<[number, number]> = [];
  pattern.lastIndex = 0;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    const end = match.index + match[0].length;
    const last = covered.at(-1);
    if (last && match.index <= last[1]) last[1] = Math.max(last[1], end);
    else covered.push([match.index, end]);
    pattern.lastIndex = match.index + 1;
  }
  if (covered.length === 0) return text;
  let out = "";
  let from = 0;
  for (const [start, end] of covered) {
    out += `${text.slice(from, start)}${REDACTED}`;
    from = end;
  }
  return out + text.slice(from);
}

/**
 * Returns a function that replaces the given secrets, in every form a server or a log can give them
 * back (raw, JSON-escaped, URL-encoded, HTML-escaped, base64), with `[redacted]`, and also any run of
 * 8 or more consecutive characters of a secret (a message quoting a cut snippet), and anything shaped
 * like a bearer token or a well-known API key. Secrets shorter than 8 characters are not redacted (a
 * placeholder such as `"ollama"` is no secret, and would redact ordinary words).
 *
 * A provider built with {@link apiConnection} gets one for its own key: every error it makes is
 * redacted with it, where the error is made. Use this directly for anything else that might hold a
 * key (a provider not built on the kit, your own logging).
 *
 * @example
 * ```ts
 * const redact = secretRedactor([apiKey]);
 * redact(`{"detail":"Invalid key: ${JSON.stringify(apiKey).slice(1, -1)}"}`); // '{"detail":"Invalid key: [redacted]"}'
 * ```
 */
export function secretRedactor(secrets: Iterable<string | undefined>): Redact {
  const kept = [...new Set(secrets)]
    .filter((s): s is string => typeof s === "string" && s.length >= MIN_SECRET_LENGTH)
    // Longer secrets first, so one secret inside another is never half redacted.
    .sort((a, b) => b.length - a.length);
  if (kept.length === 0) return redactSecrets;
  const whole = new RegExp(kept.map(secretPattern).join("|"), "g");
  const partial = new RegExp(kept.flatMap(partialPattern).join("|"), "g");
  return (text) => redactSecrets(redactRuns(text.replace(whole, REDACTED), partial));
}
