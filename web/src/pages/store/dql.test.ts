import { describe, expect, it } from "vitest";
import {
  documentQuery,
  errorLine,
  expectedParts,
  expectedText,
  isRunShortcut,
  listingQuery,
  offsetOf,
  oneLine,
  parseArgs,
  quoteIdent,
  remember,
  statementCollection,
} from "./dql";

describe("quoting and statements", () => {
  it("backquotes any name, keywords and odd characters included", () => {
    expect(quoteIdent("tasks")).toBe("`tasks`");
    expect(quoteIdent("order")).toBe("`order`");
    expect(quoteIdent("my-coll.v2 x")).toBe("`my-coll.v2 x`");
  });
  it("refuses names DQL cannot quote", () => {
    expect(() => quoteIdent("")).toThrow();
    expect(() => quoteIdent("a`b")).toThrow(/backquote/);
  });
  it("lists a collection's first documents and reads one by _id argument", () => {
    expect(listingQuery("tasks")).toBe("SELECT * FROM `tasks` LIMIT 50");
    expect(listingQuery("null", 10)).toBe("SELECT * FROM `null` LIMIT 10");
    expect(documentQuery("inventory")).toBe("SELECT * FROM `inventory` WHERE _id = :id");
  });
});

describe("parseArgs", () => {
  it("takes nothing as no arguments", () => {
    expect(parseArgs("")).toEqual({ ok: true, args: null });
    expect(parseArgs("  \n")).toEqual({ ok: true, args: null });
  });
  it("takes a JSON object", () => {
    expect(parseArgs('{"done": false, "ids": [1, 2]}')).toEqual({ ok: true, args: { done: false, ids: [1, 2] } });
  });
  it("refuses invalid JSON and non-objects", () => {
    const bad = parseArgs("{done: false}");
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.message).toMatch(/Not valid JSON/);
    for (const text of ["[1]", "3", "null", '"x"']) {
      const r = parseArgs(text);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.message).toMatch(/JSON object/);
    }
  });
});

describe("statement errors", () => {
  const statement = "SELECT *\nFROM tasks\nWHER done = true";
  it("finds the index of a line and column", () => {
    expect(offsetOf(statement, 1, 1)).toBe(0);
    expect(offsetOf(statement, 2, 6)).toBe(14);
    expect(statement.slice(offsetOf(statement, 3, 1))).toMatch(/^WHER/);
  });
  it("counts columns in characters, not UTF-16 units", () => {
    const s = "SELECT '😀é' x";
    // The emoji is one character but two UTF-16 units.
    const chars = Array.from(s);
    const at = offsetOf(s, 1, chars.indexOf("x") + 1);
    expect(s[at]).toBe("x");
  });
  it("clamps positions past the text", () => {
    expect(offsetOf("ab", 9, 9)).toBe(2);
    expect(offsetOf("ab\ncd", 2, 99)).toBe(5);
  });
  it("shows the line with a caret", () => {
    expect(errorLine(statement, { line: 3, column: 1 })).toEqual({ text: "WHER done = true", caret: 0 });
    expect(errorLine(statement, { line: 2, column: 6 })).toEqual({ text: "FROM tasks", caret: 5 });
  });
  it("names what was expected", () => {
    expect(expectedText([])).toBe("");
    expect(expectedText(["FROM"])).toBe("`FROM`");
    expect(expectedText(["NOTHING", "UPDATE"])).toBe("`NOTHING` or `UPDATE`");
    expect(expectedText(["WHERE", ",", "LIMIT", "LIMIT"])).toBe("`WHERE`, `,` or `LIMIT`");
    expect(expectedParts(["A", "B"])).toEqual([
      { word: "A", after: " or " },
      { word: "B", after: "" },
    ]);
  });
});

describe("history", () => {
  it("keeps the newest first, once each, at most max", () => {
    let h: string[] = [];
    h = remember(h, "SELECT 1");
    h = remember(h, "SELECT 2 ");
    h = remember(h, "SELECT 1");
    expect(h).toEqual(["SELECT 1", "SELECT 2"]);
    expect(remember(h, "   ")).toBe(h);
    expect(remember(["a", "b", "c"], "d", 3)).toEqual(["d", "a", "b"]);
  });
  it("shortens statements onto one line", () => {
    expect(oneLine("SELECT *\n  FROM tasks")).toBe("SELECT * FROM tasks");
    expect(oneLine("x".repeat(100), 10)).toBe("xxxxxxxxx…");
  });
});

describe("statementCollection", () => {
  it("finds the collection of each kind of statement", () => {
    expect(statementCollection("SELECT * FROM tasks WHERE done = false")).toBe("tasks");
    expect(statementCollection("select _id from `my coll` limit 3")).toBe("my coll");
    expect(statementCollection("INSERT INTO orders DOCUMENTS (:d) ON ID CONFLICT DO UPDATE")).toBe("orders");
    expect(statementCollection("  UPDATE inventory SET a = 1 WHERE true")).toBe("inventory");
    expect(statementCollection("DELETE FROM carts WHERE _id = 1")).toBe("carts");
  });
  it("skips a field named like the keyword, and system collections", () => {
    expect(statementCollection("SELECT from FROM c")).toBe("c");
    expect(statementCollection("SELECT * FROM system:collections")).toBeNull();
    expect(statementCollection("nonsense")).toBeNull();
  });
});

describe("isRunShortcut", () => {
  it("is Ctrl+Enter or Cmd+Enter", () => {
    expect(isRunShortcut({ key: "Enter", ctrlKey: true, metaKey: false })).toBe(true);
    expect(isRunShortcut({ key: "Enter", ctrlKey: false, metaKey: true })).toBe(true);
    expect(isRunShortcut({ key: "Enter", ctrlKey: false, metaKey: false })).toBe(false);
    expect(isRunShortcut({ key: "a", ctrlKey: true, metaKey: false })).toBe(false);
  });
});
