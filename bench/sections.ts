import { existsSync, readFileSync } from "node:fs";

/*
 * bench/RESULTS.md is written by more than one script: `npm run bench` writes the whole report, other
 * benches (`bench:batch`) own a section between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`.
 * Each script keeps what the others wrote.
 */

const SECTION = /<!-- bench:([\w-]+):start -->[\s\S]*?<!-- bench:\1:end -->/g;

/** `markdown` with the marked sections of the file at `path` that `markdown` lacks appended. */
export function keepMarkedSections(path: string, markdown: string): string {
  const previous = existsSync(path) ? readFileSync(path, "utf8") : "";
  const kept = [...previous.matchAll(SECTION)].filter(
    ([, name]) => !markdown.includes(`<!-- bench:${name}:start -->`),
  );
  if (kept.length === 0) return markdown;
  return `${markdown.trimEnd()}\n\n${kept.map(([section]) => section).join("\n\n")}\n`;
}

/** The file at `path` with the section `name` replaced by `section` (appended when missing). */
export function replaceMarkedSection(path: string, name: string, section: string): string {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const previous = existsSync(path) ? readFileSync(path, "utf8") : "";
  const at = previous.indexOf(start);
  const until = previous.indexOf(end);
  const body = `${start}\n${section.trim()}\n${end}`;
  return at >= 0 && until > at
    ? `${previous.slice(0, at)}${body}${previous.slice(until + end.length)}`
    : `${previous.trimEnd()}\n\n${body}\n`;
}
