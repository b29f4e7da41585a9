/*
 * `npm run bench:staleness`: what a re-run costs when (almost) nothing changed, on the real server.
 * Skills are seeded in SQL (generate_series; ~1,660-character texts, NULL descriptions, NULL and empty
 * tags) with current vectors of 256 dimensions (voyage-3.5's smallest output), so no provider is
 * needed to set up. Side by side, each `backfill()` in a child process of its own (its peak RSS is the
 * child's maxRSS):
 *
 * - a no-op re-run with the SQL text recipe vs the bare SQL anti-join that finds the same (no) rows;
 *   the same re-run with the JavaScript recipe, against the same anti-join;
 * - `coverage()` (SQL recipe) vs the bare aggregate query;
 * - one row edited among all: found and re-embedded (loopback Voyage emulator) vs the no-op run;
 * - peak RSS of the no-op run at the full size vs at a tenth of it;
 * - rows of source text the no-op scan returned (`report.scanned`): 0.
 *
 * Writes its section of bench/RESULTS.md (between the `bench:staleness` markers). Not run in CI.
 *
 *   npm run bench:staleness [-- --rows N] [--driver node-postgres|postgres.js] [--out FILE]
 *                           [--keep] [--reuse DATABASE]   (keep the seeded database / measure on it again)
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { sql } from "drizzle-orm";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { integer, pgTable, text, vector } from "drizzle-orm/pg-core";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import pg from "pg";
import postgres from "postgres";
import { drizzleStore } from "../adapters/drizzle/index.js";
import { voyageProvider } from "../providers/voyage/index.js";
import { backfill } from "../src/index.js";
import { createEmbeddingsEmulator } from "../src/testing/index.js";
import type { AnyDb } from "./db.js";
import { replaceMarkedSection } from "./sections.js";

const DIMENSIONS = 256;
const MODEL = "voyage-3.5";
const VERSION = "1";
const TARGETS = { noop: 1.5, coverage: 1.5, edit: 2, rss: 1.3 } as const;

function tables(rows: number) {
  const skills = pgTable(`stale_skills_${rows}`, {
    id: integer("id").primaryKey(),
    name: text("name").notNull(),
    description: text("description"),
    content: text("content").notNull(),
    tags: text("tags").array(),
  });
  const embeddings = pgTable(`stale_embeddings_${rows}`, {
    skillId: integer("skill_id").primaryKey(),
    embedding: vector("embedding", { dimensions: DIMENSIONS }).notNull(),
    modelName: text("model_name").notNull(),
    modelVersion: text("model_version").notNull(),
    inputHash: text("input_hash").notNull(),
  });
  return { skills, embeddings };
}

/** The plan's recipe in SQL, as text over the raw table (for the bare queries and the seed). */
const TWIN = "array_to_string(array[s.name, s.description, s.content] || s.tags, ' ', '')";
const HASH = `encode(sha256(convert_to(coalesce(${TWIN}, ''), 'UTF8')), 'hex')`;

// ---------------------------------------------------------------------------------------- child

type ChildMode = "noop-sql" | "noop-js" | "coverage-sql" | "edit-sql";
interface ChildResult {
  readonly ms: number;
  readonly scanned: number;
  readonly embedded: number;
  readonly requests: number;
  readonly maxRssKb: number;
}

