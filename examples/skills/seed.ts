import type { ExampleDatabase } from "../support/database.js";
import { SAMPLE_SKILLS } from "./sample-skills.js";
import { skills } from "./schema.js";

/**
 * Inserts the sample skills into the embedded database, or into a server's with `--seed` (rows already
 * there are left alone), and says which.
 */
export async function seedSampleSkills(database: ExampleDatabase): Promise<void> {
  if (!database.embedded && !process.argv.includes("--seed")) return;
  const seeded = await database.db
    .insert(skills)
    .values([...SAMPLE_SKILLS])
    .onConflictDoNothing()
    .returning({ id: skills.id });
  console.log(seeded.length > 0 ? `Seeded ${seeded.length} sample skills` : "Sample skills already seeded");
}
