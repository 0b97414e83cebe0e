import { describe, expect, it } from "vitest";
import { clusterTimeText, describeDetail, directionLabel, stepLabel } from "./trace";

describe("describeDetail", () => {
  it("describes a MongoDB change, known keys first", () => {
    const items = describeDetail({
      resumeToken: "8263",
      operation: "update",
      clusterTime: { t: 1764900000, i: 3 },
      edgeWrite: "upsert",
      fieldsChanged: ["price", "stock"],
    });
    expect(items.map((i) => [i.label, i.value])).toEqual([
      ["Operation", "update"],
      ["Cluster time", "2025-12-05T02:00:00Z (increment 3)"],
      ["Fields changed", "price, stock"],
      ["Edge write", "upsert"],
      ["Resume token", "8263"],
    ]);
  });
  it("describes a write-back and a refusal", () => {
    expect(describeDetail({ operation: "replace", session: "ab12", txnNumber: 7 }).map((i) => i.value)).toEqual([
      "replace",
      "7",
      "ab12",
    ]);
    expect(describeDetail({ code: "schema_validation", message: "Document failed validation", recordId: "r1" }).map((i) => i.label)).toEqual([
      "Code",
      "Message",
      "Unsynced record",
    ]);
  });
  it("leaves out nulls, says when no field changed, and keeps unknown keys", () => {
    expect(describeDetail({ txnNumber: null, fieldsChanged: [], extra: { a: 1 } })).toEqual([
      { key: "fieldsChanged", label: "Fields changed", value: "none" },
      { key: "extra", label: "extra", value: '{"a":1}' },
    ]);
  });
  it("copes with details that are not objects", () => {
    expect(describeDetail(null)).toEqual([]);
    expect(describeDetail("x")).toEqual([{ key: "detail", label: "Detail", value: "x" }]);
  });
});

describe("labels", () => {
  it("names steps and directions", () => {
    expect(stepLabel("write_back")).toBe("Written to MongoDB");
    expect(stepLabel("something_new")).toBe("something new");
    expect(directionLabel("mongo_to_edge")).toBe("MongoDB → edge");
  });
  it("reads cluster times", () => {
    expect(clusterTimeText({ t: 0 })).toBe("1970-01-01T00:00:00Z");
    expect(clusterTimeText("x")).toBe("x");
  });
});
