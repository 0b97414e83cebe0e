import { describe, expect, it } from "vitest";
import { emptyForm, newCollection, type ConnectorForm } from "./form";
import { fieldOfPointer, parsePointer, placeViolations } from "./pointers";

const form: ConnectorForm = {
  ...emptyForm(),
  collections: [
    { ...newCollection("tasks", "c1") },
    { ...newCollection("users", "c2"), idMode: "one", idField: "userId" },
    { ...newCollection("orders", "c3"), idMode: "several", idFields: ["orderId", "storeId"], counters: "quantity, order.qty" },
    { ...newCollection("a/b", "c4") },
  ],
};

describe("parsePointer", () => {
  it("splits and unescapes", () => {
    expect(parsePointer("")).toEqual([]);
    expect(parsePointer("/collections/a~1b/x~0y")).toEqual(["collections", "a/b", "x~y"]);
    expect(parsePointer("/")).toEqual([""]);
  });
});

describe("fieldOfPointer", () => {
  const at = (p: string) => fieldOfPointer(p, form);
  it("maps connector-level members", () => {
    expect(at("/name")).toEqual({ field: "f-name" });
    expect(at("/connectionString")).toEqual({ field: "f-connectionString" });
    expect(at("/database")).toEqual({ field: "f-database" });
    expect(at("/autoConfigure")).toEqual({ field: "f-autoConfigure" });
    expect(at("/onHistoryLost")).toEqual({ field: "f-onHistoryLost" });
    expect(at("/desiredState")).toEqual({ field: "f-desiredState" });
    expect(at("/collections")).toEqual({ field: "f-newCollection" });
  });
  it("maps a collection's settings to its fields", () => {
    expect(at("/collections/tasks/dqlStrictMode")).toEqual({ field: "f-c1-strict" });
    expect(at("/collections/tasks/mode")).toEqual({ field: "f-c1-mode" });
    expect(at("/collections/tasks/initialSync")).toEqual({ field: "f-c1-initialSync" });
    expect(at("/collections/tasks")).toEqual({ field: "f-c1" });
    expect(at("/collections/tasks/unknown")).toEqual({ field: "f-c1" });
    expect(at("/collections/a~1b/mode")).toEqual({ field: "f-c4-mode" });
  });
  it("maps ID fields by mode", () => {
    expect(at("/collections/tasks/fields")).toEqual({ field: "f-c1-fields" });
    expect(at("/collections/tasks/fields/0")).toEqual({ field: "f-c1-fields" });
    expect(at("/collections/users/fields/0")).toEqual({ field: "f-c2-field" });
    expect(at("/collections/orders/fields/1")).toEqual({ field: "f-c3-fields-1" });
    expect(at("/collections/orders/fields/5")).toEqual({ field: "f-c3-fields" });
    expect(at("/collections/orders/fields")).toEqual({ field: "f-c3-fields" });
  });
  it("names the counter or the place in the filter", () => {
    expect(at("/collections/orders/settableCounters/1")).toEqual({ field: "f-c3-counters", prefix: "order.qty:" });
    expect(at("/collections/orders/settableCounters")).toEqual({ field: "f-c3-counters", prefix: undefined });
    expect(at("/collections/orders/dittoTypes/settableCounters/0")).toEqual({ field: "f-c3-counters", prefix: "quantity:" });
    expect(at("/collections/orders/filter")).toEqual({ field: "f-c3-filter", prefix: undefined });
    expect(at("/collections/orders/filter/status/$foo")).toEqual({ field: "f-c3-filter", prefix: "at status.$foo" });
  });
  it("maps nothing else", () => {
    expect(at("")).toBeNull();
    expect(at("/extra")).toBeNull();
    expect(at("/name/x")).toBeNull();
    expect(at("/collections/nope/mode")).toBeNull();
  });
});

describe("placeViolations", () => {
  it("groups messages per field, keeps local problems, returns the rest", () => {
    const placed = placeViolations(
      [
        { path: "/collections/tasks/dqlStrictMode", message: "must be false when `mode` is \"ejson\"" },
        { path: "/collections/tasks/dqlStrictMode", message: "must be false when `mode` is \"ejson\"" },
        { path: "/collections/orders/settableCounters/0", message: "is part of the ID" },
        { path: "/extra", message: "unknown field" },
        { path: "/extra", message: "unknown field" },
      ],
      form,
      [{ field: "f-c1-filter", message: "The filter is not valid JSON" }],
    );
    expect(placed.byField).toEqual({
      "f-c1-filter": ["The filter is not valid JSON"],
      "f-c1-strict": ["must be false when `mode` is \"ejson\""],
      "f-c3-counters": ["quantity: is part of the ID"],
    });
    expect(placed.unmapped).toEqual([{ path: "/extra", message: "unknown field" }]);
  });
});
