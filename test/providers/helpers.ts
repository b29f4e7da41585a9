import { expect } from "vitest";

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

/** The rejection of `promise`; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail("expected the promise to reject");
}

/**
 * Every string reachable from `value` through own properties (enumerable or not, symbols too),
 * following `cause` chains and nested objects: message, stack, fields, bodies, headers.
 */
export function reachableStrings(value: unknown, depth = 0, seen = new Set<unknown>()): string[] {
  if (typeof value === "string") return [value];
  if (value === null || typeof value !== "object" || depth > 8 || seen.has(value)) return [];
  seen.add(value);
  const out: string[] = [];
  if (value instanceof Headers) {
    value.forEach((v, k) => {
      out.push(k, v);
    });
    return out;
  }
  for (const key of Reflect.ownKeys(value)) {
    let child: unknown;
    try {
      child = (value as Record<PropertyKey, unknown>)[key];
    } catch {
      continue;
    }
    out.push(...reachableStrings(child, depth + 1, seen));
  }
  return out;
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

/** A promise with its resolver outside, to order events across a request. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A request's headers as a plain object (lower-case names). */
export function headersOf(request: Request): Record<string, string> {
  const out: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}
