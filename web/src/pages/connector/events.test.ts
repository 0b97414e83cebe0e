import { describe, expect, it } from "vitest";
import { appendOlder, DEFAULT_FILTERS, eventQuery, hasContext, levelClass, mergeNewer, remediationOf } from "./events";

const ev = (id: string) => ({ id });

describe("eventQuery", () => {
  it("sends nothing for the defaults", () => {
    expect(eventQuery(DEFAULT_FILTERS)).toEqual({});
  });
  it("sends the filters that are set, the document id as the api takes it", () => {
    expect(eventQuery({ level: "warn", collection: "products", documentId: ' { "sku": "a" } ', q: " timeout " })).toEqual({
      level: "warn",
      collection: "products",
      documentId: '{"sku":"a"}',
      q: "timeout",
    });
    expect(eventQuery({ ...DEFAULT_FILTERS, documentId: "p01" })).toEqual({ documentId: "p01" });
  });
});

describe("mergeNewer", () => {
  it("takes the first page as it is", () => {
    expect(mergeNewer([], [ev("b"), ev("a")])).toEqual({ items: [ev("b"), ev("a")], gap: false });
  });
  it("puts new events on top", () => {
    const r = mergeNewer([ev("b"), ev("a")], [ev("d"), ev("c"), ev("b"), ev("a")]);
    expect(r).toEqual({ items: [ev("d"), ev("c"), ev("b"), ev("a")], gap: false });
  });
  it("keeps the same list when nothing is new", () => {
    const current = [ev("b"), ev("a")];
    expect(mergeNewer(current, [ev("b"), ev("a")]).items).toBe(current);
  });
  it("adds a short page that shares nothing (all of it is new)", () => {
    expect(mergeNewer([ev("a")], [ev("c"), ev("b")], 3)).toEqual({ items: [ev("c"), ev("b"), ev("a")], gap: false });
  });
  it("replaces the list when a full page shares nothing", () => {
    expect(mergeNewer([ev("a")], [ev("d"), ev("c"), ev("b")], 3)).toEqual({ items: [ev("d"), ev("c"), ev("b")], gap: true });
  });
});

describe("appendOlder", () => {
  it("adds older events below, without repeats", () => {
    expect(appendOlder([ev("c"), ev("b")], [ev("b"), ev("a")])).toEqual([ev("c"), ev("b"), ev("a")]);
  });
});

describe("context", () => {
  it("finds the remediation", () => {
    expect(remediationOf({ remediation: "Enable pre- and post-images." })).toBe("Enable pre- and post-images.");
    expect(remediationOf({ remediation: "" })).toBeNull();
    expect(remediationOf({ check: "x" })).toBeNull();
    expect(remediationOf(null)).toBeNull();
  });
  it("says whether there is any", () => {
    expect(hasContext({})).toBe(false);
    expect(hasContext({ a: 1 })).toBe(true);
    expect(hasContext(null)).toBe(false);
  });
  it("maps levels to classes", () => {
    expect(levelClass("error")).toBe("level-error");
    expect(levelClass("warn")).toBe("level-warn");
    expect(levelClass("info")).toBe("level-info");
    expect(levelClass("other")).toBe("level-info");
  });
});
