/*
 * The benchmark's skills: realistic catalog entries (~1,600 characters of name, description, content
 * and tags), generated from a seed so every contender and every run sees the same rows. Some rows are
 * exact copies of an earlier row (the same skill published twice), spread anywhere before them.
 *
 * Row `i` is computed from `(seed, i)` alone, so 100,000 rows stream in constant memory.
 */
import { emulatorTokenCount } from "../src/testing/emulator/index.js";

export interface Skill {
  readonly id: number;
  readonly name: string;
  readonly description: string;
  readonly content: string;
  readonly tags: readonly string[];
}

export interface DataOptions {
  readonly rows: number;
  readonly seed: number;
  /** Share of rows (after the first) that copy an earlier row exactly. */
  readonly duplicateRate: number;
}

/** The text every contender embeds for a skill: the original plan's recipe. */
export function skillText(s: {
  name: string;
  description: string;
  content: string;
  tags: readonly string[] | null;
}): string {
  return [s.name, s.description, s.content, ...(s.tags ?? [])].join(" ");
}

const VERBS = [
  "parse",
  "validate",
  "summarize",
  "translate",
  "deploy",
  "monitor",
  "refactor",
  "migrate",
  "index",
  "search",
  "classify",
  "extract",
  "format",
  "review",
  "schedule",
  "backfill",
  "compress",
  "encrypt",
  "audit",
  "profile",
  "generate",
  "render",
  "sync",
  "debug",
  "benchmark",
  "cache",
  "throttle",
  "retry",
  "stream",
  "export",
];
const OBJECTS = [
  "csv files",
  "pull requests",
  "invoices",
  "log streams",
  "database schemas",
  "api responses",
  "markdown docs",
  "support tickets",
  "kubernetes manifests",
  "sql queries",
  "typescript modules",
  "image metadata",
  "calendar events",
  "git history",
  "test reports",
  "release notes",
  "feature flags",
  "json payloads",
  "customer emails",
  "terraform plans",
  "spreadsheets",
  "meeting transcripts",
  "error traces",
  "pdf contracts",
];
const WORDS = (
  "the a an this that each every when then before after while with without into from over under " +
  "agent skill input output file record field value schema table column index query result error " +
  "request response token batch limit retry timeout cache queue worker job task step check rule " +
  "user team project branch commit review change diff patch test suite case fixture mock report " +
  "first next last new old large small fast slow safe strict simple nested empty missing stale " +
  "read write update delete create build run load save send fetch parse match filter sort group " +
  "count merge split join map reduce keep drop skip stop start finish return throw catch log warn " +
  "embedding vector model provider store database server client connection transaction lock page " +
  "format encoding unicode locale timezone currency amount date time duration interval window " +
  "always never only also still even just exactly roughly usually carefully quickly explicitly"
).split(" ");
const TAGS = [
  "automation",
  "data",
  "devops",
  "writing",
  "analysis",
  "security",
  "testing",
  "productivity",
  "finance",
  "support",
  "research",
  "design",
  "ml",
  "backend",
  "frontend",
  "docs",
  "compliance",
  "ops",
  "sales",
  "legal",
];

/** mulberry32 seeded by (seed, index): one independent stream per row. */
function rng(seed: number, index: number): () => number {
  let a = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

function sentence(random: () => number): string {
  const length = 8 + Math.floor(random() * 12);
  const words: string[] = [];
  for (let i = 0; i < length; i++) words.push(pick(random, WORDS));
  if (random() < 0.5) words.splice(1, 0, pick(random, VERBS), pick(random, OBJECTS));
  const text = words.join(" ");
  return `${text[0]!.toUpperCase()}${text.slice(1)}.`;
}

/** The original skill `index` stands for (itself, or the row it duplicates). */
function originalOf(options: DataOptions, index: number): number {
  let i = index;
  for (;;) {
    if (i === 0) return 0;
    const random = rng(options.seed, i);
    if (random() >= options.duplicateRate) return i;
    i = Math.floor(random() * i);
  }
}

/** The content of original skill `index` (rows that duplicate it share it, under their own id). */
function contentOf(seed: number, index: number): Omit<Skill, "id"> {
  const random = rng(seed ^ 0x5bd1e995, index);
  const verb = pick(random, VERBS);
  const object = pick(random, OBJECTS);
  const name = `${verb}-${object.replace(/ /g, "-")}-${index.toString(36)}`;
  const description = `${verb[0]!.toUpperCase()}${verb.slice(1)} ${object} ${sentence(random).toLowerCase()}`;
  // ~1,600 characters in all: the content fills what name, description and tags leave.
  const target = 1_380 + Math.floor(random() * 300) - name.length - description.length;
  const parts: string[] = [];
  let length = 0;
  while (length < target) {
    const s = sentence(random);
    parts.push(s);
    length += s.length + 1;
  }
  const tags: string[] = [];
  const tagCount = 2 + Math.floor(random() * 4);
  while (tags.length < tagCount) {
    const tag = pick(random, TAGS);
    if (!tags.includes(tag)) tags.push(tag);
  }
  return { name, description, content: parts.join(" "), tags };
}

/** Skills `from` (inclusive) to `to` (exclusive), ids from 1. */
export function* skillRange(options: DataOptions, from = 0, to = options.rows): Generator<Skill> {
  for (let i = from; i < to; i++) yield { id: i + 1, ...contentOf(options.seed, originalOf(options, i)) };
}

/** What the data holds: rows, distinct texts and the emulator's token count of those texts. */
export interface DataSummary {
  readonly rows: number;
  readonly distinct: number;
  readonly duplicates: number;
  /** Tokens billed for embedding every distinct text once (the emulator's tokenizer). */
  readonly distinctTokens: number;
  /** Tokens billed for embedding every row, duplicates included. */
  readonly allTokens: number;
  /** Token counts of the distinct texts, for the lower bound. */
  readonly maxTokens: number;
  readonly meanCharacters: number;
}

export function summarize(options: DataOptions): DataSummary {
  let distinct = 0;
  let distinctTokens = 0;
  let allTokens = 0;
  let maxTokens = 0;
  let characters = 0;
  const tokensOfOriginal = new Map<number, number>();
  for (let i = 0; i < options.rows; i++) {
    const original = originalOf(options, i);
    let tokens = tokensOfOriginal.get(original);
    if (tokens === undefined) {
      const text = skillText(contentOf(options.seed, original));
      tokens = emulatorTokenCount(text);
      characters += text.length;
      tokensOfOriginal.set(original, tokens);
      distinct++;
      distinctTokens += tokens;
      maxTokens = Math.max(maxTokens, tokens);
    }
    allTokens += tokens;
  }
  return {
    rows: options.rows,
    distinct,
    duplicates: options.rows - distinct,
    distinctTokens,
    allTokens,
    maxTokens,
    meanCharacters: Math.round(characters / Math.max(1, distinct)),
  };
}
