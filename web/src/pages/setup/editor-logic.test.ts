import { describe, expect, it } from "vitest";
import { emptyForm, newCollection } from "./form";
import {
  formToJson,
  jsonToForm,
  keepsSecret,
  parseSpecJson,
  replaceBody,
} from "./editor-logic";

describe("parseSpecJson", () => {
  it("takes an object", () => {
    expect(parseSpecJson('{"name": "x"}')).toEqual({ ok: true, value: { name: "x" } });
  });
  it("reports what is not one", () => {
    for (const [text, message] of [
      ["", /empty/],
      ["{", /does not parse/],
      ["[]", /must be an object/],
    ] as const) {
      const r = parseSpecJson(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(message);
    }
  });
});

describe("switching views", () => {
  const form = {
    ...emptyForm(),
    name: "retail",
    database: "db",
    collections: [{ ...newCollection("tasks", "k1"), counters: "n", strict: false }],
  };
  it("form -> JSON -> form keeps the edits", () => {
    const json = formToJson(form);
    expect(json.ok).toBe(true);
    if (!json.ok) return;
    expect(JSON.parse(json.text)).toEqual({
      name: "retail",
      description: "",
      database: "db",
      collections: { tasks: { fields: ["_id"], initialSync: false, mode: "json", dqlStrictMode: false, settableCounters: ["n"] } },
      autoConfigure: false,
      onHistoryLost: "fail",
    });
    const back = jsonToForm(json.text);
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    expect({ ...back.form, collections: back.form.collections.map((c) => ({ ...c, key: "k1" })) }).toEqual(form);
  });
  it("refuses a form whose filter is not JSON", () => {
    const r = formToJson({ ...form, collections: [{ ...newCollection("tasks", "k1"), filter: "{" }] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]).toMatch(/^The filter is not valid JSON/);
  });
  it("refuses JSON that does not parse or that the form cannot show", () => {
    expect(jsonToForm("{").ok).toBe(false);
    const r = jsonToForm('{"name": "x", "extra": 1}');
    expect(r).toEqual({ ok: false, problems: ["/extra: not a member of a connector spec"] });
  });
});

describe("the connection string", () => {
  it("counts left out, null and blank as keeping the stored one", () => {
    expect(keepsSecret({})).toBe(true);
    expect(keepsSecret({ connectionString: null })).toBe(true);
    expect(keepsSecret({ connectionString: "  " })).toBe(true);
    expect(keepsSecret({ connectionString: "mongodb://h/" })).toBe(false);
  });
  it("leaves a blank one out of the replace", () => {
    expect(replaceBody({ name: "x", connectionString: "" })).toEqual({ name: "x" });
    expect(replaceBody({ name: "x" })).toEqual({ name: "x" });
    expect(replaceBody({ connectionString: "mongodb://h/" })).toEqual({ connectionString: "mongodb://h/" });
  });
});
