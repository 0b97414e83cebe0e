import { describe, expect, it } from "vitest";
import { buildTable, cellOf, collectionsOf, columnsOf, rowName } from "./table";

describe("columnsOf", () => {
  it("is the union of top-level keys, _id first", () => {
    expect(columnsOf([{ title: "a", _id: 1 }, { done: true, title: "b" }, {}])).toEqual(["_id", "title", "done"]);
    expect(columnsOf([])).toEqual([]);
    expect(columnsOf([{ count: 3 }])).toEqual(["count"]);
  });
});

describe("cellOf", () => {
  it("tells a missing field from null", () => {
    expect(cellOf(undefined, false)).toEqual({ kind: "missing", text: "" });
    expect(cellOf(null, true)).toEqual({ kind: "null", text: "null" });
  });
  it("shows scalars as they are and nested values as compact JSON", () => {
    expect(cellOf("buy milk", true)).toEqual({ kind: "string", text: "buy milk" });
    expect(cellOf(2.5, true)).toEqual({ kind: "number", text: "2.5" });
    expect(cellOf(false, true)).toEqual({ kind: "boolean", text: "false" });
    expect(cellOf({ a: [1, { b: null }] }, true)).toEqual({ kind: "json", text: '{"a":[1,{"b":null}]}' });
    expect(cellOf([], true)).toEqual({ kind: "json", text: "[]" });
  });
  it("shortens long values and keeps the whole text", () => {
    const c = cellOf("x".repeat(30), true, 10);
    expect(c.text).toBe("xxxxxxxxx…");
    expect(c.full).toBe("x".repeat(30));
  });
});

describe("buildTable", () => {
  it("lines cells up with the columns", () => {
    const t = buildTable([
      { _id: "t1", title: "buy milk", tags: ["a"] },
      { _id: { a: 1, b: 2 }, done: true },
    ]);
    expect(t.columns).toEqual(["_id", "title", "tags", "done"]);
    expect(t.rows[0].cells.map((c) => c.text)).toEqual(["t1", "buy milk", '["a"]', ""]);
    expect(t.rows[1].cells.map((c) => c.kind)).toEqual(["json", "missing", "missing", "boolean"]);
    expect(t.rows[1].id).toEqual({ a: 1, b: 2 });
  });
  it("gives every row a distinct key, with or without _id", () => {
    const t = buildTable([{ count: 1 }, { count: 2 }, { _id: 1 }, { _id: 1 }]);
    expect(new Set(t.rows.map((r) => r.key)).size).toBe(4);
    expect(t.rows[0].hasId).toBe(false);
    expect(t.rows[2].hasId).toBe(true);
  });
  it("names rows by _id, else by position", () => {
    const t = buildTable([{ _id: "t1" }, { _id: { a: 1 } }, { n: 1 }]);
    expect(t.rows.map(rowName)).toEqual(["t1", '{"a":1}', "row 3"]);
  });
});

describe("collectionsOf", () => {
  it("reads system:collections rows", () => {
    expect(collectionsOf([{ name: "tasks", documents: 3 }, { name: "empty" }, { count: 2 }])).toEqual([
      { name: "tasks", documents: 3 },
      { name: "empty", documents: null },
    ]);
  });
});
