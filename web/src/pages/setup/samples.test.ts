import { describe, expect, it } from "vitest";
import { parseSamples } from "./samples";

describe("parseSamples", () => {
  it("takes an array of documents", () => {
    expect(parseSamples('[{"_id": {"$oid": "64b7f0c2a1b2c3d4e5f60718"}}, {"a": 1}]')).toEqual({
      ok: true,
      documents: [{ _id: { $oid: "64b7f0c2a1b2c3d4e5f60718" } }, { a: 1 }],
    });
  });
  it("takes one document, even over several lines", () => {
    expect(parseSamples('{\n  "a": 1\n}')).toEqual({ ok: true, documents: [{ a: 1 }] });
  });
  it("takes one document per line, blank lines skipped", () => {
    expect(parseSamples('{"a": 1}\n\n  {"b": {"$date": "2024-05-01T10:00:00Z"}}  \n')).toEqual({
      ok: true,
      documents: [{ a: 1 }, { b: { $date: "2024-05-01T10:00:00Z" } }],
    });
  });
  it("names the line that does not parse", () => {
    const r = parseSamples('{"a": 1}\n{"b": }');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/^Line 2 is not valid JSON/);
  });
  it("refuses what is not documents", () => {
    const cases: [string, RegExp][] = [
      ["", /at least one/],
      ["[]", /empty/],
      ["[1, {}]", /Document 1 is not a JSON object/],
      ["42", /JSON array/],
      ["{", /Not valid JSON/],
      ['{"a":1}\n[2]', /Line 2 is not a JSON object/],
    ];
    for (const [text, message] of cases) {
      const r = parseSamples(text);
      expect(r.ok, text).toBe(false);
      if (!r.ok) expect(r.message).toMatch(message);
    }
  });
  it("stops at 100 documents", () => {
    const r = parseSamples(JSON.stringify(Array.from({ length: 101 }, (_, i) => ({ i }))));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/At most 100/);
  });
});
