// The peer dependencies a CI leg tests, by the ranges package.json declares.
//
//   node .ci/peers.mjs specs oldest    the lowest version of each declared peer range (npm view)
//   node .ci/peers.mjs specs newest    the highest version of each declared peer range (npm view)
//   node .ci/peers.mjs specs locked    the versions package-lock.json holds, to restore them
//   node .ci/peers.mjs versions        the versions installed now, one "name version" line each
//
// The AI SDK provider packages are not peers, but their major must match the tested `ai`: they are
// listed with a range per leg (`@ai-sdk/openai` 2 speaks ai 5's model specification, 4 ai 7's).
//
// The legs install with --legacy-peer-deps (the swapped versions' ranges would refuse each other), which
// also skips the swapped packages' own required peers, that a user's npm installs with them (pg-boss
// 12.38 imports its peer @opentelemetry/api): those are added to the specs, at their newest version.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";

const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const PEERS = ["openai", "voyageai", "drizzle-orm", "ai", "msw", "pg-boss"];
const COMPANIONS = { "@ai-sdk/openai": { oldest: "^2.0.0", newest: "*" } };
const ALL = [...PEERS, ...Object.keys(COMPANIONS), "@ai-sdk/voyage"];

const byVersion = (a, b) => {
  const [x, y] = [a, b].map((v) => v.split(".").map(Number));
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
};

/** Released versions of `name` in `range`, ascending, from the registry. */
/** `npm view <spec> <field> --json`, parsed; `fallback` when the registry has no such field. */
async function npmView(spec, field, fallback) {
  const { stdout } = await promisify(execFile)("npm", ["view", spec, field, "--json"]);
  return stdout ? JSON.parse(stdout) : fallback;
}

async function versions(name, range) {
  const parsed = await npmView(`${name}@${range}`, "version", []);
  const list = Array.isArray(parsed) ? parsed : [parsed];
  // Pre-releases are not what a user gets from the range.
  return list.filter((v) => !v.includes("-")).sort(byVersion);
}

async function pick(name, range, which) {
  const list = await versions(name, range);
  if (list.length === 0) throw new Error(`no published version of ${name} matches ${range}`);
  return `${name}@${which === "oldest" ? list[0] : list.at(-1)}`;
}

/** The peer dependencies `spec` requires (not marked optional), from the registry. */
async function requiredPeers(spec) {
  const [peers, meta] = await Promise.all([
    npmView(spec, "peerDependencies", {}),
    npmView(spec, "peerDependenciesMeta", {}),
  ]);
  return Object.fromEntries(Object.entries(peers).filter(([name]) => !meta[name]?.optional));
}

const [command, which] = process.argv.slice(2);
if (command === "specs" && (which === "oldest" || which === "newest")) {
  const specs = await Promise.all([
    ...PEERS.map((name) => pick(name, pkg.peerDependencies[name], which)),
    ...Object.entries(COMPANIONS).map(([name, ranges]) => pick(name, ranges[which], which)),
  ]);
  const named = new Set([
    ...ALL,
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.devDependencies ?? {}),
  ]);
  const theirs = new Map();
  for (const spec of specs) {
    for (const [name, range] of Object.entries(await requiredPeers(spec))) {
      if (!named.has(name)) theirs.set(name, range);
    }
  }
  const extra = await Promise.all([...theirs].map(([name, range]) => pick(name, range, "newest")));
  console.log([...specs, ...extra].join(" "));
} else if (command === "specs" && which === "locked") {
  const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
  console.log(ALL.map((name) => `${name}@${lock.packages[`node_modules/${name}`].version}`).join(" "));
} else if (command === "versions") {
  for (const name of ALL) {
    let version = "not installed";
    try {
      version = JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8")).version;
    } catch {}
    console.log(`  ${name.padEnd(16)} ${version}`);
  }
} else {
  console.error("usage: node .ci/peers.mjs specs oldest|newest|locked | versions");
  process.exit(2);
}
