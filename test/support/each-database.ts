import { describe, it } from "vitest";
import { type DatabaseFactory, type DriverName, databases } from "./databases.js";

let warned = false;

/**
 * `describe.each` over every driver: runs `suite` once per available driver (PGlite always,
 * node-postgres and postgres.js with DATABASE_URL). Unavailable drivers appear in the output as
 * skipped suites titled "NOT RUN"; with `CI` set they add a failing test instead, so a CI run without
 * a real server can never pass.
 *
 * @example
 * ```ts
 * describeEachDatabase("drizzleStore", (database) => {
 *   let t: TestDatabase;
 *   beforeAll(async () => { t = await database.create(); });
 *   afterAll(() => t.close());
 *   it("writes", async () => { … });
 * });
 * ```
 */
export function describeEachDatabase(
  title: string,
  suite: (database: DatabaseFactory) => void,
  options: { readonly realServerOnly?: boolean; readonly drivers?: readonly DriverName[] } = {},
): void {
  for (const database of databases) {
    if (options.realServerOnly && !database.realServer) continue;
    if (options.drivers && !options.drivers.includes(database.driver)) continue;
    const name = `${title} [${database.driver}]`;
    if (!database.unavailable) {
      describe(name, () => suite(database));
      continue;
    }
    if (process.env.CI) {
      describe(name, () => {
        it("has a real PostgreSQL server (CI requires DATABASE_URL)", () => {
          throw new Error(`CI is set but ${database.driver} cannot run: ${database.unavailable}`);
        });
      });
      continue;
    }
    if (!warned) {
      warned = true;
      console.warn(`\n[real-server suites NOT RUN] ${database.unavailable}\n`);
    }
    describe.skip(`${name} NOT RUN: ${database.unavailable}`, () => suite(database));
  }
}
