/*
 * How a vector goes on the wire: JSON numbers or base64, as float32 or one of Voyage's quantised
 * dtypes. Quantisation here is a fixed rule (not Voyage's calibrated one) so tests can recompute it.
 */

/** Voyage's `output_dtype` values (OpenAI always sends `float`). */
export type OutputDtype = "float" | "int8" | "uint8" | "binary" | "ubinary";

/** The wire form of one embedding. */
export type WireEmbedding = string | Array<number | string | null>;

/**
 * Quantises a float vector the way the emulator does: `int8` = `Math.round(x * 127)` clamped to
 * [-128, 127], `uint8` = that + 128 clamped to [0, 255]; `binary`/`ubinary` pack one bit per
 * component (`x > 0`), most significant bit first, `ceil(dims / 8)` bytes, `binary` as `byte - 128`.
 * `float` returns the float32 values. NaN components stay NaN (they have no integer form).
 */
export function quantize(vector: ArrayLike<number>, dtype: OutputDtype): number[] {
  // Plain loops: Array.from with a callback is several times slower on 1,000 x 1,536 values.
  const n = vector.length;
  switch (dtype) {
    case "float": {
      const out = new Array<number>(n);
      for (let i = 0; i < n; i++) out[i] = Math.fround(vector[i]!);
      return out;
    }
    case "int8":
    case "uint8": {
      const offset = dtype === "uint8" ? 128 : 0;
      const out = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        const x = vector[i]!;
        out[i] = Number.isNaN(x) ? x : clamp(Math.round(x * 127) + offset, offset - 128, offset + 127);
      }
      return out;
    }
    case "binary":
    case "ubinary": {
      const bytes = new Array<number>(Math.ceil(vector.length / 8)).fill(0);
      for (let i = 0; i < vector.length; i++) {
        if ((vector[i] ?? 0) > 0) bytes[i >> 3] = (bytes[i >> 3] ?? 0) | (0x80 >> (i & 7));
      }
      return dtype === "binary" ? bytes.map((b) => b - 128) : bytes;
    }
  }
}

/** Bytes of quantised `values` as base64 sends them: float32 little-endian, or one byte per value. */
export function toBase64(values: readonly number[], dtype: OutputDtype): string {
  if (dtype === "float") {
    const view = new DataView(new ArrayBuffer(values.length * 4));
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
    return Buffer.from(view.buffer).toString("base64");
  }
  const bytes = Buffer.alloc(values.length);
  const signed = dtype === "int8" || dtype === "binary";
  for (let i = 0; i < values.length; i++) {
    if (signed) bytes.writeInt8(values[i]!, i);
    else bytes.writeUInt8(values[i]!, i);
  }
  return bytes.toString("base64");
}

/**
 * The wire form of `vector`. A NaN component is sent as `nanAs` in a JSON array; in a float base64
 * buffer as NaN bits. Integer dtypes cannot carry NaN in base64: that vector goes as a JSON array.
 */
export function encodeEmbedding(
  vector: ArrayLike<number>,
  dtype: OutputDtype,
  format: "float" | "base64",
  nanAs: "null" | "string" = "null",
): WireEmbedding {
  if (format === "base64" && dtype === "float" && vector instanceof Float32Array && LITTLE_ENDIAN) {
    return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64");
  }
  const values = quantize(vector, dtype);
  const hasNaN = values.some(Number.isNaN);
  if (format === "base64" && (!hasNaN || dtype === "float")) return toBase64(values, dtype);
  if (!hasNaN) return values;
  return values.map((x) => (Number.isNaN(x) ? (nanAs === "null" ? null : "NaN") : x));
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function clamp(x: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, x));
}
