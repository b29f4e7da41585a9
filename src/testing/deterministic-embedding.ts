/*
 * Deterministic vectors for tests, examples and benchmarks: each word maps to a pseudo-random unit
 * vector seeded by the word, a text's vector is the normalised sum of its words' vectors. Texts that
 * share words are close (cosine), equal texts are equal, and anyone can recompute a stored vector to
 * check that it belongs to its row's text.
 */

const WORD = /[\p{L}\p{N}]+/gu;

/** FNV-1a over UTF-16 code units: cheap, stable across platforms. */
function fnv1a(text: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small PRNG, good enough to spread word vectors. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The deterministic embedding of `text` with `dimensions` components (unit length). The same text
 * always gives the same vector; texts sharing words have a high cosine similarity.
 *
 * @example
 * ```ts
 * const v = deterministicEmbedding("parse a CSV file", 1024);
 * ```
 */
export function deterministicEmbedding(text: string, dimensions: number): Float32Array {
  const out = new Float64Array(dimensions);
  const words = text.toLowerCase().match(WORD) ?? [text];
  for (const word of words) {
    const next = mulberry32(fnv1a(word, dimensions));
    // Sparse word vectors (16 signed components) keep this fast for long texts and large dimensions.
    for (let k = 0; k < 16; k++) {
      const index = Math.floor(next() * dimensions);
      out[index] = (out[index] ?? 0) + (next() < 0.5 ? -1 : 1);
    }
  }
  let norm = 0;
  for (const x of out) norm += x * x;
  const result = new Float32Array(dimensions);
  if (norm === 0) {
    result[0] = 1;
    return result;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimensions; i++) result[i] = (out[i] ?? 0) * scale;
  return result;
}

/** Cosine similarity of two vectors of equal length. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
