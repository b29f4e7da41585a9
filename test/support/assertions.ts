import { expect } from "vitest";

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
 * following `cause` chains and nested objects: message, stack, fields, bodies, headers. Secret tests
 * search these for the API key.
 */
export function reachableStrings(value: unknown, depth = 0, seen = new Set<unknown>()): string[] {
  if (typeof value === "string") return [value];
  if (value === null || typeof value !== "object" || depth > 10 || seen.has(value)) return [];
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

/** A promise with its resolver outside, to order events across concurrent work in tests. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
