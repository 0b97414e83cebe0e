import { describe, expect, it } from "vitest";
import { checkLabel, checkOutcome, preflightSummary, type PreflightReport } from "./checks";

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
