import { InvalidResponseError } from "../errors/invalid-response-error.js";
import { decodeEmbedding, type EmbeddingEncoding } from "./base64.js";

/** Who answered, for the message of an {@link InvalidResponseError}. */
export interface ResponseSource {
  /** Provider id (`"voyage"`). */
  readonly provider: string;
  /** How messages name the service (`"Voyage"`). */
  readonly label: string;
  /** Model id. */
  readonly model: string;
}

/**
 * Reads the `data` list of an OpenAI-shaped embeddings response (`[{ embedding, index }]`, also
 * Voyage's) into one vector per input, in input order. Checks only what is needed to put the right
 * vector in the right place: the list, its length, the `index`es when given, and that each vector
 * decodes. The engine checks lengths and values. Throws an {@link InvalidResponseError} otherwise.
 */
export function readEmbeddings(
  body: unknown,
  inputCount: number,
  encoding: EmbeddingEncoding,
  source: ResponseSource,
): ArrayLike<number>[] {
  const fail = (what: string) =>
    new InvalidResponseError(
      `${source.label} returned an embeddings response (model "${source.model}") that cannot be used: ${what}.`,
      { provider: source.provider, model: source.model },
    );
  const data = body && typeof body === "object" ? (body as { data?: unknown }).data : undefined;
  if (!Array.isArray(data)) throw fail("expected a `data` list");
  if (data.length !== inputCount) throw fail(`${data.length} embeddings for ${inputCount} inputs`);
  const out: ArrayLike<number>[] = new Array(inputCount);
  const indexed = data.every((item) => Number.isInteger(item?.index));
  data.forEach((item: { embedding?: unknown; index?: number } | undefined, position) => {
    const at = indexed ? item!.index! : position;
    if (at < 0 || at >= inputCount || out[at] !== undefined)
      throw fail(`index ${at} is out of range or repeated`);
    const vector = decodeEmbedding(item?.embedding, encoding);
    if (!vector) {
      throw fail(
        `the embedding at index ${at} is neither a list of numbers nor ${encoding === "float32" ? "base64 float32" : `base64 ${encoding}`}`,
      );
    }
    out[at] = vector;
  });
  return out;
}

/** `usage.total_tokens` (or `totalTokens`, `prompt_tokens`), when it is a number. */
export function readUsage(body: unknown): { tokens: number } | undefined {
  const usage = body && typeof body === "object" ? (body as { usage?: unknown }).usage : undefined;
  if (!usage || typeof usage !== "object") return undefined;
  const u = usage as Record<string, unknown>;
  const tokens = [u.total_tokens, u.totalTokens, u.prompt_tokens].find((t) => typeof t === "number");
  return tokens === undefined ? undefined : { tokens: tokens as number };
}
