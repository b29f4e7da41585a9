import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { BatchPlanner } from "../../src/backfill/batch-planner.js";

function plan(tokens: number[], maxInputs: number, maxTokens: number) {
  const planner = new BatchPlanner<number>({ maxInputs, maxTokens });
  const batches = tokens.flatMap((t, i) => planner.add(i, t));
  const last = planner.flush();
  if (last) batches.push(last);
  return batches;
}

describe("BatchPlanner", () => {
  test("every input exactly once, in order; no batch over a limit unless a single oversized input", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5_000 }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 10_000 }),
        (tokens, maxInputs, maxTokens) => {
          const batches = plan(tokens, maxInputs, maxTokens);
          expect(batches.flatMap((b) => b.items)).toEqual(tokens.map((_, i) => i));
          for (const batch of batches) {
            expect(batch.items.length).toBeGreaterThan(0);
            expect(batch.items.length).toBeLessThanOrEqual(maxInputs);
            expect(batch.tokens).toBeLessThanOrEqual(maxTokens);
            const sum = batch.items.reduce((s, i) => s + Math.min(tokens[i]!, maxTokens), 0);
            expect(batch.tokens).toBe(sum);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("batches are full: two neighbours could not have been merged", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 500, max: 3_000 }),
        (tokens, maxInputs, maxTokens) => {
          const batches = plan(tokens, maxInputs, maxTokens);
          for (let i = 0; i + 1 < batches.length; i++) {
            const a = batches[i]!;
            const firstOfNext = batches[i + 1]!.items[0]!;
            const fitsByCount = a.items.length < maxInputs;
            const fitsByTokens = a.tokens + tokens[firstOfNext]! <= maxTokens;
            expect(fitsByCount && fitsByTokens).toBe(false);
          }
        },
      ),
    );
  });

  test("maxInputs 1 closes a batch per input even after a token overflow", () => {
    const batches = plan([10, 10, 10], 1, 15);
    expect(batches.map((b) => b.items)).toEqual([[0], [1], [2]]);
  });

  test("an input over the token limit travels alone, counted at the limit", () => {
    const batches = plan([5, 100, 5], 10, 20);
    expect(batches.map((b) => [b.items, b.tokens])).toEqual([
      [[0], 5],
      [[1], 20],
      [[2], 5],
    ]);
  });
});
