// Prints the test counts of vitest JSON reports (one per CI test leg), then the total as the closing
// line of .ci/run: "tests: N passed, N failed, N skipped". A file that failed to load counts as failed.
// Each failed test (or file) is listed under its leg with the first lines of its error: the summary is
// the end of the CI log, the part that is always shown.
import { existsSync, readFileSync } from "node:fs";
import { basename, relative } from "node:path";

const total = { passed: 0, failed: 0, skipped: 0 };
const firstLines = (text, n = 3) =>
  String(text ?? "")
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
    .replace(/\u001b\[[0-9;]*m/g, "")
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(0, n)
    .map((line) => (line.length > 300 ? `${line.slice(0, 300)}…` : line));
for (const file of process.argv.slice(2)) {
  const leg = basename(file, ".json").replace(/^vitest-/, "");
  if (!existsSync(file)) {
    console.log(`  ${leg.padEnd(8)} no report: the leg did not run to the end`);
    continue;
  }
  const r = JSON.parse(readFileSync(file, "utf8"));
  const broken = r.testResults.filter(
    (f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed"),
  );
  const counts = {
    passed: r.numPassedTests,
    failed: r.numFailedTests + broken.length,
    skipped: r.numPendingTests + r.numTodoTests,
  };
  for (const k of Object.keys(total)) total[k] += counts[k];
  console.log(
    `  ${leg.padEnd(8)} ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped` +
      ` in ${r.testResults.length} files`,
  );
  for (const f of r.testResults) {
    const name = relative(process.cwd(), f.name);
    if (broken.includes(f)) {
      console.log(`    FAILED ${name} (the file, outside any test)`);
      for (const line of firstLines(f.message, 4)) console.log(`      ${line}`);
    }
    for (const a of f.assertionResults) {
      if (a.status === "failed") {
        console.log(`    FAILED ${name} > ${a.fullName} (${Math.round(a.duration ?? 0)} ms)`);
        for (const line of firstLines(a.failureMessages?.join("\n"))) console.log(`      ${line}`);
      } else if (a.status === "pending" || a.status === "skipped") {
        console.log(`    skipped ${name} > ${a.fullName}`);
      }
    }
  }
}
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
