/** How the bytes of a base64 embedding are laid out. */
export type EmbeddingEncoding =
  /** Little-endian IEEE 754 float32, four bytes per value (OpenAI, Voyage `float`). */
  | "float32"
  /** One signed byte per value (Voyage `int8`). */
  | "int8"
  /** One unsigned byte per value (Voyage `uint8`, and `ubinary` packed bits). */
  | "uint8"
  /**
   * One signed byte per value in offset binary (Voyage `binary` packed bits: the unsigned byte minus
   * 128), decoded to the unsigned byte (value + 128): the packed bits themselves, as `uint8` gives them.
   */
  | "offset-binary";

/**
 * Decodes standard base64 (padding optional). Returns `undefined` for anything else, where Node's
 * decoder would silently skip the characters it does not know (or stop at a `=` inside) and return
 * fewer bytes. Checked by the bytes' count rather than a regular expression over the text: every
 * character the decoder skips costs at least a byte, and a vector's base64 is kilobytes long.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  // `-` and `_` are base64url's: Node's decoder takes them, standard base64 has none.
  if (text.length % 4 === 1 || text.includes("-") || text.includes("_")) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  // One character left over holds 6 bits, no byte: never valid (and it would hide a skipped one).
  if ((text.length - padding) % 4 === 1) return undefined;
  const buffer = Buffer.from(text, "base64");
  if (buffer.byteLength !== Math.floor(((text.length - padding) * 3) / 4)) return undefined;
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * Reads one embedding as an API returned it: a base64 string in `encoding`, or (from servers that
 * ignore `encoding_format`) an array of numbers, which is returned as is. Returns `undefined` when
 * the value is neither, or when the bytes do not divide into whole values: a shape check, so that a
 * wrong answer fails instead of becoming a shorter vector.
 *
 * @example
 * ```ts
 * decodeEmbedding("AACAPwAAAMA=") // Float32Array [1, -2]
 * decodeEmbedding([0.1, 0.2])     // [0.1, 0.2]
 * ```
 */
export function decodeEmbedding(
  value: unknown,
  encoding: EmbeddingEncoding = "float32",
): ArrayLike<number> | undefined {
  if (Array.isArray(value)) {
    if (!value.every((x) => typeof x === "number")) return undefined;
    return encoding === "offset-binary" ? value.map((x: number) => x + 128) : (value as number[]);
  }
  if (typeof value !== "string") return undefined;
  const bytes = decodeBase64(value);
  if (!bytes) return undefined;
  if (encoding === "int8") return new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength).slice();
  // Offset binary: the byte of value v is v's two's complement, and v + 128 flips its top bit.
  if (encoding === "offset-binary") return bytes.map((byte) => byte ^ 0x80);
  if (encoding === "uint8") return bytes.slice();
  if (bytes.byteLength % 4 !== 0) return undefined;
  // A DataView reads little-endian on any host and does not care about the buffer's alignment.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
