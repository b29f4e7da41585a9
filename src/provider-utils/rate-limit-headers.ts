import type { RateLimitInfo } from "../contracts/embedding-provider.js";

/** Anything with a `get(name)` (a fetch `Headers`). */
export interface HeadersLike {
  get(name: string): string | null;
}

const UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 1e-3,
  µs: 1e-3,
  ns: 1e-6,
};
const DURATION = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+$/;
const PART = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;

/**
 * Parses a duration as OpenAI's `x-ratelimit-reset-*` headers write it (`"6m0s"`, `"1s"`, `"20ms"`,
 * `"1h2m3.5s"`) or a bare number of seconds. Returns milliseconds, or `undefined` when unreadable.
 */
export function parseDurationMs(text: string | null | undefined): number | undefined {
  const value = text?.trim();
  if (!value) return undefined;
  if (/^\d+(?:\.\d+)?$/.test(value)) return Number.parseFloat(value) * 1000;
  if (!DURATION.test(value)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of value.matchAll(PART)) ms += Number.parseFloat(amount!) * UNIT_MS[unit!]!;
  return ms;
}

function count(text: string | null): number | undefined {
  if (text === null || !/^\s*\d+\s*$/.test(text)) return undefined;
  return Number.parseInt(text, 10);
}

/**
 * Reads `x-ratelimit-remaining-requests|tokens` and `x-ratelimit-reset-requests|tokens`. Returns
 * `undefined` when none of them is there, so a provider that sends none reports none.
 */
export function parseRateLimitHeaders(headers: HeadersLike | undefined): RateLimitInfo | undefined {
  if (!headers) return undefined;
  const info = {
    remainingRequests: count(headers.get("x-ratelimit-remaining-requests")),
    remainingTokens: count(headers.get("x-ratelimit-remaining-tokens")),
    resetRequestsMs: parseDurationMs(headers.get("x-ratelimit-reset-requests")),
    resetTokensMs: parseDurationMs(headers.get("x-ratelimit-reset-tokens")),
  };
  const present = Object.entries(info).filter(([, v]) => v !== undefined);
  return present.length > 0 ? (Object.fromEntries(present) as RateLimitInfo) : undefined;
}

/**
 * How long to wait after a 429 when the API sent no `retry-after`: until the exhausted budget
 * (requests or tokens, whichever reports 0 left) is full again.
 */
export function waitFromRateLimit(info: RateLimitInfo | undefined): number | undefined {
  if (!info) return undefined;
  const waits: number[] = [];
  if (info.remainingRequests === 0 && info.resetRequestsMs !== undefined) waits.push(info.resetRequestsMs);
  if (info.remainingTokens === 0 && info.resetTokensMs !== undefined) waits.push(info.resetTokensMs);
  return waits.length > 0 ? Math.max(...waits) : undefined;
}
