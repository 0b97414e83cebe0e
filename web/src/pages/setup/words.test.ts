import { describe, expect, it } from "vitest";
import {
  checkLabel,
  checkOutcome,
  collectionActionWords,
  connectionActionWords,
  diagnostic,
  planSummary,
  preflightSummary,
  reasonsWords,
  type Plan,
  type PreflightReport,
} from "./words";

describe("checks", () => {
  it("names known and unknown checks", () => {
    expect(checkLabel("pre_and_post_images")).toBe("Pre- and post-images recorded");
    expect(checkLabel("new_check_here")).toBe("New check here");
  });
  it("says each outcome in words", () => {
    expect(checkOutcome("passed")).toEqual({ label: "Pass", cls: "check-pass" });
    expect(checkOutcome("warning").label).toBe("Warning");
    expect(checkOutcome("failed").cls).toBe("check-fail");
    expect(checkOutcome("skipped").label).toBe("Skipped");
  });
  it("sums up a run", () => {
    const check = (status: "passed" | "failed" | "skipped" | "warning") => ({ check: "x", status, message: "", durationMs: 1 });
    const report = (ok: boolean, ...s: ("passed" | "failed" | "skipped" | "warning")[]): PreflightReport => ({
      ok,
      checks: s.map(check),
      changes: [],
      durationMs: 3,
    });
    expect(preflightSummary(report(true, "passed", "passed"))).toBe("All checks passed: 2 checks.");
    expect(preflightSummary(report(true, "passed", "warning"))).toBe("No check failed: 2 checks (1 with a warning).");
    expect(preflightSummary(report(false, "passed", "failed", "skipped"))).toBe("Some checks failed: 3 checks (1 failed, 1 skipped).");
  });
});

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
