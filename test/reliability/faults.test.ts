/*
 * Provider faults, end to end: the real Voyage / OpenAI providers against the emulator (through MSW
 * and through the loopback server), writing through drizzleStore into PGlite and a real PostgreSQL.
 * Each fault ends one of two ways, and the test says which: the backfill completes with every row
 * correct, or it fails fast with a typed error naming the rows of the failed batch. Either way the
 * invariant holds: no wrong vector is ever stored.
 */

import { HttpResponse, http } from "msw";
import { setupServer } from "msw/node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  APICallError,
  BackfillError,
  type BackfillOptions,
  type BackfillReport,
  backfill,
  DimensionMismatchError,
  InvalidResponseError,
} from "../../src/index.js";
import { createEmbeddingsEmulator, type EmulatorFault, type InjectOptions } from "../../src/testing/index.js";
import { type DatabaseFactory, databases, type TestDatabase } from "../support/index.js";
import {
  describeOnServer,
  type EmulatorHarness,
  FAST,
  itemStore,
  itemTables,
  itemText,
  OPENAI_MODEL,
  openai,
  rejectionOf,
  resetEmulator,
  resetItems,
  seedRow,
  type Transport,
  useEmulator,
  verifyEmbeddings,
  voyage,
  writeTally,
} from "./harness.js";
import { SEED } from "./processes.js";

writeTally("faults");

const ROWS = 24;
const tables = itemTables("faults");
const seeded = Array.from({ length: ROWS }, (_, i) => seedRow(i + 1));
const idOfText = new Map(seeded.map((row) => [itemText(row), row.id]));

type Api = "voyage" | "openai";

interface FaultCase {
  readonly name: string;
  /**
   * Where it runs: `pglite` (the default) on PGlite through MSW and through the loopback server; `all`
   * also on the real server (node-postgres, loopback). The provider does not care where vectors go:
   * the real server repeats the cases where writes and failures interleave.
   */
  readonly scope?: "all" | "pglite";
  readonly api?: Api;
  readonly faults: ReadonlyArray<readonly [EmulatorFault, InjectOptions?]>;
  readonly options?: Partial<Omit<BackfillOptions, "provider" | "store">>;
  readonly provider?: { timeoutMs?: number };
  /** How the run must end: complete, or fail with this cause. */
  readonly outcome:
    | {
        readonly completes: true;
        readonly check?: (report: BackfillReport, h: EmulatorHarness) => void;
      }
    | {
        readonly fails: (cause: unknown) => boolean;
        /** Whether a second run, with the fault gone, is expected to finish the job. */
        readonly resumes?: boolean;
      };
}

const isReason = (reason: string, status?: number) => (cause: unknown) =>
  APICallError.isInstance(cause) &&
  cause.reason === reason &&
  (status === undefined || cause.status === status);