async function child(mode: ChildMode, url: string, rows: number, driver: string): Promise<void> {
  const { skills, embeddings } = tables(rows);
  let db: AnyDb;
  let close: () => Promise<void>;
  if (driver === "postgres.js") {
    const client = postgres(url, { max: 4, onnotice: () => {} });
    db = drizzlePostgres({ client }) as unknown as AnyDb;
    close = () => client.end({ timeout: 5 });
  } else {
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    db = drizzleNodePg({ client: pool }) as unknown as AnyDb;
    close = () => pool.end();
  }
  const emulator = await createEmbeddingsEmulator().listen();
  const text = mode.endsWith("-js")
    ? (s: typeof skills.$inferSelect) => [s.name, s.description, s.content, ...(s.tags ?? [])].join(" ")
    : sql`array_to_string(array[${skills.name}, ${skills.description}, ${skills.content}] || ${skills.tags}, ' ', '')`;
  const store = drizzleStore({
    db,
    version: VERSION,
    source: { table: skills, key: skills.id, text },
    target: {
      table: embeddings,
      key: embeddings.skillId,
      embedding: embeddings.embedding,
      model: embeddings.modelName,
      version: embeddings.modelVersion,
      hash: embeddings.inputHash,
    },
  });
  const provider = voyageProvider({
    model: MODEL,
    outputDimension: DIMENSIONS,
    apiKey: "pa-bench-emulator",
    baseURL: emulator.voyageBaseUrl,
  });
  const started = performance.now();
  let result: Omit<ChildResult, "ms" | "maxRssKb">;
  if (mode === "coverage-sql") {
    const coverage = await store.coverage(provider);
    result = { scanned: coverage.total - coverage.embedded, embedded: 0, requests: 0 };
  } else {
    const report = await backfill({ provider, store });
    result = { scanned: report.scanned, embedded: report.embedded, requests: report.requests };
  }
  const ms = performance.now() - started;
  await close();
  await emulator.close();
  const out: ChildResult = { ...result, ms, maxRssKb: process.resourceUsage().maxRSS };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

// --------------------------------------------------------------------------------------- parent

const SELF = fileURLToPath(import.meta.url);

function runChild(mode: ChildMode, url: string, rows: number, driver: string): ChildResult {
  const output = execFileSync(
    process.execPath,
    ["--import", "tsx", SELF, "--child", mode, "--url", url, "--rows", String(rows), "--driver", driver],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 1 << 20,
    },
  );
  const last = output.trim().split("\n").at(-1)!;
  return JSON.parse(last) as ChildResult;
}

