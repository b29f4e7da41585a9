import { defineConfig, type Options } from "tsup";

// One build, several entry points, shared chunks: the error classes and contracts exist once,
// so `instanceof` holds between `@relay/embeddings` and its subpaths.
const entry = {
  index: "src/index.ts",
  "provider-utils": "src/provider-utils/index.ts",
  testing: "src/testing/index.ts",
  "testing/msw": "src/testing/msw.ts",
  "providers/voyage": "providers/voyage/index.ts",
  "providers/openai": "providers/openai/index.ts",
  "providers/ai-sdk": "providers/ai-sdk/index.ts",
  "adapters/drizzle": "adapters/drizzle/index.ts",
  "queue/pg-boss": "queue/pg-boss/index.ts",
  postgres: "src/postgres/index.ts",
};

const peers = [
  "voyageai",
  "openai",
  "drizzle-orm",
  "msw",
  "@electric-sql/pglite",
  "@electric-sql/pglite-pgvector",
  "pg",
  "postgres",
  "pg-boss",
  "pg-copy-streams",
];

const common: Options = {
  entry,
  dts: true,
  sourcemap: true,
  splitting: true,
  treeshake: true,
  target: "node20",
  platform: "node",
  external: peers,
};

export default defineConfig([
  { ...common, format: ["esm"], clean: true, external: [...peers, "p-retry", "p-throttle"] },
  // p-retry and p-throttle are ESM-only: the CommonJS build carries its own copy of them.
  { ...common, format: ["cjs"], noExternal: ["p-retry", "p-throttle"] },
]);
