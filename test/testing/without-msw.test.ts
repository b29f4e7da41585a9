/*
 * `@relay/embeddings/testing` without msw installed: the package is built with the project's own tsup
 * config (types aside) into a throwaway folder laid out as an installed package, and child processes
 * load it, ESM and CommonJS, with `msw` made unresolvable (a resolve hook for `import`, a patched
 * resolver for `require`). The testing kit must load and work there; only `@relay/embeddings/testing/msw`
 * may need msw (which also shows the hook really hides it).
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { build, type Options } from "tsup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import configs from "../../tsup.config.js";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
// Inside the repository, so the package's own dependencies (p-retry…) resolve from its node_modules.
const DIR = join(ROOT, ".tmp", `without-msw-${process.pid}`);
const PACKAGE = join(DIR, "node_modules", "@relay", "embeddings");

const ESM_HOOKS = `
export async function resolve(specifier, context, next) {
  if (specifier === "msw" || specifier.startsWith("msw/")) {
    throw Object.assign(new Error("Cannot find package 'msw' (hidden by the test)"), { code: "ERR_MODULE_NOT_FOUND" });
  }
  return next(specifier, context);
}`;
const CJS_HIDE = `
const Module = require("node:module");
const original = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === "msw" || request.startsWith("msw/")) {
    throw Object.assign(new Error("Cannot find module 'msw' (hidden by the test)"), { code: "MODULE_NOT_FOUND" });
  }
  return original.call(this, request, ...rest);
};`;

/** Uses everything the testing kit offers without MSW, and prints what it saw. */
const USE_KIT = `
const { backfill } = kit.main;
const { createEmbeddingsEmulator, memoryStore, scriptedProvider } = kit.testing;
const { voyageProvider } = kit.voyage;
const emulator = createEmbeddingsEmulator();
const server = await emulator.listen();
try {
  const scripted = await backfill({ provider: scriptedProvider(), store: memoryStore({ rows: [{ id: 1, text: "a" }] }) });
  const viaEmulator = await backfill({
    provider: voyageProvider({ apiKey: "without-msw-key", model: "voyage-3.5", baseURL: server.voyageBaseUrl }),
    store: memoryStore({ rows: [{ id: 1, text: "a" }, { id: 2, text: "b" }] }),
  });
  let msw = "loaded";
  try { await kit.msw(); } catch (error) { msw = error.code; }
  console.log(JSON.stringify({ scripted: scripted.embedded, emulator: viaEmulator.embedded, requests: emulator.stats.requests, msw }));
} finally {
  await server.close();
}`;

const ESM_MAIN = `
const kit = {
  main: await import("@relay/embeddings"),
  testing: await import("@relay/embeddings/testing"),
  voyage: await import("@relay/embeddings/providers/voyage"),
  msw: () => import("@relay/embeddings/testing/msw"),
};
${USE_KIT}`;
const CJS_MAIN = `
(async () => {
  const kit = {
    main: require("@relay/embeddings"),
    testing: require("@relay/embeddings/testing"),
    voyage: require("@relay/embeddings/providers/voyage"),
    msw: async () => require("@relay/embeddings/testing/msw"),
  };
  ${USE_KIT}
})().catch((error) => { console.error(error); process.exit(1); });`;

beforeAll(async () => {
  mkdirSync(PACKAGE, { recursive: true });
  const outDir = join(PACKAGE, "dist");
  for (const config of configs as Options[]) {
    await build({ ...config, config: false, dts: false, sourcemap: false, outDir, silent: true });
  }
  cpSync(join(ROOT, "package.json"), join(PACKAGE, "package.json"));
  // An application of its own: without it, the repository's package.json would be the nearest one and
  // Node would resolve "@relay/embeddings" to the repository itself (a package's self-reference).
  writeFileSync(join(DIR, "package.json"), JSON.stringify({ name: "without-msw-app", private: true }));
  writeFileSync(join(DIR, "hide-msw.mjs"), ESM_HOOKS);
  writeFileSync(
    join(DIR, "register.mjs"),
    `import { register } from "node:module";\nregister("./hide-msw.mjs", import.meta.url);`,
  );
  writeFileSync(join(DIR, "hide-msw.cjs"), CJS_HIDE);
  writeFileSync(join(DIR, "main.mjs"), ESM_MAIN);
  writeFileSync(join(DIR, "main.cjs"), CJS_MAIN);
}, 120_000);

afterAll(() => rmSync(DIR, { recursive: true, force: true }));

describe("@relay/embeddings/testing without msw installed", () => {
  it.concurrent.each([
    ["ESM", ["--import", "./register.mjs", "main.mjs"], "ERR_MODULE_NOT_FOUND"],
    ["CommonJS", ["--require", "./hide-msw.cjs", "main.cjs"], "MODULE_NOT_FOUND"],
  ])(
    "%s: the emulator, scripted provider and memory store work; only the MSW subpath needs msw",
    async (_, args, code) => {
      const { stdout } = await run(process.execPath, args, { cwd: DIR, timeout: 60_000 });
      expect(JSON.parse(stdout.trim())).toEqual({ scripted: 1, emulator: 2, requests: 1, msw: code });
    },
  );
});
