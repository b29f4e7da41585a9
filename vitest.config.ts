import { defineConfig } from "vitest/config";

export default defineConfig({
  // `@relay/embeddings/…` imports (the examples') resolve to the sources, as tsconfig.json maps them.
  resolve: { tsconfigPaths: true },
  test: {
    // PGlite (WASM) and MSW interceptors are happiest one process per file.
    pool: "forks",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
