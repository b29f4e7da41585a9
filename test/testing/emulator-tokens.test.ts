import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { emulatorQuantize, emulatorTokenCount, emulatorTruncate } from "../../src/testing/index.js";

const bytes = (s: string) => Buffer.byteLength(s, "utf8");

describe("emulatorTokenCount", () => {
  it("is ceil(utf8 bytes / 4), at least 1, and never above the library's ceil(bytes / 3) estimate", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
        const n = emulatorTokenCount(text);
        expect(n).toBe(Math.max(1, Math.ceil(bytes(text) / 4)));
        expect(n).toBeLessThanOrEqual(Math.max(1, Math.ceil(bytes(text) / 3)));
      }),
    );
  });

  it("counts multi-byte text by its UTF-8 size", () => {
    expect(emulatorTokenCount("a")).toBe(1);
    expect(emulatorTokenCount("abcdefgh")).toBe(2);
    expect(emulatorTokenCount("ééé")).toBe(2); // 6 bytes
    expect(emulatorTokenCount("😀😀")).toBe(2); // 8 bytes
    expect(emulatorTokenCount("\ud800x")).toBe(1); // lone surrogate: 3 bytes, as TextEncoder writes it
  });
});

describe("emulatorTruncate", () => {
  it("keeps the longest whole-code-point prefix within the token budget", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 200 }),
        fc.integer({ min: 1, max: 60 }),
        (text, max) => {
          const out = emulatorTruncate(text, max);
          expect(text.startsWith(out)).toBe(true);
          if (emulatorTokenCount(text) <= max) expect(out).toBe(text);
          else {
            expect(bytes(out)).toBeLessThanOrEqual(max * 4);
            const next = String.fromCodePoint(text.slice(out.length).codePointAt(0)!);
            expect(bytes(out) + bytes(next)).toBeGreaterThan(max * 4);
          }
        },
      ),
    );
  });

  it("never splits a surrogate pair", () => {
    expect(emulatorTruncate("abc😀def", 1)).toBe("abc");
    expect(emulatorTruncate("a😀bcdefgh", 2)).toBe("a😀bcd");
    expect(emulatorTruncate("abcd😀", 1)).toBe("abcd");
  });
});

describe("emulatorQuantize", () => {
  it("follows the documented rules for every dtype", () => {
    const v = [0.5, -0.5, 1, -1, 0, 0.004, -0.004, 0.9];
    // Math.round: halves round up (63.5 -> 64, -63.5 -> -63)
    expect(emulatorQuantize(v, "int8")).toEqual([64, -63, 127, -127, 0, 1, -1, 114]);
    expect(emulatorQuantize(v, "uint8")).toEqual([192, 65, 255, 1, 128, 129, 127, 242]);
    // bits: + - + - 0 + - + => 1010 0101
    expect(emulatorQuantize(v, "ubinary")).toEqual([0b10100101]);
    expect(emulatorQuantize(v, "binary")).toEqual([0b10100101 - 128]);
    expect(emulatorQuantize([1, 1, 1], "ubinary")).toEqual([0b11100000]);
    expect(emulatorQuantize([0.1], "float")).toEqual([Math.fround(0.1)]);
  });
});
