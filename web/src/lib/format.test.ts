import { describe, expect, it } from "vitest";
import { ago, compact, count, docId, duration, percent, rate } from "./format";

describe("format", () => {
  it("writes durations at the scale that matters", () => {
    expect(duration(null)).toBe("—");
    expect(duration(0)).toBe("0 s");
    expect(duration(250)).toBe("250 ms");
    expect(duration(1500)).toBe("1.5 s");
    expect(duration(42_000)).toBe("42 s");
    expect(duration(95_000)).toBe("1 min 35 s");
    expect(duration(120_000)).toBe("2 min");
    expect(duration(7_380_000)).toBe("2 h 3 min");
    expect(duration(90_000_000)).toBe("1 d 1 h");
    expect(duration(-5)).toBe("0 s");
  });

  it("writes rates and large numbers compactly", () => {
    expect(rate(0)).toBe("0/s");
    expect(rate(3.21)).toBe("3.2/s");
    expect(rate(1234)).toBe("1.2k/s");
    expect(rate(undefined)).toBe("—");
    expect(compact(950)).toBe("950");
    expect(rate(0.05)).toBe("0.05/s");
    expect(rate(0.123)).toBe("0.12/s");
    expect(compact(2_500_000)).toBe("2.5M");
    expect(compact(123_456)).toBe("123k");
    expect(count(1234567)).toBe("1,234,567");
  });

  it("writes times relative to now, past and future", () => {
    const now = Date.parse("2026-12-05T12:00:00Z");
    expect(ago(null, now)).toBe("never");
    expect(ago("2026-12-05T12:00:00.500Z", now)).toBe("just now");
    expect(ago("2026-12-05T11:59:48Z", now)).toBe("12 s ago");
    expect(ago("2026-12-05T11:55:00Z", now)).toBe("5 min ago");
    expect(ago("2026-12-05T08:30:00Z", now)).toBe("3 h ago");
    expect(ago("2026-12-05T12:05:00Z", now)).toBe("in 5 min");
    expect(ago("not a date", now)).toBe("—");
  });

  it("clamps percentages and writes ids of any JSON type", () => {
    expect(percent(4.25)).toBe("4.3 %");
    expect(percent(55.5)).toBe("56 %");
    expect(percent(130)).toBe("100 %");
    expect(percent(null)).toBe("—");
    expect(docId("p01")).toBe("p01");
    expect(docId({ sku: "a" })).toBe('{"sku":"a"}');
    expect(docId(7)).toBe("7");
  });
});
