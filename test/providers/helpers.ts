import { expect } from "vitest";
import { reachableStrings } from "../support/assertions.js";

export { deferred, reachableStrings, rejectionOf } from "../support/assertions.js";

/** Base64 of little-endian float32 values, written independently of the code under test. */
export function float32Base64(values: readonly number[]): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  for (const [i, v] of values.entries()) view.setFloat32(i * 4, v, true);
  return Buffer.from(view.buffer).toString("base64");
}

/** Base64 of one byte per value (int8 as two's complement). */
export function bytesBase64(values: readonly number[]): string {
  return Buffer.from(values.map((v) => v & 0xff)).toString("base64");
}

/** Asserts that `secret` is nowhere in `error`: JSON, message, stack, fields, cause chain. */
export function expectSecretAbsent(error: unknown, secret: string): void {
  expect(error).toBeInstanceOf(Error);
  const e = error as Error;
  expect(JSON.stringify(e)).not.toContain(secret);
  expect(String(e)).not.toContain(secret);
  expect(e.stack ?? "").not.toContain(secret);
  let cause: unknown = e;
  for (let i = 0; i < 10 && cause; i++) {
    expect(JSON.stringify(cause) ?? "").not.toContain(secret);
    expect(String(cause)).not.toContain(secret);
    cause = (cause as { cause?: unknown }).cause;
  }
  const leaks = reachableStrings(e).filter((s) => s.includes(secret));
  expect(leaks).toEqual([]);
}

/** A request's headers as a plain object (lower-case names). */
export function headersOf(request: Request): Record<string, string> {
  const out: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}
