import { defineConfig } from "vitest/config";

export default defineConfig({
  // `@relay/embeddings/…` imports (the examples') resolve to the sources, as tsconfig.json maps them.
  resolve: { tsconfigPaths: true },
  test: {
    // PGlite (WASM) and MSW interceptors are happiest in processes of their own (not threads).
    pool: "forks",
    // The two worker processes run file after file, keeping what they loaded: PGlite's WASM compiled once
    // per process instead of once per file, the library and drivers imported once. Every file closes
    // what it opens (databases, servers, interceptors). Measured: 313 CPU-s for the suite instead of
    // 474 (with PGlite's data directory loaded from a template, test/support/databases.ts).
    isolate: false,
    // With files sharing a process, no stubbed variable or global outlives its test.
    unstubEnvs: true,
    unstubGlobals: true,
    // Two files at once even on 2 cores (vitest's default leaves one core idle): most files wait on
    // PostgreSQL, child processes or modelled latency, not on this process's CPU.
    maxWorkers: 2,
    include: ["test/**/*.test.ts"],
    // Deadlines that catch a hang, not budgets: nothing waits for them. A test starting worker
    // processes (tsx, a driver, PGlite's WASM) can take tens of seconds on a loaded 2-core CI machine.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // expect.poll() waits for a condition; its deadline, too, only catches a hang (default 1 s).
    expect: { poll: { timeout: 60_000 } },
  },
});
