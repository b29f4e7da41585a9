/*
 * The examples, run as users run them: child processes on an embedded PGlite database in a temporary
 * folder. The backfill-skills runs share one folder, in order: a run with a key the emulator refuses
 * (exit 1, key never shown, nothing written), a run on the built-in emulator (everything embedded),
 * and a re-run against this test's emulator, which counts the requests (none). The OpenAI example
 * runs in parallel in its own folder, then the switch-model example: first against this test's
 * emulator (its requests counted), then re-run. The workers example runs last, without a server (the
 * run with one is in `npm run examples`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExampleRun, runExample } from "../../examples/support/run-example.js";
import { createEmbeddingsEmulator, type EmulatorServer } from "../../src/testing/index.js";

const ACCEPTED_KEY = "pa-examples-test-accepted-key";
const REFUSED_KEY = "pa-Sup3rSecretRefusedKey-do-not-print";

const emulator = createEmbeddingsEmulator({ apiKeys: [ACCEPTED_KEY] });
let server: EmulatorServer;
let dataDir: string;
const runs = {} as Record<
  "refused" | "first" | "second" | "openaiFirst" | "openaiSecond" | "switchFirst" | "workersWithoutServer",
  ExampleRun
>;
let voyageRequestsOnRerun = -1;
let voyageQueriesOnRerun: unknown[] = [];
let openaiCallsOnRerun: readonly unknown[] = [];
/** The Voyage requests of the switch-model example's first run (on this test's emulator). */
let switchCalls: readonly { body: unknown }[] = [];

const COVERAGE_COMPLETE = /^Coverage: 104\/104 current, 0 stale, 0 missing \(complete\)$/m;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "relay-examples-test-"));
  server = await emulator.listen();
  const external = (key: "VOYAGE" | "OPENAI", apiKey: string) => ({
    [`${key}_API_KEY`]: apiKey,
    [`${key}_BASE_URL`]: key === "VOYAGE" ? server.voyageBaseUrl : server.openaiBaseUrl,
  });
  const skills = async () => {
    runs.refused = await runExample("backfill-skills.ts", { dataDir, env: external("VOYAGE", REFUSED_KEY) });
    runs.first = await runExample("backfill-skills.ts", { dataDir });
    const before = emulator.stats.requests;
    runs.second = await runExample("backfill-skills.ts", { dataDir, env: external("VOYAGE", ACCEPTED_KEY) });
    const rerun = emulator.calls.filter((call) => call.api === "voyage" && call.id > before);
    // The example's text search embeds its query on every run: only document requests would be a re-embed.
    voyageRequestsOnRerun = rerun.filter(
      (call) => (call.body as { input_type?: unknown }).input_type !== "query",
    ).length;
    voyageQueriesOnRerun = rerun.map((call) => call.body);
  };
  const openai = async () => {
    runs.openaiFirst = await runExample("openai-same-row.ts", { dataDir });
    const before = emulator.calls.at(-1)?.id ?? 0;
    runs.openaiSecond = await runExample("openai-same-row.ts", {
      dataDir,
      env: external("OPENAI", ACCEPTED_KEY),
    });
    openaiCallsOnRerun = emulator.calls.filter((call) => call.api === "openai" && call.id > before);
    // Then the model switch: first on this test's emulator (its requests are counted), re-run on its own.
    const start = emulator.calls.at(-1)?.id ?? 0;
    runs.switchFirst = await runExample("switch-model.ts", {
      dataDir,
      env: external("VOYAGE", ACCEPTED_KEY),
    });
    switchCalls = emulator.calls.filter((call) => call.api === "voyage" && call.id > start);
    // Its re-run (nothing embedded, exit 0) is checked by `npm run examples`, which runs every example twice.
  };
  await Promise.all([skills(), openai()]);
  // After the others, not beside them: two example processes at once are enough for a loaded machine.
  runs.workersWithoutServer = await runExample("workers.ts", { dataDir });
}, 600_000);

