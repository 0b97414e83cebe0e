import { describe, expect, it } from "vitest";
import {
  collectionActionWords,
  connectionActionWords,
  diagnostic,
  planSummary,
  reasonsWords,
  type Plan,
} from "./words";

describe("plans", () => {
  const plan = (actions: Plan["collections"][number]["action"][], connection: Plan["connection"] = "unchanged"): Plan => ({
    connection,
    collections: actions.map((action, i) => ({ collection: `c${i}`, action, reasons: [], description: "" })),
    warnings: [],
  });
  it("says what happens", () => {
    expect(connectionActionWords("reconnectAndResume")).toMatch(/reconnects/);
    expect(collectionActionWords("initialSync")).toMatch(/Copied again/);
    expect(collectionActionWords("none")).toBe("No change");
    expect(reasonsWords(["idMappingChanged", "filterChanged"])).toBe("ID mapping changed, filter changed");
    expect(reasonsWords([])).toBe("—");
  });
  it("sums a plan up", () => {
    expect(planSummary(plan(["none", "none"]))).toBe("Nothing changes for the sync.");
    expect(planSummary(plan(["stop", "none", "none"]))).toBe("1 collection changes, 2 stay as they are.");
    expect(planSummary(plan(["initialSync", "applySettings", "none"]))).toBe("2 collections change, 1 stays as it is.");
    expect(planSummary(plan(["none"], "reconnectAndResume"))).toBe("0 collections change, 1 stays as it is.");
  });
});

describe("diagnostic", () => {
  it("reads a preview warning defensively", () => {
    expect(diagnostic({ code: "unsupported_type", path: "blob", message: "no edge form" })).toEqual({
      code: "unsupported_type",
      path: "blob",
      message: "no edge form",
    });
    expect(diagnostic("odd")).toEqual({ code: "", path: "", message: "odd" });
    expect(diagnostic({ reason: 1 })).toEqual({ code: "", path: "", message: '{"reason":1}' });
  });
});