async function seed(client: pg.Client, rows: number): Promise<void> {
  const s = `stale_skills_${rows}`;
  const e = `stale_embeddings_${rows}`;
  const vectorLiteral = `[${Array.from({ length: DIMENSIONS }, (_, i) => ((i % 7) + 1) / 10).join(",")}]`;
  await client.query(`
    drop table if exists ${e}; drop table if exists ${s};
    create table ${s} (id integer primary key, name text not null, description text, content text not null, tags text[]);
    create table ${e} (
      skill_id integer primary key references ${s}(id) on delete cascade,
      embedding vector(${DIMENSIONS}) not null,
      model_name text not null, model_version text not null, input_hash text not null
    );`);
  // ~1,660 characters of hex words per skill (little for TOAST to compress), every 10th description
  // NULL, tags NULL, empty or two words.
  await client.query(`
    insert into ${s} (id, name, description, content, tags)
    select i, 'skill ' || i,
      case when i % 10 = 0 then null else 'parses format ' || (i % 97) end,
      (select string_agg(md5(i::text || '-' || j), ' ') from generate_series(1, 50) j),
      case i % 3 when 0 then null when 1 then array['csv', 't' || (i % 11)] else '{}'::text[] end
    from generate_series(1, ${rows}) i`);
  await client.query(
    `insert into ${e} (skill_id, embedding, model_name, model_version, input_hash)
     select s.id, $1::vector, $2, $3, ${HASH} from ${s} s`,
    [vectorLiteral, MODEL, VERSION],
  );
  await client.query(`vacuum analyze ${s}`);
  await client.query(`vacuum analyze ${e}`);
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

async function parent(rows: number, driver: string, out: string, reuse: string | undefined): Promise<void> {
  const server = process.env.DATABASE_URL;
  if (!server) throw new Error("bench:staleness runs on the real server: set DATABASE_URL");
  const name = reuse ?? `relay_bench_stale_${process.pid}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  if (!reuse) await admin.query(`create database ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  const loadStart = loadavg();
  const uptime = () => execFileSync("uptime", { encoding: "utf8" }).trim();
  const uptimes = [uptime()];
  try {
    await client.query("create extension if not exists vector");
    const small = Math.max(1, Math.round(rows / 10));
    const seeding = await timed(async () => {
      if (reuse) return;
      await seed(client, small);
      await seed(client, rows);
    });
    console.log(`seeded ${rows} + ${small} rows in ${(seeding.ms / 1000).toFixed(1)} s`);
    const s = `stale_skills_${rows}`;
    const e = `stale_embeddings_${rows}`;
    // Each bare query on a new connection, connecting included, as each child's run connects: the
    // first statement of a session is slower here, and a nightly run opens its own connections.
    const fresh = async <T>(work: (c: pg.Client) => Promise<T>): Promise<T> => {
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      try {
        return await work(c);
      } finally {
        await c.end();
      }
    };
    const antiJoin = () =>
      timed(async () => {
        const result = await fresh((c) =>
          c.query(
            `select s.id, ${TWIN} as text from ${s} s left join ${e} e on e.skill_id = s.id
           where e.skill_id is null or e.model_name <> $1 or e.model_version <> $2 or e.input_hash <> ${HASH}`,
            [MODEL, VERSION],
          ),
        );
        return result.rowCount ?? 0;
      });
    const aggregate = () =>
      timed(async () => {
        const result = await fresh((c) =>
          c.query(
            `select count(*) as total, count(e.skill_id) as stored,
             count(*) filter (where e.model_name = $1 and e.model_version = $2 and e.input_hash = ${HASH}) as current
           from ${s} s left join ${e} e on e.skill_id = s.id`,
            [MODEL, VERSION],
          ),
        );
        return Number(result.rows[0].current);
      });
    const best = <T extends { ms: number }>(runs: T[]) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));

    // Warm the caches once, then alternate the contenders, best of two each.
    await antiJoin();
    const bare: { ms: number; value: number }[] = [];
    const noopSql: ChildResult[] = [];
    for (let round = 0; round < 2; round++) {
      bare.push(await antiJoin());
      noopSql.push(runChild("noop-sql", url.toString(), rows, driver));
    }
    console.log("anti-join", bare, "no-op (SQL recipe)", noopSql);
    const noopJs = runChild("noop-js", url.toString(), rows, driver);
    bare.push(await antiJoin());
    console.log("no-op (JavaScript recipe)", noopJs);
    uptimes.push(uptime());
    const bareAggregate: { ms: number; value: number }[] = [];
    const coverage: ChildResult[] = [];
    for (let round = 0; round < 2; round++) {
      bareAggregate.push(await aggregate());
      coverage.push(runChild("coverage-sql", url.toString(), rows, driver));
    }
    console.log("aggregate", bareAggregate, "coverage()", coverage);
    await client.query(`update ${s} set content = content || ' edited' where id = $1`, [Math.ceil(rows / 2)]);
    const edit = runChild("edit-sql", url.toString(), rows, driver);
    console.log("one edited row", edit);
    const smallNoop = runChild("noop-sql", url.toString(), small, driver);
    const smallNoopJs = runChild("noop-js", url.toString(), small, driver);
    console.log("no-op at a tenth", smallNoop, smallNoopJs);
    uptimes.push(uptime());

    const baseline = best(bare).ms;
    const sqlRun = best(noopSql);
    const ratios = {
      noop: sqlRun.ms / baseline,
      js: noopJs.ms / baseline,
      coverage: best(coverage).ms / best(bareAggregate).ms,
      edit: edit.ms / sqlRun.ms,
      rss: sqlRun.maxRssKb / smallNoop.maxRssKb,
      rssJs: noopJs.maxRssKb / smallNoopJs.maxRssKb,
    };
    const met = (ok: boolean) => (ok ? "met" : "**missed**");
    const n = new Intl.NumberFormat("en-US");
    const sec = (ms: number) => (ms / 1000).toFixed(2);
    const mb = (kb: number) => (kb / 1024).toFixed(0);
    const checks = [
      [
        "No-op re-run, SQL recipe, vs the bare anti-join",
        `${sec(sqlRun.ms)} s vs ${sec(baseline)} s`,
        `${ratios.noop.toFixed(2)}×`,
        `≤ ${TARGETS.noop}×: ${met(ratios.noop <= TARGETS.noop)}`,
      ],
      [
        "No-op re-run, JavaScript recipe, vs the same anti-join",
        `${sec(noopJs.ms)} s vs ${sec(baseline)} s`,
        `${ratios.js.toFixed(2)}×`,
        "reported",
      ],
      [
        "`coverage()`, SQL recipe, vs the bare aggregate",
        `${sec(best(coverage).ms)} s vs ${sec(best(bareAggregate).ms)} s`,
        `${ratios.coverage.toFixed(2)}×`,
        `≤ ${TARGETS.coverage}×: ${met(ratios.coverage <= TARGETS.coverage)}`,
      ],
      [
        "One edited row found and re-embedded vs the no-op run",
        `${sec(edit.ms)} s vs ${sec(sqlRun.ms)} s (${edit.embedded} embedded, ${edit.requests} request)`,
        `${ratios.edit.toFixed(2)}×`,
        `≤ ${TARGETS.edit}×: ${met(ratios.edit <= TARGETS.edit && edit.embedded === 1)}`,
      ],
      [
        `Peak RSS of the no-op run (SQL recipe), ${n.format(rows)} vs ${n.format(small)} rows`,
        `${mb(sqlRun.maxRssKb)} MB vs ${mb(smallNoop.maxRssKb)} MB`,
        `${ratios.rss.toFixed(2)}×`,
        `≤ ${TARGETS.rss}×: ${met(ratios.rss <= TARGETS.rss)}`,
      ],
      [
        `Peak RSS of the no-op run (JavaScript recipe), ${n.format(rows)} vs ${n.format(small)} rows`,
        `${mb(noopJs.maxRssKb)} MB vs ${mb(smallNoopJs.maxRssKb)} MB`,
        `${ratios.rssJs.toFixed(2)}×`,
        "reported",
      ],
      [
        "Rows of source text the no-op scan returned (SQL recipe)",
        `${n.format(sqlRun.scanned)} (JavaScript recipe: every row read, ${n.format(noopJs.scanned)} pending)`,
        "",
        `0: ${met(sqlRun.scanned === 0)}`,
      ],
    ];
    const section = `## Staleness in the database (\`npm run bench:staleness\`)

\`npm run bench:staleness -- --rows ${rows}${driver === "node-postgres" ? "" : ` --driver ${driver}`}\` — ${new Date().toISOString().slice(0, 10)}, PostgreSQL (${driver}), Node ${process.version}, ${cpus().length} CPUs, load average ${loadStart.map((l) => l.toFixed(1)).join(" / ")} at the start.

${n.format(rows)} skills seeded in SQL (\`generate_series\`: ~1,660-character texts, every 10th description NULL, tags NULL, empty or two words) with current vectors of ${DIMENSIONS} dimensions (voyage-3.5's smallest output; no provider needed), and the same at ${n.format(small)} rows. Each \`backfill()\` and \`coverage()\` ran in a child process of its own (fresh store, connecting included; peak RSS is the child's maxRSS); the bare queries ran from the parent, each on a new connection (connecting included, as in the children), their result rows fetched. Best of two for the SQL-recipe runs and their baselines, one JavaScript-recipe run. The bare anti-join is \`skills LEFT JOIN skill_embeddings\` where the vector is missing or its model, version or \`input_hash\` differs from \`sha256()\` of the SQL twin of the plan's recipe; the bare aggregate counts total, stored and current rows the same way.

| Measure | Time | Ratio | Target |
| --- | --- | --- | --- |
${checks.map((row) => `| ${row.join(" | ")} |`).join("\n")}

\`uptime\` during the run: ${uptimes.map((u) => `\`${u.replace(/^.*load average/, "load average")}\``).join(", then ")}. ${reuse ? "Seeded by an earlier run (`--reuse`)." : `Seeding took ${(seeding.ms / 1000).toFixed(0)} s.`}`;
    writeFileSync(out, replaceMarkedSection(out, "staleness", section));
    console.log(section);
    console.log(`Wrote the staleness section of ${out}`);
  } finally {
    await client.end();
    if (reuse) console.log(`Kept database ${name} (--reuse)`);
    else if (values.keep) console.log(`Kept database ${name}: run again with --reuse ${name}`);
    else await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "100000" },
    driver: { type: "string", default: "node-postgres" },
    out: { type: "string", default: "bench/RESULTS.md" },
    child: { type: "string" },
    keep: { type: "boolean", default: false },
    reuse: { type: "string" },
    url: { type: "string" },
  },
});
const rows = Number(values.rows);
if (!Number.isSafeInteger(rows) || rows < 10) throw new Error("--rows: an integer of at least 10");
if (values.driver !== "node-postgres" && values.driver !== "postgres.js") {
  throw new Error("--driver: node-postgres or postgres.js");
}
if (values.child) await child(values.child as ChildMode, values.url!, rows, values.driver);
else await parent(rows, values.driver, values.out!, values.reuse);
