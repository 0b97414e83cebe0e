import { describe, expect, it } from "vitest";
import { copyText, resumeText, rowName, secs } from "./words";

describe("copyText", () => {
  it("describes a running copy", () => {
    expect(
      copyText({ copied: 120000, estimatedTotal: 500000, percent: 24, documentsPerSecond: 21500, etaSeconds: 18, updatedAt: "" }),
    ).toEqual({ percent: "24 %", documents: "120,000 of 500,000", speed: "21.5k/s", eta: "18 s left" });
  });
  it("describes a copy without estimate or rate", () => {
    expect(copyText({ copied: 5, updatedAt: "" })).toEqual({
      percent: "—",
      documents: "5 of an unknown number",
      speed: "not moving",
      eta: "time left unknown",
    });
  });
});

describe("resumeText", () => {
  it("covers each case", () => {
    expect(resumeText({ known: false, reason: "no privilege" })).toBe("Unknown: no privilege");
    expect(resumeText({ known: true, secondsLeft: null, reason: "The oplog does not roll over yet" })).toBe(
      "The oplog does not roll over yet",
    );
    expect(resumeText({ known: true, secondsLeft: -5 })).toMatch(/^Gone/);
    expect(resumeText({ known: true, secondsLeft: 7200 })).toBe("2 h left before the oldest resume point leaves the oplog");
  });
});

describe("rowName", () => {
  it("adds the collection only when ids clash", () => {
    const rows = [
      { collection: "products", documentId: "p1" },
      { collection: "orders", documentId: "p1" },
      { collection: "orders", documentId: { sku: "a" } },
    ];
    expect(rowName(rows, rows[0])).toBe("p1 in products");
    expect(rowName(rows, rows[2])).toBe('{"sku":"a"}');
  });
  it("formats seconds", () => {
    expect(secs(90)).toBe("1 min 30 s");
    expect(secs(null)).toBe("—");
  });
});
