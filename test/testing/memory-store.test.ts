import { describe, expect, it } from "vitest";
import { InvalidOptionError, StoreError } from "../../src/errors/index.js";
import { hashText } from "../../src/hash.js";
import { embedRows } from "../../src/index.js";
import { deterministicEmbedding, memoryStore, scriptedProvider } from "../../src/testing/index.js";

const target = { provider: "test", model: "m-1", dimensions: 4 };

describe("memoryStore coverage()", () => {
  it("counts for the prepared target's model when given none, and for the model it is given", async () => {
    const store = memoryStore({ rows: [1, 2, 3].map((id) => ({ id, text: `row ${id}` })) });
    await expect(store.coverage()).rejects.toSatisfy(
      (error) => InvalidOptionError.isInstance(error) && error.option === "model",
    );
    await store.prepare?.(target);
    await store.write(
      [{ id: 1, hash: hashText("row 1"), embedding: deterministicEmbedding("row 1", 4) }],
      target,
    );
    expect(await store.coverage()).toEqual({ total: 3, embedded: 1, stale: 0, missing: 2 });
    expect(await store.coverage({ model: "m-2" })).toEqual({ total: 3, embedded: 0, stale: 1, missing: 2 });
    await expect(store.coverage({ signal: AbortSignal.abort("stop") })).rejects.toBe("stop");
  });
});

describe("memoryStore withKeys()", () => {
  it("lets embedRows() embed just the given rows, and refuses unknown keys before any request", async () => {
    const store = memoryStore({ rows: [1, 2, 3, 4].map((id) => ({ id, text: `row ${id}` })) });
    const provider = scriptedProvider();
    const report = await embedRows({ provider, store, ids: [2, 4] });
    expect(report).toMatchObject({ embedded: 2, failed: 0 });
    expect([...store.records.keys()].sort()).toEqual([2, 4]);
    expect(provider.calls.flatMap((call) => call.texts)).toEqual(["row 2", "row 4"]);

    const before = provider.calls.length;
    const error = await embedRows({ provider, store, ids: [1, 7, 9] }).catch((caught: unknown) => caught);
    expect(StoreError.isInstance(error) && error.reason).toBe("unknown_rows");
    expect((error as StoreError).rowIds).toEqual([7, 9]);
    expect((error as Error).message).toContain("7, 9");
    expect(provider.calls.length).toBe(before); // nothing sent
    expect(store.records.has(1)).toBe(false); // nothing written
    expect(() => store.withKeys([])).toThrow(InvalidOptionError);
  });
});
