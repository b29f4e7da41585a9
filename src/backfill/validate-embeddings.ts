import type { EmbedResult } from "../contracts/embedding-provider.js";
import { DimensionMismatchError } from "../errors/dimension-mismatch-error.js";
import { InvalidResponseError } from "../errors/invalid-response-error.js";
import { formatId, formatIds } from "./format-ids.js";

/**
 * Checks a provider's answer before anything is written (one vector per input, each `dimensions`
 * long, every value finite once stored as float4) and returns the vectors as `Float32Array`s, the
 * precision pgvector stores.
 */
export function validateEmbeddings(
  result: EmbedResult,
  ids: readonly unknown[],
  identity: { provider: string; model: string; dimensions: number },
): Float32Array[] {
  const name = `${identity.provider}/${identity.model}`;
  const fields = { provider: identity.provider, model: identity.model };
  const embeddings = result?.embeddings;
  if (!Array.isArray(embeddings)) {
    throw new InvalidResponseError(
      `${name} returned no list of embeddings for rows ${formatIds(ids)}.`,
      fields,
    );
  }
  if (embeddings.length !== ids.length) {
    throw new InvalidResponseError(
      `${name} returned ${embeddings.length} embeddings for ${ids.length} inputs (rows ${formatIds(ids)}); nothing of this batch was written.`,
      fields,
    );
  }
  return embeddings.map((vector, i) => {
    const id = formatId(ids[i]);
    if (vector === null || typeof vector !== "object" || typeof vector.length !== "number") {
      throw new InvalidResponseError(`${name} returned something other than a vector for row ${id}.`, fields);
    }
    if (vector.length !== identity.dimensions) {
      throw new DimensionMismatchError(
        `${name} returned a vector of ${vector.length} dimensions for row ${id}; the provider declares ${identity.dimensions}. Nothing of this batch was written.`,
        { expected: identity.dimensions, actual: vector.length, source: "response" },
      );
    }
    const out = vector instanceof Float32Array ? vector : Float32Array.from(vector as ArrayLike<number>);
    for (let j = 0; j < out.length; j++) {
      if (!Number.isFinite(out[j]) || typeof (vector as ArrayLike<unknown>)[j] !== "number") {
        throw new InvalidResponseError(
          `${name} returned a non-finite value (${String((vector as ArrayLike<unknown>)[j])}) at position ${j} of the vector for row ${id}; nothing of this batch was written.`,
          fields,
        );
      }
    }
    return out;
  });
}
