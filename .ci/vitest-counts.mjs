// Prints the test counts of vitest JSON reports (one per CI test leg), then the total as the closing
// line of .ci/run: "tests: N passed, N failed, N skipped". A file that failed to load counts as failed.
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";

const total = { passed: 0, failed: 0, skipped: 0 };
for (const file of process.argv.slice(2)) {
  const leg = basename(file, ".json").replace(/^vitest-/, "");
  if (!existsSync(file)) {
    console.log(`  ${leg.padEnd(8)} no report: the leg did not run to the end`);
    continue;
  }
  const r = JSON.parse(readFileSync(file, "utf8"));
  const brokenFiles = r.testResults.filter(
    (f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed"),
  ).length;
  const counts = {
    passed: r.numPassedTests,
    failed: r.numFailedTests + brokenFiles,
    skipped: r.numPendingTests + r.numTodoTests,
  };
  for (const k of Object.keys(total)) total[k] += counts[k];
  console.log(
    `  ${leg.padEnd(8)} ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped` +
      ` in ${r.testResults.length} files`,
  );
}
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
