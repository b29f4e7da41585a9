/*
 * The three pgvector column types a store can write, and their binary and text forms. A vector reaches
 * the kit as a `Float32Array`: numbers for `vector` and `halfvec`, packed bits for `bit` (each value a
 * byte from 0 to 255, eight dimensions, most significant bit first: what `EmbeddingProvider.vectorType`
 * `"bit"` promises).
 */

/**
 * A pgvector column type: `vector` (float4, 4n + 8 bytes a row), `halfvec` (float2, 2n + 8) or `bit`
 * (one bit a dimension, n / 8 + 8).
 */
export type VectorColumnType = "vector" | "halfvec" | "bit";

/** The types of {@link VectorColumnType}, by `pg_type.typname`. */
const BY_TYPNAME: Record<string, VectorColumnType> = { vector: "vector", halfvec: "halfvec", bit: "bit" };

/**
 * The {@link VectorColumnType} of a column whose `pg_type.typname` is `typname`, or `undefined`.
 * @example
 * ```ts
 * vectorColumnType("halfvec"); // "halfvec"
 * vectorColumnType("float4");  // undefined
 * ```
 */
export function vectorColumnType(typname: string): VectorColumnType | undefined {
  return Object.hasOwn(BY_TYPNAME, typname) ? BY_TYPNAME[typname] : undefined;
}

/**
 * How a column of `type` is written in SQL with `dimensions` (the column's `n`; for `bit`, bits):
 * `vector(1024)`, `halfvec(1024)`, `bit(1024)`.
 */
export function vectorTypeName(type: VectorColumnType, dimensions?: number): string {
  return dimensions === undefined ? type : `${type}(${dimensions})`;
}

/**
 * The most dimensions pgvector indexes (HNSW and IVFFlat) in a `vector`; a `halfvec` index takes up to
 * 4,000.
 */
export const MAX_INDEXED_VECTOR_DIMENSIONS = 2000;

/**
 * The type a column of no declared size is indexed and searched as, for vectors of `dimensions`: its
 * own type (`vector(1024)`), except `vector` beyond pgvector's index limit of 2,000 dimensions, read
 * as `halfvec` (`halfvec(2048)`: pgvector's advice for larger vectors, at half precision).
 * @example
 * ```ts
 * castType("vector", 1024); // "vector"
 * castType("vector", 2048); // "halfvec"
 * ```
 */
export function castType(type: VectorColumnType, dimensions: number): VectorColumnType {
  return type === "vector" && dimensions > MAX_INDEXED_VECTOR_DIMENSIONS ? "halfvec" : type;
}

/** The largest finite half-precision value: pgvector refuses a `halfvec` element beyond it. */
export const HALF_MAX = 65_504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The IEEE 754 half-precision bits of `value`, rounded to nearest, ties to even: what pgvector stores
 * when a `float4` becomes a `halfvec` element. Values from 65,520 up become infinity (pgvector then
 * refuses them), tiny ones subnormal or zero.
 */
export function halfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal: shift the mantissa (with its hidden bit) into place, rounding to nearest even.
    const full = mantissa | 0x800000;
    const shift = 14 - e;
    const half = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (rest > midpoint || (rest === midpoint && half & 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa moves to the exponent, as it should (and to infinity past the top).
  return sign | (rest > 0x1000 || (rest === 0x1000 && half & 1) ? half + 1 : half);
}

/** The number that half-precision bits stand for. */
export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * `vector` rounded as a `halfvec` column stores it: what a store reads back after writing it there.
 * @example
 * ```ts
 * toHalfPrecision(Float32Array.of(0.1)); // Float32Array [0.0999755859375]
 * ```
 */
export function toHalfPrecision(vector: ArrayLike<number>): Float32Array {
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = fromHalfBits(halfBits(vector[i]!));
  return out;
}

/** The first position of `vector` whose value a `halfvec` cannot hold (beyond ±65,504 once rounded). */
export function halfOverflow(vector: ArrayLike<number>): number | undefined {
  for (let i = 0; i < vector.length; i++) {
    if ((halfBits(vector[i]!) & 0x7c00) === 0x7c00) return i;
  }
  return undefined;
}

/** Bytes of one vector in its type's binary form (`halfvec_send`: int16 dim, int16 0, dim × float2). */
function binarySize(type: VectorColumnType, length: number): number {
  if (type === "bit") return 4 + length;
  return 4 + (type === "halfvec" ? 2 : 4) * length;
}

/**
 * Writes `vector` in `type`'s binary form at `offset` and returns the offset after it. `vector` and
 * `halfvec` (`vector_send` / `halfvec_send`): int16 dimensions, int16 0, then each element big-endian
 * (float4 or float2). `bit` (`bit_send`): int32 length in bits, then the packed bytes as they are.
 */
export function writeVectorBinary(
  view: DataView,
  offset: number,
  type: VectorColumnType,
  vector: Float32Array,
): number {
  if (type === "bit") {
    view.setInt32(offset, vector.length * 8);
    let at = offset + 4;
    for (let i = 0; i < vector.length; i++, at++) view.setUint8(at, vector[i]!);
    return at;
  }
  view.setInt16(offset, vector.length);
  view.setInt16(offset + 2, 0);
  let at = offset + 4;
  if (type === "halfvec") {
    for (let i = 0; i < vector.length; i++, at += 2) view.setUint16(at, halfBits(vector[i]!));
  } else {
    for (let i = 0; i < vector.length; i++, at += 4) view.setFloat32(at, vector[i]!);
  }
  return at;
}

/** Bytes {@link writeVectorBinary} writes for `vector` as `type`. */
export function vectorBinarySize(type: VectorColumnType, vector: Float32Array): number {
  return binarySize(type, vector.length);
}

/** `vector` in `type`'s binary form, as a `Buffer` (a COPY field or a bind parameter). */
export function vectorBinary(type: VectorColumnType, vector: Float32Array): Buffer {
  const buffer = Buffer.allocUnsafe(binarySize(type, vector.length));
  writeVectorBinary(new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength), 0, type, vector);
  return buffer;
}

/** Packed bits (bytes 0–255, most significant bit first) as PostgreSQL's bit-string text, `0110…`. */
export function bitText(bytes: ArrayLike<number>): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += bytes[i]!.toString(2).padStart(8, "0");
  return text;
}

/**
 * `vector` in `type`'s text form: `[1,2.5,…]` for `vector` and `halfvec` (the server rounds to
 * half precision), the bit string for `bit`. The portable (and slow) path.
 */
export function vectorTextOf(type: VectorColumnType, vector: Float32Array): string {
  return type === "bit" ? bitText(vector) : `[${vector.join(",")}]`;
}
