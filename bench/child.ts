/*
 * One benchmark job in its own process, so its peak RSS is its own: seeds a fresh database, tells the
 * parent it is ready (the parent resets the emulator), runs one contender or the write-path test, and
 * reports over IPC. Started by bench/index.ts with `fork()`; not meant to be run by hand.
 */
import { eq, isNull, sql } from "drizzle-orm";
import { drizzleStore } from "../adapters/drizzle/index.js";
import { hashText } from "../src/hash.js";
import type { EmbeddingRecord } from "../src/index.js";
import { deterministicEmbedding } from "../src/testing/index.js";
import type { ContenderContext, ContenderOutcome } from "./contenders/types.js";
import { skillRange, skillText } from "./data.js";
import { type BenchDatabase, openDatabase } from "./db.js";
import { startPeakRss } from "./measure.js";
import type {
  ChildJob,
  ChildMessage,
  ContenderJob,
  ParentMessage,
  PhaseResult,
  Verification,
  WritePathJob,
} from "./protocol.js";
import { type RawRow, rawCopy } from "./raw-copy.js";
import { DIMENSIONS, EMBEDDING_VERSION, MODEL, skillEmbeddings, skills } from "./schema.js";

const send = (message: ChildMessage) =>
  new Promise<void>((resolve, reject) =>
    process.send!(message, (e: Error | null) => (e ? reject(e) : resolve())),
  );

const go = () =>
  new Promise<void>((resolve) => {
    const listener = (message: ParentMessage) => {
      if (message.type !== "go") return;
      process.off("message", listener);
      resolve();
    };
    process.on("message", listener);
  });

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : "";
  return `${error.name}: ${error.message}${cause}`.slice(0, 400);
}

type Measured = "wallMs" | "cpuMs" | "peakRssKb" | "rssSinceStart" | "memory";

async function phase(work: () => Promise<Omit<PhaseResult, Measured>>): Promise<PhaseResult> {
  global.gc?.();
  const peak = startPeakRss();
  const cpu = process.cpuUsage();
  // Where the memory is (sampled): the JS heap, or buffers outside it.
  const memory = { heapUsedKb: 0, externalKb: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    memory.heapUsedKb = Math.max(memory.heapUsedKb, m.heapUsed / 1024);
    memory.externalKb = Math.max(memory.externalKb, m.external / 1024);
  };
  const sampler = setInterval(sample, 200);
  const started = performance.now();
  let outcome: Omit<PhaseResult, Measured>;
  try {
    outcome = await work();
  } catch (error) {
    outcome = { written: 0, error: errorText(error) };
  }
  const wallMs = performance.now() - started;
  clearInterval(sampler);
  sample();
  const used = process.cpuUsage(cpu);
  const { peakKb, sinceStart } = peak();
  return {
    ...outcome,
    wallMs,
    cpuMs: (used.user + used.system) / 1000,
    peakRssKb: peakKb,
    rssSinceStart: sinceStart,
    memory,
  };
}

async function verify(database: BenchDatabase, job: ContenderJob): Promise<Verification> {
  const { db } = database;
  const [missing] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(skills)
    .leftJoin(skillEmbeddings, eq(skills.id, skillEmbeddings.skillId))
    .where(isNull(skillEmbeddings.id));
  const [stored] = await db.select({ n: sql<number>`count(*)::int` }).from(skillEmbeddings);
  // A spread sample: the stored vector and hash must be those of the row's own text.
  const step = Math.max(1, Math.floor(job.data.rows / 25));
  const ids = Array.from({ length: Math.ceil(job.data.rows / step) }, (_, i) => 1 + i * step);
  let mismatches = 0;
  for (const id of ids) {
    const [row] = await db
      .select({ skill: skills, embedding: skillEmbeddings.embedding, hash: skillEmbeddings.inputHash })
      .from(skills)
      .innerJoin(skillEmbeddings, eq(skills.id, skillEmbeddings.skillId))
      .where(eq(skills.id, id));
    if (!row) continue;
    const text = skillText(row.skill);
    const expected = deterministicEmbedding(text, DIMENSIONS);
    const close =
      row.embedding.length === DIMENSIONS && row.embedding.every((x, i) => Math.abs(x - expected[i]!) < 1e-6);
    if (!close || row.hash !== hashText(text)) mismatches++;
  }
  return { missing: missing!.n, embeddings: stored!.n, sampled: ids.length, sampleMismatches: mismatches };
}

