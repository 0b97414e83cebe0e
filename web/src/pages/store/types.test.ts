import { describe, expect, it } from "vitest";
import type { Schemas } from "../../api/client";
import { documentIdSegment, flattenTypes, syncsOf, typedFields, valueAt, wrapperType } from "./types";

describe("wrapperType", () => {
  it("recognises Extended JSON type wrappers", () => {
    expect(wrapperType({ $oid: "64b7f0c2a1b2c3d4e5f60718" })).toBe("objectId");
    expect(wrapperType({ $date: { $numberLong: "1714557600000" } })).toBe("date");
    expect(wrapperType({ $numberLong: "5" })).toBe("long");
    expect(wrapperType({ $regularExpression: { pattern: "^a", options: "i" } })).toBe("regex");
    expect(wrapperType({ $binary: { base64: "AA==", subType: "00" } })).toBe("binData");
    expect(wrapperType({ $code: "f()", $scope: {} })).toBe("javascriptWithScope");
    expect(wrapperType({ $timestamp: { t: 1, i: 2 } })).toBe("timestamp");
  });
  it("leaves other values alone", () => {
    for (const v of [null, 1, "x", [], {}, { a: 1 }, { $set: 1 }, { $oid: "x", other: 1 }]) expect(wrapperType(v)).toBeNull();
  });
});

describe("typedFields", () => {
  it("lists the wrappers by path, not looking inside them", () => {
    const doc = {
      _id: { $oid: "64b7f0c2a1b2c3d4e5f60718" },
      placedAt: { $date: { $numberLong: "1714557600000" } },
      items: [{ qty: { $numberInt: "3" } }, { qty: 4 }],
      customer: { name: "Ann", since: { $date: "2020-01-01T00:00:00Z" } },
    };
    expect(typedFields(doc).map((f) => [f.path, f.type])).toEqual([
      ["_id", "objectId"],
      ["placedAt", "date"],
      ["items[0].qty", "int"],
      ["customer.since", "date"],
    ]);
  });
  it("finds none in a plain document", () => {
    expect(typedFields({ _id: "t1", title: "x", n: [1, 2] })).toEqual([]);
  });
});

describe("valueAt", () => {
  it("follows dotted paths", () => {
    expect(valueAt({ order: { qty: 3 } }, "order.qty")).toBe(3);
    expect(valueAt({ order: { qty: 3 } }, "order.missing")).toBeUndefined();
    expect(valueAt({ order: [1] }, "order.0")).toBeUndefined();
  });
});

describe("syncsOf", () => {
  const connector = (name: string, collections: Record<string, Partial<Schemas["CollectionMapping"]>>) =>
    ({
      id: `id-${name}`,
      name,
      collections: Object.fromEntries(
        Object.entries(collections).map(([k, v]) => [k, { fields: ["_id"], initialSync: true, mode: "json", dqlStrictMode: true, ...v }]),
      ),
    }) as unknown as Schemas["ConnectorOut"];
  it("names the connector mapping the collection, its mode and the document's counters", () => {
    const list = [
      connector("retail", { inventory: { mode: "ejson", dqlStrictMode: false, settableCounters: ["quantity", "order.qty"] } }),
      connector("crm", { people: {} }),
    ];
    expect(syncsOf(list, "inventory", { quantity: 7, order: {} })).toEqual([
      {
        connectorId: "id-retail",
        connectorName: "retail",
        mode: "ejson",
        dqlStrictMode: false,
        idFields: ["_id"],
        counters: [
          { path: "quantity", value: 7 },
          { path: "order.qty", value: undefined },
        ],
      },
    ]);
    expect(syncsOf(list, "people", {})[0].counters).toEqual([]);
    expect(syncsOf(list, "other", {})).toEqual([]);
  });
});

describe("stored type trees", () => {
  it("lists every typed field with its path, nested and in arrays", () => {
    expect(
      flattenTypes({ _id: "objectId", placedAt: "date", dims: { w: "long" }, items: [{ at: "date" }, "decimal"] }),
    ).toEqual([
      { path: "_id", type: "objectId" },
      { path: "placedAt", type: "date" },
      { path: "dims.w", type: "long" },
      { path: "items[0].at", type: "date" },
      { path: "items[1]", type: "decimal" },
    ]);
    expect(flattenTypes(null)).toEqual([]);
    expect(flattenTypes({})).toEqual([]);
  });

  it("names a document in the path by its string id, or else its JSON", () => {
    expect(documentIdSegment("p07")).toBe("p07");
    expect(documentIdSegment(42)).toBe("42");
    expect(documentIdSegment({ sku: "a" })).toBe('{"sku":"a"}');
  });
});
