import type { EmbedResult, VectorType } from "../contracts/embedding-provider.js";
import { DimensionMismatchError } from "../errors/dimension-mismatch-error.js";
import { InvalidOptionError } from "../errors/invalid-option-error.js";
import { InvalidResponseError } from "../errors/invalid-response-error.js";
import { formatId, formatIds } from "./format-ids.js";

/**
 * Checks a provider's answer before anything is written (one vector per input, each `dimensions`
 * long, every value finite once stored as float4, or a byte from 0 to 255 for packed bits) and
 * returns the vectors as `Float32Array`s, the precision pgvector stores.
 */
export function validateEmbeddings(
  result: EmbedResult,
  ids: readonly unknown[],
  identity: { provider: string; model: string; dimensions: number; vectorType?: VectorType },
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
    const bad = nonFinite(vector as ArrayLike<unknown>, out);
    if (bad !== undefined) {
      throw new InvalidResponseError(
        `${name} returned a non-finite value (${String((vector as ArrayLike<unknown>)[bad])}) at position ${bad} of the vector for row ${id}; nothing of this batch was written.`,
        fields,
      );
    }
    if (identity.vectorType === "bit") {
      const notByte = out.findIndex((x) => !Number.isInteger(x) || x < 0 || x > 255);
      if (notByte !== -1) {
        throw new InvalidResponseError(
          `${name} returned ${String(out[notByte])} at position ${notByte} of the packed-bit vector for row ${id}, where a byte (an integer from 0 to 255) belongs; nothing of this batch was written.`,
          fields,
        );
      }
      // All bits clear is a valid bit vector: Hamming distance is defined for it.
      return out;
    }
    if (isZero(out)) {
      throw new InvalidResponseError(
        `${name} returned an all-zero vector for row ${id}: it has no direction, so its cosine distance to any vector is undefined (pgvector answers NaN); nothing of this batch was written.`,
        fields,
      );
    }
    return out;
  });
}

/** The first position whose value is not a number or not finite once stored as float4. */
function nonFinite(vector: ArrayLike<unknown>, stored: Float32Array): number | undefined {
  for (let j = 0; j < stored.length; j++) {
    if (!Number.isFinite(stored[j]) || typeof vector[j] !== "number") return j;
  }
  return undefined;
}

function isZero(vector: Float32Array): boolean {
  for (let j = 0; j < vector.length; j++) if (vector[j] !== 0) return false;
  return true;
}

/**
 * Checks a query vector before it reaches the database, as answers are checked: an array of numbers,
 * `dimensions` long when that is known, every value finite once stored as float4, not all zeros (a
 * vector without direction has no cosine distance to anything). Returns it as a `Float32Array`.
 * Throws `InvalidOptionError` (`option`) or `DimensionMismatchError` (`source: "query"`); the
 * message names the first bad position, never the vector's values.
 */
export function validateQueryVector(
  vector: unknown,
  dimensions: number | undefined,
  option = "vector",
): Float32Array {
  const list = vector as ArrayLike<unknown> | null | undefined;
  if (list === null || typeof list !== "object" || typeof list.length !== "number") {
    throw new InvalidOptionError(option, "an array of numbers (a query embedding)");
  }
  if (dimensions !== undefined && list.length !== dimensions) {
    throw new DimensionMismatchError(
      `The query vector has ${list.length} dimensions; the stored vectors have ${dimensions}. Embed the query with the model that made them.`,
      { expected: dimensions, actual: list.length, source: "query" },
    );
  }
  if (list.length === 0) throw new InvalidOptionError(option, "a non-empty array of numbers");
  const out = list instanceof Float32Array ? list : Float32Array.from(list as ArrayLike<number>);
  const bad = nonFinite(list, out);
  if (bad !== undefined) {
    throw new InvalidOptionError(
      option,
      `finite numbers, but position ${bad} of ${list.length} is ${typeof list[bad] === "number" ? String(list[bad]) : typeof list[bad]}`,
    );
  }
  if (isZero(out)) {
    throw new InvalidOptionError(
      option,
      "a vector with a direction, not all zeros (its cosine distance to any vector is undefined)",
    );
  }
  return out;
}
