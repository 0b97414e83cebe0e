// The charts' data: which time ranges there are, the metrics query for one, and the api's series
// as uPlot columns (times in Unix seconds, `null` where there is no value, so lines break).
import type { Schemas } from "../../api/client";

export type MetricsSeries = Schemas["MetricsSeries"];

export interface Range {
  id: string;
  label: string;
  /** How far back from now. */
  secs: number;
  /** Seconds per point (a multiple of 60; at most 1,500 points per answer). */
  step: number;
}

export const RANGES: Range[] = [
  { id: "1h", label: "Last hour", secs: 3600, step: 60 },
  { id: "24h", label: "Last 24 hours", secs: 86_400, step: 300 },
  { id: "7d", label: "Last 7 days", secs: 604_800, step: 3600 },
];

export function rangeById(id: string): Range {
  return RANGES.find((r) => r.id === id) ?? RANGES[0];
}

/** The `from`, `to` and `step` query of a range ending at `now` (ms since the epoch). */
export function metricsQuery(range: Range, now: number): { from: string; to: string; step: number } {
  return {
    from: new Date(now - range.secs * 1000).toISOString(),
    to: new Date(now).toISOString(),
    step: range.step,
  };
}

export interface Columns {
  /** Unix seconds, ascending. */
  times: number[];
  lagMongoToEdge: (number | null)[];
  lagEdgeToMongo: (number | null)[];
  pendingWrites: (number | null)[];
  mongoToEdge: (number | null)[];
  edgeToMongo: (number | null)[];
  errors: (number | null)[];
  unsynced: (number | null)[];
}

type ValueKey = Exclude<keyof Columns, "times">;

const KEYS: ValueKey[] = [
  "lagMongoToEdge",
  "lagEdgeToMongo",
  "pendingWrites",
  "mongoToEdge",
  "edgeToMongo",
  "errors",
  "unsynced",
];

function num(v: number | null | undefined): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/**
 * The series as chart columns, oldest first. Points out of order or repeated are left out; where
 * points are missing (more than a step apart) one empty point goes in so the line breaks there.
 */
export function toColumns(series: MetricsSeries): Columns {
  const step = series.stepSecs > 0 ? series.stepSecs : 60;
  const cols: Columns = {
    times: [],
    lagMongoToEdge: [],
    lagEdgeToMongo: [],
    pendingWrites: [],
    mongoToEdge: [],
    edgeToMongo: [],
    errors: [],
    unsynced: [],
  };
  let prev: number | null = null;
  for (const p of series.points) {
    const at = Date.parse(p.at);
    if (Number.isNaN(at)) continue;
    const t = Math.floor(at / 1000);
    if (prev !== null && t <= prev) continue;
    if (prev !== null && t - prev > step) {
      cols.times.push(prev + step);
      for (const k of KEYS) cols[k].push(null);
    }
    cols.times.push(t);
    cols.lagMongoToEdge.push(num(p.lagMongoToEdgeMs));
    cols.lagEdgeToMongo.push(num(p.lagEdgeToMongoMs));
    cols.pendingWrites.push(num(p.pendingWrites));
    cols.mongoToEdge.push(num(p.mongoToEdgePerSec));
    cols.edgeToMongo.push(num(p.edgeToMongoPerSec));
    cols.errors.push(num(p.errors));
    cols.unsynced.push(num(p.unsynced));
    prev = t;
  }
  return cols;
}

/** Whether a column has any value to draw. */
export function hasValues(values: (number | null)[]): boolean {
  return values.some((v) => v !== null);
}
