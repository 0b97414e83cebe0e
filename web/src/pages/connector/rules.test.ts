import { describe, expect, it } from "vitest";
import { applicableRules, formOf, measureText, newRuleBody, rulePatch, type AlertRule } from "./rules";

const C = "11111111-1111-1111-1111-111111111111";
const OTHER = "22222222-2222-2222-2222-222222222222";

function rule(over: Partial<AlertRule>): AlertRule {
  return {
    id: "r",
    appId: "a",
    connectorId: null,
    kind: "lag",
    enabled: true,
    threshold: null,
    forSecs: 300,
    windowSecs: null,
    createdAt: "2026-12-04T00:00:00Z",
    updatedAt: "2026-12-04T00:00:00Z",
    ...over,
  };
}

const builtIn = [
  { kind: "lag" as const, threshold: 300, forSecs: 300 },
  { kind: "error_rate" as const, threshold: 5, forSecs: 0, windowSecs: 900 },
];

describe("applicableRules", () => {
  it("prefers the connector's own rule, then the app's, then the built-in one", () => {
    const rows = applicableRules(
      {
        items: [
          rule({ id: "app-lag", kind: "lag", threshold: 60 }),
          rule({ id: "own-lag", kind: "lag", connectorId: C, threshold: null, forSecs: 10 }),
          rule({ id: "app-err", kind: "error_rate", threshold: 2, enabled: false }),
          rule({ id: "other", kind: "stream_stalled", connectorId: OTHER, threshold: 1 }),
        ],
        builtIn,
      },
      C,
    );
    const lag = rows.find((r) => r.kind === "lag")!;
    expect(lag.source).toBe("connector");
    expect(lag.own?.id).toBe("own-lag");
    expect(lag.app?.id).toBe("app-lag");
    expect(lag.threshold).toBe(300); // null: the built-in threshold
    expect(lag.forSecs).toBe(10);
    const err = rows.find((r) => r.kind === "error_rate")!;
    expect(err).toMatchObject({ source: "app", enabled: false, threshold: 2, windowSecs: 900 });
    const stalled = rows.find((r) => r.kind === "stream_stalled")!;
    expect(stalled).toMatchObject({ source: "builtIn", own: null, enabled: true });
    expect(rows).toHaveLength(7);
  });
});

describe("measureText", () => {
  it("uses the kind's unit", () => {
    expect(measureText("lag", 300)).toBe("5 min");
    expect(measureText("error_rate", 5)).toBe("5 %");
    expect(measureText("unsynced_increasing", 1200)).toBe("1,200 documents");
    expect(measureText("resume_point_at_risk", -60)).toBe("1 min ago");
    expect(measureText("lag", null)).toBe("—");
  });
});

describe("newRuleBody", () => {
  const form = { kind: "lag", threshold: "120", forSecs: "60", windowSecs: "", enabled: true };
  it("builds the connector's rule", () => {
    expect(newRuleBody(form, C)).toEqual({
      body: { connectorId: C, kind: "lag", enabled: true, threshold: 120, forSecs: 60 },
      errors: {},
    });
  });
  it("sends the window for windowed kinds, null thresholds when empty", () => {
    expect(newRuleBody({ ...form, kind: "error_rate", threshold: "", windowSecs: "600" }, C).body).toEqual({
      connectorId: C,
      kind: "error_rate",
      enabled: true,
      threshold: null,
      forSecs: 60,
      windowSecs: 600,
    });
  });
  it("says what is wrong", () => {
    const r = newRuleBody({ kind: "", threshold: "x", forSecs: "1.5", windowSecs: "-1", enabled: true }, C);
    expect(r.body).toBeNull();
    expect(Object.keys(r.errors).sort()).toEqual(["forSecs", "kind", "threshold", "windowSecs"]);
  });
});

describe("rulePatch", () => {
  it("round-trips a rule through the form", () => {
    const r = rule({ kind: "unsynced_increasing", threshold: 10, forSecs: 0, windowSecs: 900, enabled: false });
    expect(rulePatch(formOf(r))).toEqual({
      body: { enabled: false, threshold: 10, forSecs: 0, windowSecs: 900 },
      errors: {},
    });
  });
  it("leaves forSecs alone when empty and returns thresholds to the default", () => {
    expect(rulePatch({ kind: "lag", threshold: "", forSecs: "", windowSecs: "", enabled: true }).body).toEqual({
      enabled: true,
      threshold: null,
    });
  });
});
