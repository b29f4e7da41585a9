// Guards .ci/run's fallback from `npm ci` to `npm install --no-save`.
//
// The registry this project reaches serves no builds for other platforms (darwin, win32, musl, ...):
// their optional packages answer 404, so `npm install` leaves them out of package-lock.json, and
// `npm ci` then refuses that lock ("Missing: @rollup/rollup-darwin-x64@ from lock file"). The fallback
// is allowed only when that is the whole story, and the installed tree must then equal the lock.
//
//   node .ci/lock-check.mjs gaps <npm-ci-output>   exit 0 iff every complaint names an optional package
//   node .ci/lock-check.mjs installed              exit 0 iff node_modules matches package-lock.json
import { existsSync, readFileSync } from "node:fs";

const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
const packages = lock.packages ?? {};
const [mode, logFile] = process.argv.slice(2);

if (mode === "gaps") {
  const log = readFileSync(logFile, "utf8");
  const complaints = [...log.matchAll(/^npm error (Missing|Invalid): (.+)$/gm)];
  const optional = new Set(Object.values(packages).flatMap((p) => Object.keys(p.optionalDependencies ?? {})));
  const direct = packages[""] ?? {};
  const required = new Set([
    ...Object.keys(direct.dependencies ?? {}),
    ...Object.keys(direct.devDependencies ?? {}),
  ]);
  const other = complaints.filter(([, kind, what]) => {
    const name = what.replace(/@[^@]*$/, "");
    return kind !== "Missing" || !optional.has(name) || required.has(name);
  });
  if (complaints.length === 0 || other.length > 0) {
    console.error(
      complaints.length === 0
        ? "lock-check: npm ci failed for another reason than the lock"
        : `lock-check: package-lock.json is out of sync with package.json:\n${other.map((m) => `  ${m[0]}`).join("\n")}\n` +
            "  run `npm install` and commit package-lock.json",
    );
    process.exit(1);
  }
  console.log(
    `lock-check: npm ci refused the lock only for ${complaints.length} optional packages of other platforms ` +
      "that this registry does not serve; installing the locked versions with npm install --no-save",
  );
} else if (mode === "installed") {
  const wrong = [];
  let checked = 0;
  for (const [path, entry] of Object.entries(packages)) {
    if (!path.startsWith("node_modules/") || entry.link) continue;
    const manifest = `${path}/package.json`;
    if (!existsSync(manifest)) {
      if (!entry.optional) wrong.push(`${path}: locked ${entry.version}, not installed`);
      continue;
    }
    const { version } = JSON.parse(readFileSync(manifest, "utf8"));
    if (version !== entry.version) wrong.push(`${path}: locked ${entry.version}, installed ${version}`);
    checked++;
  }
  if (wrong.length > 0) {
    console.error(`lock-check: node_modules differs from package-lock.json:\n  ${wrong.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`lock-check: ${checked} installed packages match package-lock.json`);
} else {
  console.error("usage: node .ci/lock-check.mjs gaps <npm-ci-output> | installed");
  process.exit(2);
}
