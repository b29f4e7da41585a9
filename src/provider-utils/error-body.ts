const MAX_DETAIL = 1000;

/** Parses `text` as JSON, or returns `undefined`. */
export function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function clip(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > MAX_DETAIL ? `${trimmed.slice(0, MAX_DETAIL)}…` : trimmed;
}

/**
 * The human-readable message in an error body, whatever the server: Voyage `{ detail }` (a string,
 * or FastAPI's list of `{ msg }`), OpenAI and Ollama `{ error: { message } }`, LM Studio
 * `{ error: "..." }`, vLLM `{ message }`; else the raw text (shortened).
 */
export function extractErrorDetail(body: unknown, text?: string): string | undefined {
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    const error = b.error;
    if (error && typeof error === "object" && typeof (error as { message?: unknown }).message === "string") {
      return clip((error as { message: string }).message);
    }
    if (typeof error === "string") return clip(error);
    if (typeof b.detail === "string") return clip(b.detail);
    if (Array.isArray(b.detail)) {
      const msgs = b.detail.map((d) => (d && typeof d === "object" ? (d as { msg?: unknown }).msg : d));
      const joined = msgs.filter((m) => typeof m === "string").join("; ");
      if (joined) return clip(joined);
    }
    if (typeof b.message === "string") return clip(b.message);
  }
  if (typeof body === "string" && body.trim()) return clip(body);
  return text?.trim() ? clip(text) : undefined;
}

/** The `code` (or `type`) of an OpenAI-style error body, e.g. `"insufficient_quota"`. */
export function extractErrorCodes(body: unknown): string[] {
  if (!body || typeof body !== "object") return [];
  const b = body as Record<string, unknown>;
  const inner = b.error && typeof b.error === "object" ? (b.error as Record<string, unknown>) : b;
  return [inner.code, inner.type].filter((c): c is string => typeof c === "string");
}

/*
 * What APIs say when a request is refused for its size: Voyage ("The max allowed tokens per submitted
 * batch is N", "… does not fit into the model's context window …", "The batch size limit is 1000"),
 * OpenAI ("This model's maximum context length is 8192 tokens", "Requested N tokens, max 300000
 * tokens per request", "'$.input' is too long", "array too long"), vLLM, Ollama ("input length exceeds
 * the context length").
 */
const TOO_LARGE = [
  /max(?:imum)? allowed tokens/i,
  /tokens per (?:submitted )?(?:batch|request)/i,
  /too many tokens/i,
  /context (?:window|length)/i,
  /batch size/i,
  /too many (?:inputs|texts|elements|items)/i,
  /(?:array|list|input)\W* (?:is )?too long/i,
  /at most \d+ (?:inputs|texts|elements|items)/i,
  /context_length_exceeded|max_tokens_per_request|tokens_exceeded/i,
];

/** Whether an API's error message (or code) says the request was too large: split it, never repeat it. */
export function isRequestTooLarge(...texts: Array<string | undefined>): boolean {
  return texts.some((text) => text !== undefined && TOO_LARGE.some((re) => re.test(text)));
}
