/* Peak memory of this process, measured from a chosen moment (after seeding) on. */
import { readFileSync, writeFileSync } from "node:fs";

function statusKb(field: "VmHWM" | "VmRSS"): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts a peak-RSS measurement. On Linux, writing 5 to /proc/self/clear_refs resets the high-water
 * mark (VmHWM) to the current RSS, so the peak excludes what happened before (seeding the database).
 * Elsewhere it falls back to `process.resourceUsage().maxRSS`, the peak since the process started.
 */
export function startPeakRss(): () => { peakKb: number; sinceStart: boolean } {
  let reset = false;
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    reset = statusKb("VmHWM") !== undefined;
  } catch {}
  return () => {
    const hwm = reset ? statusKb("VmHWM") : undefined;
    return hwm !== undefined
      ? { peakKb: hwm, sinceStart: false }
      : { peakKb: process.resourceUsage().maxRSS, sinceStart: true };
  };
}