afterAll(async () => {
  await server?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** The output, with the run's exit code, so a failed assertion shows what the example printed. */
const shown = (run: ExampleRun) => `exit ${run.code}\n${run.output}`;

describe("examples/backfill-skills.ts", () => {
  it("fails with exit code 1 on a refused key, never printing the key, and writes nothing", () => {
    expect(runs.refused.code, shown(runs.refused)).toBe(1);
    expect(runs.refused.output).toMatch(/Backfill failed:.*(401|authentication|API key)/is);
    expect(runs.refused.output).not.toContain(REFUSED_KEY);
    expect(runs.refused.output).not.toContain("Sup3rSecret");
    expect(runs.refused.output).not.toMatch(/using the local Voyage emulator/);
    // Nothing was written: the next run still finds every skill pending.
    expect(runs.first.output).toMatch(/^Found 104 rows to embed$/m);
  });

  it("runs on the built-in emulator, says so, and embeds every skill", () => {
    const { output } = runs.first;
    expect(runs.first.code, shown(runs.first)).toBe(0);
    expect(output).toMatch(
      /^VOYAGE_API_KEY is not set: using the local Voyage emulator at http:\/\/127\.0\.0\.1:\d+\/voyage\/v1/m,
    );
    expect(output).toMatch(/^Backfill complete: 104 embedded, 0 skipped, [\d,]+ tokens, 2 requests in/m);
    expect(output).toMatch(
      /^Verification \(skills LEFT JOIN skill_embeddings WHERE se\.id IS NULL\): 0 rows$/m,
    );
    expect(output).toMatch(COVERAGE_COMPLETE);
    expect(output).toMatch(/^Skills most like "Build semantic search":\n( {2}\d\.\d{3} {2}.+\n){5}/m);
    expect(output).toMatch(
      /^Search "find near-duplicate documents":\n {2}\d\.\d{3} {2}Detect near-duplicate documents\n/m,
    );
    expect(output).toMatch(
      /^Near-duplicate skills \(similarity ≥ 0\.5\): [1-9]\d* pairs\n( {2}\d\.\d{3} {2}.+ {2}~ {2}.+\n)+/m,
    );
  });

  it("embeds nothing on a second run: its one request is the search's query", () => {
    const { output } = runs.second;
    expect(runs.second.code, shown(runs.second)).toBe(0);
    expect(voyageRequestsOnRerun).toBe(0);
    expect(voyageQueriesOnRerun).toEqual([
      expect.objectContaining({ input: ["find near-duplicate documents"], input_type: "query" }),
    ]);
    expect(output).not.toMatch(/emulator/i);
    expect(output).toMatch(/^Nothing to embed: every row's embedding is current$/m);
    expect(output).toMatch(/^Backfill complete: 0 embedded, 0 skipped, 0 tokens, 0 requests in /m);
    expect(output).toMatch(COVERAGE_COMPLETE);
  });

  it("leaves a database where the plan's verification query returns no row", async () => {
    const client = await PGlite.create({ dataDir: join(dataDir, "backfill-skills"), extensions: { vector } });
    try {
      const missing = await client.query(
        "select s.id from skills s left join skill_embeddings se on s.id = se.skill_id where se.id is null",
      );
      const counts = await client.query<{ skills: number; embeddings: number }>(
        "select (select count(*)::int from skills) as skills, (select count(*)::int from skill_embeddings) as embeddings",
      );
      expect(missing.rows).toEqual([]);
      expect(counts.rows[0]).toEqual({ skills: 104, embeddings: 104 });
    } finally {
      await client.close();
    }
  });
});

describe("examples/openai-same-row.ts", () => {
  it("embeds every row in place on the emulator's OpenAI endpoint and answers a nearest-neighbour query", () => {
    const { output } = runs.openaiFirst;
    expect(runs.openaiFirst.code, shown(runs.openaiFirst)).toBe(0);
    expect(output).toMatch(/^OPENAI_API_KEY is not set: using the local OpenAI emulator at /m);
    expect(output).toMatch(/^Backfill complete: 104 embedded/m);
    expect(output).toMatch(/^Verification \(skill_catalog WHERE embedding IS NULL\): 0 rows$/m);
    expect(output).toMatch(COVERAGE_COMPLETE);
    expect(output).toMatch(/^Skills nearest to ".+":\n( {2}\d\.\d{3} {2}.+\n){5}/m);
  });

  it("re-runs with no embedding request but the search query's", () => {
    expect(runs.openaiSecond.code, shown(runs.openaiSecond)).toBe(0);
    expect(runs.openaiSecond.output).toMatch(
      /^Backfill complete: 0 embedded, 0 skipped, 0 tokens, 0 requests in /m,
    );
    expect(runs.openaiSecond.output).toMatch(COVERAGE_COMPLETE);
    expect(openaiCallsOnRerun).toEqual([
      expect.objectContaining({
        status: 200,
        inputs: 1,
        body: expect.objectContaining({ input: [expect.any(String)] }),
      }),
    ]);
  });
});

describe("examples/workers.ts", () => {
  // The full run (three pg-boss worker processes, one killed) is in `npm run examples` on the real
  // server; here, only what a user without PostgreSQL sees.
  it("without DATABASE_URL says how to start a server, and exits 0 without touching anything", () => {
    const run = runs.workersWithoutServer;
    expect(run.code, shown(run)).toBe(0);
    expect(run.output).toContain("needs PostgreSQL");
    expect(run.output).toContain("bash .ci/postgres.sh run npm run example:workers -- --seed");
    expect(run.output).toMatch(/Not run\.\n$/);
  });
});

describe("examples/switch-model.ts", () => {
  type VoyageBody = { model: string; input: string[]; input_type?: string; output_dimension?: number };
  const bodies = () => switchCalls.map((call) => call.body as VoyageBody);

  it("moves the skills from voyage-3.5 to voyage-4 at 2,048 dimensions while searches run, every answer of the active model", () => {
    const { output } = runs.switchFirst;
    expect(runs.switchFirst.code, shown(runs.switchFirst)).toBe(0);
    expect(output).toMatch(/^Active model: none yet$/m);
    expect(output).toMatch(
      /^Active model: voyage-3\.5; its index: skill_embeddings_by_model_embedding_voyage_3_5_1_hnsw_idx$/m,
    );
    // Coverage of both models, printed as the new one is written: the old one stays complete.
    const lines = [
      ...output.matchAll(/^ {2}coverage: voyage-3\.5 (\d+)\/104, voyage-4 (\d+)\/104; answered: (.+)$/gm),
    ];
    expect(lines.length).toBeGreaterThanOrEqual(10);
    expect(lines.every((line) => line[1] === "104")).toBe(true);
    const newCoverage = lines.map((line) => Number(line[2]));
    expect(newCoverage).toEqual([...newCoverage].sort((a, b) => a - b));
    expect(newCoverage.at(-1)).toBe(104);
    // Stopped halfway: the cutover is refused with the coverage it found, then the backfill resumes.
    const refused = output.match(
      /^Cutover to voyage-4 refused \(coverage_incomplete\): coverage (\d+)\/104 current, 0 stale, (\d+) missing$/m,
    );
    expect(refused, output).not.toBeNull();
    const [done, missing] = [Number(refused![1]), Number(refused![2])];
    expect(done).toBeGreaterThan(0);
    expect(done + missing).toBe(104);
    expect(output).toMatch(new RegExp(`^Found ${missing} rows to embed$`, "m"));
    expect(output).toMatch(/^Index for voyage-4: skill_embeddings_by_model_embedding_voyage_4_1_hnsw_idx$/m);
    expect(output).toMatch(
      /^Cut over from voyage-3\.5 to voyage-4 \(2,048 dimensions\) at coverage 104\/104; searches answered before: \d+ searches by voyage-3\.5$/m,
    );
    expect(output).toMatch(/^Pruned voyage-3\.5: 104 vectors deleted$/m);
    expect(output).toMatch(
      /^Searches while the example ran: \d+ searches by voyage-3\.5, \d+ searches by voyage-4; every answer was of the active model$/m,
    );
    expect(output).toMatch(
      /^Search "find near-duplicate documents" now:\n( {2}\d\.\d{3} {2}.+ {2}\(voyage-4\)\n){5}/m,
    );
    expect(output).toMatch(COVERAGE_COMPLETE);
  });

  it("pays each skill's voyage-4 tokens once, interrupted or not, at 2,048 dimensions", () => {
    const documents = bodies().filter((body) => body.input_type === "document");
    const byModel = (model: string) => documents.filter((body) => body.model === model);
    const inputs = (list: VoyageBody[]) => list.flatMap((body) => body.input);
    expect(inputs(byModel("voyage-3.5"))).toHaveLength(104);
    expect(new Set(inputs(byModel("voyage-4"))).size).toBe(104);
    expect(inputs(byModel("voyage-4"))).toHaveLength(104);
    expect(byModel("voyage-4").every((body) => body.output_dimension === 2048)).toBe(true);
    // The searches embed their text as queries, with the active model's provider.
    const queries = bodies().filter((body) => body.input_type === "query");
    expect(queries.length).toBeGreaterThan(10);
    expect(new Set(queries.map((body) => body.model))).toEqual(new Set(["voyage-3.5", "voyage-4"]));
  });
});