const CASES: FaultCase[] = [
  {
    name: "429 storm with Retry-After",
    scope: "all",
    faults: [[{ type: "rate_limit", retryAfterMs: 1000 }, { times: 8 }]],
    outcome: { completes: true, check: (r) => expect(r.rateLimited).toBe(8) },
  },
  {
    name: "a 429 whose Retry-After (1 s) is honoured",
    scope: "pglite",
    faults: [[{ type: "rate_limit", retryAfterMs: 1000 }, { afterRequests: 1 }]],
    options: { retryMaxDelayMs: 5000 },
    outcome: { completes: true, check: (r) => expect(r.durationMs).toBeGreaterThanOrEqual(950) },
  },
  {
    name: "a 429 storm longer than maxRetryTimeMs",
    faults: [[{ type: "rate_limit", retryAfterMs: null }, { times: 1000 }]],
    options: { maxRetryTimeMs: 150, concurrency: 1 },
    outcome: { fails: isReason("rate_limit", 429) },
  },
  {
    name: "429 storm without Retry-After",
    faults: [[{ type: "rate_limit", retryAfterMs: null }, { times: 8 }]],
    outcome: { completes: true, check: (r) => expect(r.rateLimited).toBe(8) },
  },
  {
    name: "429s outnumbering `retries` (they do not use it up)",
    faults: [[{ type: "rate_limit", retryAfterMs: null }, { times: 6 }]],
    options: { retries: 1 },
    outcome: { completes: true },
  },
  ...([500, 502, 503, 504] as const).map(
    (status): FaultCase => ({
      name: `HTTP ${status}`,
      faults: [
        [
          { type: "server_error", status },
          { times: 3, afterRequests: 1 },
        ],
      ],
      outcome: { completes: true, check: (r) => expect(r.retries).toBeGreaterThanOrEqual(3) },
    }),
  ),
  {
    name: "dropped connections",
    scope: "all",
    faults: [[{ type: "drop_connection" }, { times: 3, afterRequests: 2 }]],
    outcome: { completes: true, check: (r) => expect(r.retries).toBe(3) },
  },
  {
    name: "a stall past the provider's timeoutMs",
    scope: "all",
    faults: [[{ type: "stall", ms: 10_000 }, { afterRequests: 1 }]],
    provider: { timeoutMs: 250 },
    outcome: { completes: true, check: (r) => expect(r.retries).toBeGreaterThanOrEqual(1) },
  },
  {
    name: "malformed JSON",
    faults: [[{ type: "malformed_json" }, { afterRequests: 1 }]],
    outcome: { fails: InvalidResponseError.isInstance, resumes: true },
  },
  {
    name: "503 past `retries`",
    scope: "all",
    faults: [
      [
        { type: "server_error", status: 503 },
        { times: 3, afterRequests: 2 },
      ],
    ],
    options: { retries: 2, concurrency: 1 },
    outcome: { fails: isReason("server", 503), resumes: true },
  },
  {
    name: "a wrong number of embeddings",
    scope: "all",
    faults: [[{ type: "wrong_count", delta: -1 }, { afterRequests: 2 }]],
    outcome: { fails: InvalidResponseError.isInstance, resumes: true },
  },
  {
    name: "an extra embedding",
    faults: [[{ type: "wrong_count", delta: 1 }, { afterRequests: 1 }]],
    outcome: { fails: InvalidResponseError.isInstance, resumes: true },
  },
  {
    name: "wrong dimensions",
    faults: [[{ type: "wrong_dimension" }, { afterRequests: 2 }]],
    outcome: {
      fails: (cause) => DimensionMismatchError.isInstance(cause) && cause.source === "response",
      resumes: true,
    },
  },
  {
    name: "a NaN value",
    scope: "all",
    faults: [[{ type: "nan", index: 2 }, { afterRequests: 1 }]],
    outcome: { fails: InvalidResponseError.isInstance, resumes: true },
  },
  {
    name: "an invalid key mid-run",
    scope: "all",
    faults: [[{ type: "invalid_key" }, { afterRequests: 3 }]],
    outcome: { fails: isReason("authentication", 401), resumes: true },
  },
  {
    name: "a forbidden key",
    faults: [[{ type: "forbidden" }]],
    outcome: { fails: isReason("permission", 403), resumes: true },
  },
  // OpenAI's own: quota, retry-after-ms, a body that is not JSON.
  {
    name: "OpenAI insufficient_quota (never retried)",
    scope: "all",
    api: "openai",
    faults: [[{ type: "insufficient_quota" }, { afterRequests: 1 }]],
    outcome: { fails: isReason("quota_exceeded", 429), resumes: true },
  },
  {
    name: "OpenAI 429 storm with retry-after-ms",
    api: "openai",
    faults: [[{ type: "rate_limit", retryAfterMs: 30 }, { times: 6 }]],
    outcome: { completes: true, check: (r) => expect(r.rateLimited).toBe(6) },
  },
  {
    name: "OpenAI 502 then a dropped connection",
    api: "openai",
    faults: [
      [{ type: "server_error", status: 502 }, { afterRequests: 1 }],
      [{ type: "drop_connection" }, { afterRequests: 1 }],
    ],
    outcome: { completes: true, check: (r) => expect(r.retries).toBe(2) },
  },
  {
    name: "OpenAI malformed JSON",
    api: "openai",
    faults: [[{ type: "malformed_json" }, { afterRequests: 1 }]],
    outcome: { fails: InvalidResponseError.isInstance, resumes: true },
  },
  {
    name: "OpenAI wrong dimensions",
    api: "openai",
    faults: [[{ type: "wrong_dimension", dimensions: 255 }, { afterRequests: 2 }]],
    outcome: { fails: DimensionMismatchError.isInstance, resumes: true },
  },
];

