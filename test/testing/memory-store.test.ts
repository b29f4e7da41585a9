import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../src/errors/index.js";
import { hashText } from "../../src/hash.js";
import { deterministicEmbedding, memoryStore } from "../../src/testing/index.js";

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
