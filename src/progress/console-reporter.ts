import { formatId } from "../backfill/format-ids.js";
import type { BackfillProgress } from "../backfill/report.js";

/** A stream the reporter writes to. */
export interface ReporterStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Options of {@link consoleReporter}. */
export interface ConsoleReporterOptions<Id = unknown> {
  /**
   * Where to write.
   * @default process.stdout
   */
  stream?: ReporterStream;
  /**
   * `"bar"`: one line redrawn in place (progress bar, rate, ETA, tokens, retries). `"lines"`: plain
   * lines, one per written batch, for logs. `"auto"` picks `"bar"` on a terminal unless `CI` is set.
   * @default "auto"
   */
  mode?: "auto" | "bar" | "lines";
  /**
   * In `"lines"` mode, also print one `[i/N] label` line per written row (`i` counts written rows,
   * `N` is the rows found pending).
   * @default false
   */
  rowLines?: boolean;
  /**
   * How a row is named in row lines.
   * @default String(id) (JSON for composite keys)
   */
  label?: (id: Id) => string;
  /**
   * Least time between two redraws of the bar, in ms.
   * @default 100
   */
  redrawMs?: number;
}

const number = new Intl.NumberFormat("en-US");

function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "?";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** `1 request`, `2 requests`. */
function count(n: number, noun: string): string {
  return `${number.format(n)} ${noun}${n === 1 ? "" : "s"}`;
}

/** `ranges 3/12 done, 2 running, 1 dead`, for the progress of a run split across workers. */
function rangeSummary(e: BackfillProgress<unknown>): string {
  const r = e.ranges;
  if (!r) return "";
  const parts = [`ranges ${number.format(r.done)}/${number.format(r.total)} done`];
  if (r.running > 0) parts.push(`${number.format(r.running)} running`);
  if (r.failed > 0) parts.push(`${number.format(r.failed)} to retry`);
  if (r.dead > 0) parts.push(`${number.format(r.dead)} dead`);
  return ` · ${parts.join(", ")}`;
}

/** ` (2 refused before as too long: retryRefused sends them again)`, when a run skipped such rows. */
function refusedBefore(e: BackfillProgress<unknown>): string {
  const n = e.skippedByReason?.refused_before ?? 0;
  if (n === 0) return "";
  return ` (${number.format(n)} refused before as too long: retryRefused sends ${n === 1 ? "it" : "them"} again)`;
}

function summary(e: BackfillProgress<unknown>): string {
  const parts = [
    `${number.format(e.embedded)} embedded`,
    `${number.format(e.skipped)} skipped${refusedBefore(e)}`,
    count(e.tokens, "token"),
    count(e.requests, "request"),
  ];
  if (e.retries > 0) parts.push(count(e.retries, "retry").replace("retrys", "retries"));
  if (e.rateLimited > 0) parts.push(`${number.format(e.rateLimited)} × 429`);
  if (e.failed > 0) parts.push(`${number.format(e.failed)} failed`);
  return parts.join(", ");
}

/**
 * Renders `backfill()` progress for people: a progress bar with rate, ETA, tokens and retries on a
 * terminal; plain lines (optionally one `[i/N] label` line per row) when the output is not a terminal
 * or `CI` is set. Never prints texts or keys: only counts, row ids and redacted retry reasons.
 *
 * @example
 * ```ts
 * await backfill({ provider, store, onProgress: consoleReporter() });
 * ```
 */
export function consoleReporter<Id = unknown>(
  options: ConsoleReporterOptions<Id> = {},
): (event: BackfillProgress<Id>) => void {
  const stream = options.stream ?? process.stdout;
  const mode =
    options.mode === "bar" || options.mode === "lines"
      ? options.mode
      : stream.isTTY && !process.env.CI
        ? "bar"
        : "lines";
  const label = options.label ?? ((id: Id) => formatId(id));
  const redrawMs = options.redrawMs ?? 100;
  let lastDraw = 0;
  let rowsPrinted = 0;
  let barShown = false;

  const clearBar = () => {
    if (barShown) stream.write("\r\x1b[2K");
    barShown = false;
  };
  const print = (line: string) => {
    clearBar();
    stream.write(`${line}\n`);
  };
  const drawBar = (e: BackfillProgress<Id>) => {
    const total = e.pending ?? 0;
    const done = e.embedded + e.skipped + e.failed;
    const ratio = total > 0 ? Math.min(1, done / total) : 0;
    const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - 70));
    const filled = Math.round(ratio * width);
    const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
    const text =
      `${bar} ${(ratio * 100).toFixed(1).padStart(5)}% ${number.format(done)}/${number.format(total)}` +
      ` · ${number.format(Math.round(e.rowsPerSecond))} rows/s · ETA ${duration(e.etaMs)}` +
      ` · ${number.format(e.tokens)} tokens · ${e.retries} retries${rangeSummary(e)}`;
    stream.write(`\r\x1b[2K${text}`);
    barShown = true;
  };

  return (e) => {
    switch (e.type) {
      case "start":
        if (e.pending === undefined) print("Scanning for rows to embed (not counted)…");
        else if (e.pendingCount === "at-least") {
          // A JavaScript text recipe: counted without the texts, so changed texts are found as read.
          print(
            `Found at least ${count(e.pending, "row")} to embed (missing, or of another model or version); rows whose text changed are found while scanning`,
          );
        } else if (e.pending === 0) print("Nothing to embed: every row's embedding is current");
        else print(`Found ${count(e.pending, "row")} to embed`);
        return;
      case "retry":
        if (mode === "lines")
          print(`retrying (concurrency ${e.concurrency}): ${e.message ?? "request failed"}`);
        return;
      case "done":
        print(
          `${e.ranges && e.ranges.dead > 0 ? "Backfill finished, some ranges failed" : "Backfill complete"}: ${summary(e)} in ${duration(e.elapsedMs)}${rangeSummary(e)}`,
        );
        return;
      case "submit":
      case "poll":
      case "collect": {
        const b = e.batch;
        if (!b) return;
        const failed = b.failed > 0 ? `, ${number.format(b.failed)} failed` : "";
        if (e.type === "submit")
          print(`Submitted batch ${b.id} (${count(b.lines, "line")}, status ${b.status})`);
        else if (e.type === "poll") {
          print(
            `Batch ${b.id} ${b.status}: ${number.format(b.completed)}/${number.format(b.lines)} lines${failed} · waited ${duration(b.waitingMs)}`,
          );
        } else {
          const why = e.message ? ` (${e.message})` : "";
          print(
            `Collected batch ${b.id} (${b.status}${why}): ${number.format(e.embedded)} embedded so far${failed}`,
          );
        }
        return;
      }
      case "skip":
      case "batch": {
        if (mode === "bar") {
          const now = Date.now();
          if (now - lastDraw >= redrawMs) {
            lastDraw = now;
            drawBar(e);
          }
          return;
        }
        if (e.type === "skip") return;
        const total = e.pending === undefined ? "?" : number.format(e.pending);
        if (options.rowLines) {
          for (const id of e.ids ?? []) print(`  [${++rowsPrinted}/${total}] ${label(id)}`);
        }
        print(
          `[${number.format(e.embedded + e.skipped)}/${total}] ${number.format(Math.round(e.rowsPerSecond))} rows/s · ETA ${duration(e.etaMs)} · ${number.format(e.tokens)} tokens · ${e.retries} retries${rangeSummary(e)}`,
        );
      }
    }
  };
}
