import { expect, vi } from "vitest";

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

/**
 * Resolves once `condition` holds, polling it; fails after a generous overall deadline. For waiting on
 * what another connection does (a query blocked on a lock…), never on a fixed time.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  while (!(await condition())) {
    if (Date.now() > deadline) expect.fail(`timed out waiting for ${options.what ?? "a condition"}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The rows of a Drizzle `db.execute()` result, whatever the driver (`{ rows }` or an array). */
export function rowsOf<Row>(result: unknown): Row[] {
  return (Array.isArray(result) ? result : (result as { rows: Row[] }).rows) as Row[];
}

/** Everything written to stdout, stderr or the console while `work` runs (nothing reaches them). */
export async function printedDuring(work: () => Promise<unknown>): Promise<unknown[]> {
  const printed: unknown[] = [];
  const spies = [
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => printed.push(chunk) > 0),
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => printed.push(chunk) > 0),
    ...(["log", "info", "warn", "error", "debug"] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args) => {
        printed.push(args);
      }),
    ),
  ];
  try {
    await work();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return printed;
}