async function runContender(job: ContenderJob, database: BenchDatabase): Promise<void> {
  const ctx: ContenderContext = {
    database,
    voyageBaseUrl: job.voyageBaseUrl,
    apiKey: job.apiKey,
    library: job.library,
  };
  // Only the contender's own modules are loaded: their memory is the contender's.
  let run: () => Promise<Omit<PhaseResult, Measured>>;
  if (job.contender === "library") {
    const { runLibrary } = await import("./contenders/library.js");
    run = async () => {
      const { skippedRows: _, ...report } = await runLibrary(ctx);
      return { written: report.embedded, report, note: `${report.deduplicated} deduplicated` };
    };
  } else {
    const script: (ctx: ContenderContext) => Promise<ContenderOutcome> =
      job.contender === "plan"
        ? (await import("./contenders/plan-script.js")).runPlanScript
        : (await import("./contenders/ai-sdk.js")).runAiSdk;
    run = () => script(ctx);
  }
  await send({ type: "ready" });
  await go();
  await send({ type: "phase", phase: "first", result: await phase(run) });
  await send({ type: "verified", verification: await verify(database, job) });
  if (job.rerun) {
    await go();
    await send({ type: "phase", phase: "rerun", result: await phase(run) });
  }
}

async function runWritePath(job: WritePathJob, database: BenchDatabase): Promise<void> {
  const rows = [...skillRange(job.data, 0, job.rows)].map((s) => {
    const text = skillText(s);
    return { id: s.id, hash: hashText(text), embedding: deterministicEmbedding(text, DIMENSIONS) };
  });
  const raw: RawRow[] = rows.map((r) => ({
    skillId: r.id,
    embedding: r.embedding,
    model: MODEL,
    version: EMBEDDING_VERSION,
    hash: r.hash,
  }));
  const records: EmbeddingRecord<number>[] = rows;
  const store = drizzleStore({
    db: database.db,
    version: EMBEDDING_VERSION,
    lock: false,
    source: { table: skills, key: skills.id, text: skillText },
    target: {
      table: skillEmbeddings,
      key: skillEmbeddings.skillId,
      embedding: skillEmbeddings.embedding,
      model: skillEmbeddings.modelName,
      version: skillEmbeddings.modelVersion,
      hash: skillEmbeddings.inputHash,
    },
  });
  const target = { provider: "voyage", model: MODEL, dimensions: DIMENSIONS };
  const timed = async (work: () => Promise<void>) => {
    await database.exec("truncate skill_embeddings; checkpoint");
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const copyRuns: number[] = [];
  const writeRuns: number[] = [];
  // Alternated, so a slow moment of a shared machine hurts both sides alike.
  for (let i = 0; i < job.repeats; i++) {
    copyRuns.push(await timed(() => rawCopy(database, raw)));
    writeRuns.push(
      await timed(async () => {
        for (let from = 0; from < records.length; from += job.batch) {
          const result = await store.write(records.slice(from, from + job.batch), target);
          if (result.written !== Math.min(job.batch, records.length - from)) {
            throw new Error(`write() wrote ${result.written} rows of a batch`);
          }
        }
      }),
    );
  }
  await send({
    type: "write-path",
    result: {
      rows: rows.length,
      batch: job.batch,
      copyMs: Math.min(...copyRuns),
      writeMs: Math.min(...writeRuns),
      copyRuns,
      writeRuns,
    },
  });
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as ChildJob;
  const database = await openDatabase(job.database, job.seed, job.serverUrl);
  try {
    if (job.kind === "contender") await runContender(job, database);
    else await runWritePath(job, database);
  } finally {
    await database.close();
  }
}

main().then(
  () => process.exit(0),
  async (error) => {
    await send({ type: "fatal", error: errorText(error) }).catch(() => {});
    process.exit(1);
  },
);
