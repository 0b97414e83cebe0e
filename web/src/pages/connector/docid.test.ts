import { describe, expect, it } from "vitest";
import { documentIdParam, jsonIdText } from "./docid";

describe("documentIdParam", () => {
  it("keeps a plain string id", () => {
    expect(documentIdParam("p01")).toBe("p01");
    expect(documentIdParam("  p01 ")).toBe("p01");
    expect(documentIdParam("order 7")).toBe("order 7");
  });
  it("unquotes a JSON string", () => {
    expect(documentIdParam('"p01"')).toBe("p01");
  });
  it("sends objects and arrays as compact JSON, keys in the typed order", () => {
    expect(documentIdParam('{ "sku": "a", "region": "eu" }')).toBe('{"sku":"a","region":"eu"}');
    expect(documentIdParam("[1, 2]")).toBe("[1,2]");
  });
  it("sends numbers and other JSON as typed", () => {
    expect(documentIdParam("42")).toBe("42");
    expect(documentIdParam("1.50")).toBe("1.50");
    expect(documentIdParam("true")).toBe("true");
  });
  it("keeps text that is not JSON", () => {
    expect(documentIdParam("{sku: a}")).toBe("{sku: a}");
  });
  it("is empty for blank input", () => {
    expect(documentIdParam("   ")).toBe("");
  });
});

describe("jsonIdText", () => {
  it("reads JSON text ids", () => {
    expect(jsonIdText('"p1"')).toBe("p1");
    expect(jsonIdText('{"sku":"a"}')).toBe('{"sku":"a"}');
    expect(jsonIdText("42")).toBe("42");
  });
  it("keeps text that is not JSON and marks missing ids", () => {
    expect(jsonIdText("p1")).toBe("p1");
    expect(jsonIdText(null)).toBe("—");
    expect(jsonIdText("")).toBe("—");
  });
});