function faultSuite(database: DatabaseFactory, transports: readonly Transport[]): void {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await database.create();
    await t.exec(tables.ddl);
  });
  afterAll(() => t?.close());
  beforeEach(() => resetItems(t.db, tables, seeded));

  for (const transport of transports) {
    describe(`through ${transport}`, () => {
      const h = useEmulator(transport);

      const run = (c: FaultCase) => {
        const api = c.api ?? "voyage";
        const provider =
          api === "voyage" ? voyage(h.voyageBaseURL, c.provider) : openai(h.openaiBaseURL, c.provider);
        return backfill({ provider, store: itemStore(t.db, tables), ...FAST, ...c.options });
      };
      const verify = (c: FaultCase) =>
        verifyEmbeddings(t.db, tables, { model: c.api === "openai" ? OPENAI_MODEL : undefined });

      const realServer = database.realServer;
      for (const c of CASES.filter((c) => !realServer || c.scope === "all")) {
        it(c.name, async () => {
          for (const [fault, options] of c.faults) {
            h.emulator.inject(fault, { api: c.api ?? "voyage", ...options });
          }
          const { outcome } = c;
          if ("completes" in outcome) {
            const report = await run(c);
            expect(h.emulator.pendingFaults).toBe(0);
            outcome.check?.(report, h);
            expect(report).toMatchObject({ embedded: ROWS, failed: 0, skipped: 0 });
            expect(await verify(c)).toMatchObject({ rows: ROWS, current: ROWS, pending: 0 });
            return;
          }

          const error = await rejectionOf(run(c));
          expect(BackfillError.isInstance(error), String(error)).toBe(true);
          expect(outcome.fails(error.cause), String(error.cause)).toBe(true);
          expect(error.rolledBack).toBe(false);
          // The rows named are those of the request that got the fault (none other failed).
          const faulted = h.emulator.calls.filter((call) => call.fault !== undefined);
          const sent = faulted.flatMap((call) =>
            ((call.body as { input: string[] }).input ?? []).map((text) => idOfText.get(text)),
          );
          expect([...error.rowIds].sort()).toEqual([...new Set(sent)].sort());
          expect(error.report.failed).toBe(error.rowIds.length);
          // Fail fast: after the fatal answer, at most the requests already in flight.
          const fatal = faulted[faulted.length - 1]!.id;
          const later = h.emulator.calls.filter((call) => call.id > fatal);
          expect(later.length).toBeLessThanOrEqual((c.options?.concurrency ?? FAST.concurrency) - 1);
          // Nothing wrong stored; the failed rows are still pending; what was reported written is there.
          const after = await verify(c);
          expect(after.current).toBe(error.report.embedded);
          for (const id of error.rowIds) expect(after.pendingIds).toContain(String(id));

          if (outcome.resumes) {
            resetEmulator(h.emulator);
            const report = await run(c);
            expect(report.embedded).toBe(after.pending);
            expect(await verify(c)).toMatchObject({ current: ROWS, pending: 0 });
          }
        });
      }

      it("atomic: a fault mid-run rolls every write back", async () => {
        h.emulator.inject("invalid_key", { afterRequests: 3 });
        const error = await rejectionOf(
          backfill({
            provider: voyage(h.voyageBaseURL),
            store: itemStore(t.db, tables),
            ...FAST,
            atomic: true,
          }),
        );
        expect(error).toMatchObject({ name: "BackfillError", rolledBack: true, report: { embedded: 0 } });
        expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ rows: ROWS, current: 0 });
      });

      it("seeded random faults on 40% of requests: every run completes or fails typed; re-runs converge", async () => {
        const CHAOS_ROWS = 120;
        await resetItems(
          t.db,
          tables,
          Array.from({ length: CHAOS_ROWS }, (_, i) => seedRow(i + 1)),
        );
        h.emulator.setFaults({
          seed: SEED,
          faults: [
            { fault: { type: "rate_limit", retryAfterMs: null }, probability: 0.08 },
            { fault: { type: "server_error", status: 503 }, probability: 0.06 },
            { fault: { type: "server_error", status: 502 }, probability: 0.04 },
            { fault: "drop_connection", probability: 0.06 },
            { fault: { type: "stall", ms: 5000 }, probability: 0.04 },
            { fault: "malformed_json", probability: 0.03 },
            { fault: "wrong_count", probability: 0.03 },
            { fault: "wrong_dimension", probability: 0.03 },
            { fault: "nan", probability: 0.03 },
          ],
        });
        const TYPED = [
          InvalidResponseError.isInstance,
          DimensionMismatchError.isInstance,
          APICallError.isInstance,
        ];
        let runs = 0;
        let failures = 0;
        for (; runs < 40; runs++) {
          try {
            await backfill({
              provider: voyage(h.voyageBaseURL, { timeoutMs: 150 }),
              store: itemStore(t.db, tables),
              ...FAST,
              maxInputsPerRequest: 6,
              concurrency: 3,
            });
            break;
          } catch (error) {
            failures++;
            expect(BackfillError.isInstance(error), String(error)).toBe(true);
            const cause = (error as BackfillError).cause;
            expect(
              TYPED.some((is) => is(cause)),
              String(cause),
            ).toBe(true);
            await verifyEmbeddings(t.db, tables);
          }
        }
        expect(runs).toBeLessThan(40);
        expect(failures).toBeGreaterThan(0);
        expect(await verifyEmbeddings(t.db, tables)).toMatchObject({ rows: CHAOS_ROWS, current: CHAOS_ROWS });
      });
    });
  }

  if (database.realServer) return;
  describe("answers whose embeddings are not in input order", () => {
    // The emulator's answer, rewritten on its way back: `data` reversed (by `index`), or unindexed.
    const emulator = createEmbeddingsEmulator();
    let rewrite: (data: Array<{ index?: number }>) => unknown[] = (data) => data;
    const server = setupServer(
      http.post("https://:host/v1/embeddings", async ({ request }) => {
        const api = new URL(request.url).host.includes("voyage") ? "voyage" : "openai";
        const headers: Record<string, string> = {};
        request.headers.forEach((value, name) => {
          headers[name] = value;
        });
        const outcome = await emulator.handle({
          api,
          method: "POST",
          url: request.url,
          path: "/v1/embeddings",
          headers,
          body: await request.text(),
        });
        if (outcome.kind !== "response") return HttpResponse.error();
        const body = JSON.parse(outcome.body);
        return HttpResponse.json({ ...body, data: rewrite(body.data) }, { status: outcome.status });
      }),
    );
    beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
    afterAll(() => {
      server.close();
      resetEmulator(emulator);
    });

    it.each([
      ["voyage", "reversed, each with its index"],
      ["openai", "reversed, each with its index"],
      ["voyage", "in order, without index"],
    ] as const)("%s: %s → every vector lands on its own row", async (api, how) => {
      rewrite = how.startsWith("reversed")
        ? (data) => [...data].reverse()
        : (data) => data.map(({ index: _index, ...rest }) => rest);
      const provider =
        api === "voyage" ? voyage("https://api.voyageai.com/v1") : openai("https://api.openai.com/v1");
      expect(await backfill({ provider, store: itemStore(t.db, tables), ...FAST })).toMatchObject({
        embedded: ROWS,
      });
      expect(
        await verifyEmbeddings(t.db, tables, { model: api === "openai" ? OPENAI_MODEL : undefined }),
      ).toMatchObject({ current: ROWS });
    });
  });

  describe("an OpenAI-compatible server sending float arrays", () => {
    const h = useEmulator("loopback", { openaiIgnoresEncodingFormat: true });
    const run = () =>
      backfill({ provider: openai(h.openaiBaseURL), store: itemStore(t.db, tables), ...FAST });

    it("float arrays are used as they are (not shrunk to a quarter by a base64 decoder)", async () => {
      expect(await run()).toMatchObject({ embedded: ROWS });
      expect(await verifyEmbeddings(t.db, tables, { model: OPENAI_MODEL })).toMatchObject({ current: ROWS });
    });

    it.each(["null", "string"] as const)(
      "a NaN sent as %s fails the batch with InvalidResponseError",
      async (as) => {
        h.emulator.inject({ type: "nan", as }, { afterRequests: 2 });
        const error = await rejectionOf(run());
        expect(InvalidResponseError.isInstance(error.cause)).toBe(true);
        expect(error.rowIds).toHaveLength(FAST.maxInputsPerRequest);
        await verifyEmbeddings(t.db, tables, { model: OPENAI_MODEL });
      },
    );
  });
}

describe("reliability: provider faults [pglite]", () => faultSuite(databases[0]!, ["msw", "loopback"]));
describeOnServer("reliability: provider faults", (database) => faultSuite(database, ["loopback"]));
