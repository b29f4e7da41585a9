/*
 * The folders show the architecture: a provider is one folder that imports only the public entry
 * points (`@relay/embeddings` and `@relay/embeddings/provider-utils`, in the sources `src/index.ts` and
 * `src/provider-utils/index.ts`), its SDK and its own files; the engine imports no provider.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const PUBLIC = ["../../src/index.js", "../../src/provider-utils/index.js"];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => join(dir, file));
}

/** The module specifiers a file imports or re-exports. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(/^\s*(?:import|export)[^"';]*?from\s+"([^"]+)"/gm)].map((m) => m[1]!);
}

describe("architecture", () => {
  const providers = readdirSync(join(ROOT, "providers"));

  it.each(providers)(
    "providers/%s imports only the public entry points, packages and its own files",
    (name) => {
      const files = sources(join("providers", name));
      expect(files.length).toBeGreaterThan(0);
      const wrong = files.flatMap((file) =>
        importsOf(file)
          .filter((spec) => spec.startsWith(".") && !spec.startsWith("./") && !PUBLIC.includes(spec))
          .map((spec) => `${file}: ${spec}`),
      );
      expect(wrong).toEqual([]);
    },
  );

  it("the engine (src/ but its testing kit) imports no provider and no adapter", () => {
    const files = sources("src").filter((file) => !relative("src", file).startsWith("testing"));
    const wrong = files.flatMap((file) =>
      importsOf(file)
        .filter((spec) => /\/(providers|adapters)\//.test(spec))
        .map((spec) => `${file}: ${spec}`),
    );
    expect(wrong).toEqual([]);
  });
});
