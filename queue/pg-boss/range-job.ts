/*
 * What travels through pg-boss for one range: the job's data (which run, which keys) and the output a
 * worker leaves on it (what each attempt did, and the error of a failed one). All of it is plain JSON;
 * errors only as `serializeError()` makes them, so no API key is ever stored.
 */
import { createHash } from "node:crypto";
import type { BackfillCounters } from "../../src/backfill/report.js";
import type { KeyBound, KeyRange } from "../../src/contracts/embedding-store.js";
import {
  BackfillError,
  type SerializedError,
  type SerializedReport,
  serializeError,
} from "../../src/errors/index.js";
import { reportCounters } from "../../src/errors/serialize-error.js";

/** The data of one range's job. */
export interface RangeJobData {
  /** The run's name, given to `enqueueBackfill()`. */
  readonly run: string;
  /** This range's place in the run, from 0. */
  readonly index: number;
  /** How many ranges the run has. */
  readonly count: number;
  /** Key bounds (text forms); `null` for an open end. */
  readonly after: KeyBound | null;
  readonly through: KeyBound | null;
}

/**
 * What one range's attempts did, as the workers count it: rows `embedded`, `skipped` and `failed`,
 * `tokens` billed, `requests` sent, `retries`, and requests answered 429 (`rateLimited`).
 */
export type RangeCounters = SerializedReport;

/** The output a worker leaves on a range's job: the last attempt, and the attempts before it. */
export interface RangeJobOutput {
  /** Marks the output as this library's (pg-boss writes its own on a timeout). */
  readonly relayRange: 1;
  /** Which attempt this was, from 1. */
  readonly attempt: number;
  /** What this attempt did. */
  readonly report: RangeCounters;
  /** What the earlier attempts that reported did, added up. A worker killed mid-range reports nothing. */
  readonly earlier: RangeCounters;
  /** Why this attempt failed, when it did. */
  readonly error?: SerializedError;
}

export const ZERO: RangeCounters = Object.freeze(reportCounters(undefined));

export function addCounters(a: RangeCounters, b: RangeCounters): RangeCounters {
  const sum: Record<string, number> = {};
  for (const field of Object.keys(ZERO) as (keyof RangeCounters)[]) sum[field] = a[field] + b[field];
  return sum as unknown as RangeCounters;
}

/** The counters of a report (or of a stored output's, read back): zeros where a field is missing. */
export const countersOf = (report: Partial<BackfillCounters> | undefined): RangeCounters =>
  reportCounters(report);

/** The job id of range `index` of `run` in `queue`: the same on every split, so a second send is a no-op. */
export function rangeJobId(queue: string, run: string, index: number): string {
  const hex = createHash("sha256").update(`relay.range\0${queue}\0${run}\0${index}`).digest("hex");
  // A UUID (version 8: custom) made of the hash, as pg-boss's uuid id column requires.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((Number.parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const isBound = (value: unknown): value is KeyBound =>
  Array.isArray(value) && value.length > 0 && value.every((part) => typeof part === "string");

/** The job's data if it is a range of this library's, else `undefined`. */
export function parseRangeJob(data: unknown): RangeJobData | undefined {
  const d = data as Partial<RangeJobData> | null;
  if (typeof d !== "object" || d === null || typeof d.run !== "string") return undefined;
  if (!Number.isSafeInteger(d.index) || !Number.isSafeInteger(d.count)) return undefined;
  if (!(d.after === null || isBound(d.after)) || !(d.through === null || isBound(d.through)))
    return undefined;
  return d as RangeJobData;
}

export function rangeOf(data: RangeJobData): KeyRange {
  return {
    ...(data.after ? { after: data.after } : {}),
    ...(data.through ? { through: data.through } : {}),
  };
}

/** The output a worker left, if it is ours (pg-boss's own timeout output is not). */
export function parseOutput(output: unknown): RangeJobOutput | undefined {
  const o = output as Partial<RangeJobOutput> | null;
  if (typeof o !== "object" || o === null || o.relayRange !== 1) return undefined;
  return {
    relayRange: 1,
    attempt: Number(o.attempt) || 1,
    report: countersOf(o.report),
    earlier: countersOf(o.earlier),
    ...(o.error ? { error: o.error } : {}),
  };
}

/**
 * Thrown by a worker's job handler when a range fails. pg-boss stores what `toJSON()` returns as the
 * job's output (and, once retries are spent, the dead-letter job's): counters and the serialized,
 * redacted error; never the raw error, whose cause may carry a response body with the key.
 */
export class RangeFailure extends Error {
  override name = "RangeFailure";
  readonly output: RangeJobOutput;

  constructor(error: unknown, attempt: number, earlier: RangeCounters) {
    const serialized = serializeError(error);
    super(serialized.message);
    this.output = {
      relayRange: 1,
      attempt,
      report: countersOf(BackfillError.isInstance(error) ? error.report : undefined),
      earlier,
      error: serialized,
    };
    // No stack in the job: it would only repeat the message with file paths.
    this.stack = `${this.name}: ${serialized.message}`;
  }

  toJSON(): RangeJobOutput {
    return this.output;
  }
}
