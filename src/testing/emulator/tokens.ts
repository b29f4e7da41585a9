/*
 * The emulator's tokenizer. Real tokenizers are not reachable here; this one is deterministic and
 * never counts more than the library's conservative estimate (`ceil(utf8Bytes / 3)`), so a batch the
 * library plans within its limits is never refused for its size unless the plan itself is wrong.
 */

/** UTF-8 length of `text` without allocating (lone surrogates count as the 3-byte replacement). */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Tokens the emulator counts (and bills) for `text`: `ceil(utf8Bytes / 4)`, at least 1. Never more
 * than `ceil(utf8Bytes / 3)`, the library's conservative estimate.
 *
 * @example
 * ```ts
 * const billed = texts.reduce((sum, t) => sum + emulatorTokenCount(t), 0);
 * expect(emulator.stats.tokensBilled).toBe(billed);
 * ```
 */
export function emulatorTokenCount(text: string): number {
  return Math.max(1, Math.ceil(utf8ByteLength(text) / 4));
}

/**
 * What the emulator embeds when it truncates `text` to `maxTokens`: the longest prefix (whole code
 * points) whose {@link emulatorTokenCount} is at most `maxTokens`. Returns `text` itself when it fits.
 *
 * @example
 * ```ts
 * // voyage-3.5 with truncation: the stored vector is the embedding of the truncated text
 * const expected = deterministicEmbedding(emulatorTruncate(longText, 32_000), 1024);
 * ```
 */
export function emulatorTruncate(text: string, maxTokens: number): string {
  const maxBytes = maxTokens * 4;
  if (utf8ByteLength(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = utf8ByteLength(char);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}
