import { APICallError, type APICallErrorFields } from "../../src/index.js";
import { memoryStore } from "../../src/testing/index.js";

export { deferred } from "../support/assertions.js";

/** An API error as a provider would throw it. */
export function apiError(status: number | undefined, fields: Partial<APICallErrorFields> = {}): APICallError {
  return new APICallError(`scripted failure ${status ?? fields.reason}`, {
    provider: "scripted",
    model: "scripted-1",
    status,
    ...fields,
  });
}

/** Rows `1..n` with distinct texts. */
export function rows(n: number, text = (i: number) => `skill number ${i} parses csv files`) {
  return Array.from({ length: n }, (_, i) => ({ id: i + 1, text: text(i + 1) }));
}

export function storeWith(n: number, text?: (i: number) => string) {
  return memoryStore({ rows: rows(n, text) });
}

const WORDS = [
  "parse",
  "index",
  "csv",
  "files",
  "deploy",
  "monitor",
  "invoices",
  "search",
  "schemas",
  "tickets",
];

/** A distinct text of ~1,600 characters (~400 tokens billed), like a catalog entry. */
export function longText(i: number, prefix = "skill"): string {
  const words = Array.from({ length: 220 }, (_, j) => WORDS[(i * 7 + j * j) % WORDS.length]);
  return `${prefix} ${i}: ${words.join(" ")}`;
}
