import { describe, expect, it } from "vitest";
import { metricsQuery, rangeById, RANGES, toColumns, type MetricsSeries } from "./metrics";

function point(at: string, over: Partial<MetricsSeries["points"][number]> = {}): MetricsSeries["points"][number] {
  return {
    at,
    lagMongoToEdgeMs: null,
    lagEdgeToMongoMs: null,
    pendingWrites: null,
    mongoToEdgePerSec: 0,
    edgeToMongoPerSec: 0,
    copied: 0,
    applied: 0,
    writtenBack: 0,
    errors: 0,
    unsynced: 0,
    ...over,
  };
}

function series(points: MetricsSeries["points"], stepSecs = 60): MetricsSeries {
  return { from: "2026-12-04T00:00:00Z", to: "2026-12-04T01:00:00Z", stepSecs, points, minuteRetentionDays: 7 };
}

describe("ranges", () => {
  it("stay within 1,500 points with steps that are multiples of a minute", () => {
    for (const r of RANGES) {
      expect(r.step % 60).toBe(0);
      expect(r.secs / r.step).toBeLessThanOrEqual(1500);
    }
  });
  it("falls back to the first range", () => {
    expect(rangeById("24h").step).toBe(300);
    expect(rangeById("nope").id).toBe("1h");
  });
  it("builds the query ending now", () => {
    const now = Date.parse("2026-12-04T12:00:00Z");
    expect(metricsQuery(rangeById("7d"), now)).toEqual({
      from: "2026-11-27T12:00:00.000Z",
      to: "2026-12-04T12:00:00.000Z",
      step: 3600,
    });
  });
});

describe("toColumns", () => {
  it("turns points into columns in Unix seconds, keeping null lags", () => {
    const cols = toColumns(
      series([
        point("2026-12-04T00:00:00Z", { lagMongoToEdgeMs: 840, lagEdgeToMongoMs: 0, pendingWrites: 2, mongoToEdgePerSec: 12.4, edgeToMongoPerSec: 0.3 }),
        point("2026-12-04T00:01:00Z", { errors: 1, unsynced: 3 }),
      ]),
    );
    const t0 = Date.parse("2026-12-04T00:00:00Z") / 1000;
    expect(cols.times).toEqual([t0, t0 + 60]);
    expect(cols.lagMongoToEdge).toEqual([840, null]);
    expect(cols.lagEdgeToMongo).toEqual([0, null]);
    expect(cols.pendingWrites).toEqual([2, null]);
    expect(cols.mongoToEdge).toEqual([12.4, 0]);
    expect(cols.edgeToMongo).toEqual([0.3, 0]);
    expect(cols.errors).toEqual([0, 1]);
    expect(cols.unsynced).toEqual([0, 3]);
  });

  it("breaks the line where points are missing", () => {
    const cols = toColumns(
      series(
        [point("2026-12-04T00:00:00Z", { mongoToEdgePerSec: 1 }), point("2026-12-04T00:15:00Z", { mongoToEdgePerSec: 2 })],
        300,
      ),
    );
    const t0 = Date.parse("2026-12-04T00:00:00Z") / 1000;
    expect(cols.times).toEqual([t0, t0 + 300, t0 + 900]);
    expect(cols.mongoToEdge).toEqual([1, null, 2]);
    expect(cols.lagMongoToEdge).toEqual([null, null, null]);
  });

  it("leaves out repeated, out-of-order and unreadable points", () => {
    const cols = toColumns(
      series([
        point("2026-12-04T00:01:00Z", { applied: 1, mongoToEdgePerSec: 1 }),
        point("2026-12-04T00:01:00Z", { mongoToEdgePerSec: 9 }),
        point("2026-12-04T00:00:00Z", { mongoToEdgePerSec: 9 }),
        point("not a time", { mongoToEdgePerSec: 9 }),
        point("2026-12-04T00:02:00Z", { mongoToEdgePerSec: 3 }),
      ]),
    );
    expect(cols.mongoToEdge).toEqual([1, 3]);
    expect(cols.times.length).toBe(2);
  });

  it("is empty without points", () => {
    expect(toColumns(series([])).times).toEqual([]);
  });
});
