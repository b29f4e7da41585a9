/*
 * The original script, as the library runs it: backfill() over drizzleStore() on the plan's tables,
 * then the plan's verification query.
 */
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { drizzleStore } from "../../../adapters/drizzle/index.js";
import { APICallError, backfill, hashText } from "../../../src/index.js";
import { scriptedProvider } from "../../../src/testing/index.js";
import { describeEachDatabase, type TestDatabase } from "../../support/index.js";
import { DIMENSIONS, skillTables, skillText } from "./fixtures.js";

const { skills, skillEmbeddings, ddl } = skillTables("integer", "plan");
const ROWS = 57;

describeEachDatabase("backfill() over drizzleStore", (database) => {
  let t: TestDatabase;
  const store = () =>
    drizzleStore({
      db: t.db,
      version: "1",
      source: {
        table: skills,
        key: skills.id,
        text: (s) => [s.name, s.description, s.content, ...(s.tags ?? [])].join(" "),
      },
      target: {
        table: skillEmbeddings,
        key: skillEmbeddings.skillId,
        embedding: skillEmbeddings.embedding,
        model: skillEmbeddings.modelName,
        version: skillEmbeddings.modelVersion,
        hash: skillEmbeddings.inputHash,
      },
    });

  /** The plan's verification: skills without an embedding. */
  async function withoutEmbedding(): Promise<number> {
    const rows = await t.db
      .select({ id: skills.id })
      .from(skills)
      .leftJoin(skillEmbeddings, eq(skills.id, skillEmbeddings.skillId))
      .where(sql`${skillEmbeddings.id} is null`);
    return rows.length;
  }

  beforeAll(async () => {
    t = await database.create();
    await t.exec(ddl);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await t.exec("truncate skills_plan, skill_embeddings_plan cascade");
    await t.db.insert(skills).values(
      Array.from({ length: ROWS }, (_, i) => ({
        id: i + 1,
        name: `skill ${i}`,
        description: `parses ${i % 7} formats`,
        content: i % 5 === 0 ? "same content" : `content ${i}`,
        tags: i % 2 ? ["csv", `t${i % 3}`] : null,
      })),
    );
  });

  it("embeds every skill, resumes with nothing to do, and re-embeds only what changed", async () => {
    const provider = scriptedProvider({ dimensions: DIMENSIONS, limits: { maxInputsPerRequest: 10 } });
    const first = await backfill({ provider, store: store(), pageSize: 7 });
    expect(first.embedded).toBe(ROWS);
    expect(await withoutEmbedding()).toBe(0);
    expect(await store().coverage({ ...provider })).toEqual({
      total: ROWS,
      embedded: ROWS,
      stale: 0,
      missing: 0,
    });

    const again = await backfill({ provider, store: store() });
    expect(again.embedded).toBe(0);

    await t.db
      .update(skills)
      .set({ tags: ["json"] })
      .where(eq(skills.id, 8));
    const third = await backfill({ provider, store: store() });
    expect(third.embedded).toBe(1);
    const [row] = await t.db.select().from(skills).where(eq(skills.id, 8));
    const [stored] = await t.db.select().from(skillEmbeddings).where(eq(skillEmbeddings.skillId, 8));
    expect(stored!.inputHash).toBe(hashText(skillText(row!)));
  });

  it("atomic: the whole run commits as one transaction", async () => {
    const provider = scriptedProvider({
      dimensions: DIMENSIONS,
      limits: { maxInputsPerRequest: 4 },
      latencyMs: 2,
    });
    const report = await backfill({ provider, store: store(), atomic: true, pageSize: 5, concurrency: 4 });
    expect(report.embedded).toBe(ROWS);
    expect(await withoutEmbedding()).toBe(0);
  });

  it("atomic: a failure rolls the whole run back, as the original script did", async () => {
    const provider = scriptedProvider({ dimensions: DIMENSIONS, limits: { maxInputsPerRequest: 10 } });
    const answer = (texts: readonly string[]) => provider.answer(texts);
    provider.script(
      answer,
      answer,
      new APICallError("bad request", { provider: "scripted", model: "m", status: 400 }),
    );
    await expect(
      backfill({ provider, store: store(), atomic: true, concurrency: 1, pageSize: 10 }),
    ).rejects.toThrow();
    expect(await withoutEmbedding()).toBe(ROWS);
  });
});
