import { describe, expect, it } from "vitest";
import type { Connector } from "../../api/client";
import { buildSpec, newCollection } from "./form";
import { formFromConnector, formFromSpec } from "./reverse";

function keys() {
  let n = 0;
  return () => `k${++n}`;
}

describe("formFromSpec", () => {
  it("reads each ID mapping mode, counters, filter and defaults", () => {
    const { form, lost } = formFromSpec(
      {
        name: "retail",
        description: null,
        database: "retail-demo",
        collections: {
          tasks: { fields: ["_id"], initialSync: true, mode: "ejson", dqlStrictMode: false },
          users: { fields: ["userId"] },
          orders: { fields: ["orderId", "storeId"], filter: { deleted: false }, settableCounters: ["quantity", "order.qty"], dqlStrictMode: false },
          legacy: { fields: ["_id"], dittoTypes: { settableCounters: ["n"] }, dqlStrictMode: false },
        },
        autoConfigure: true,
        onHistoryLost: "resync",
      },
      keys(),
    );
    expect(lost).toEqual([]);
    expect(form.name).toBe("retail");
    expect(form.description).toBe("");
    expect(form.autoConfigure).toBe(true);
    expect(form.onHistoryLost).toBe("resync");
    const [tasks, users, orders, legacy] = form.collections;
    expect(tasks).toMatchObject({ key: "k1", name: "tasks", idMode: "match", initialSync: true, mode: "ejson", strict: false });
    expect(users).toMatchObject({ idMode: "one", idField: "userId", initialSync: false, mode: "json", strict: true });
    expect(orders).toMatchObject({ idMode: "several", idFields: ["orderId", "storeId"], counters: "quantity, order.qty" });
    expect(JSON.parse(orders.filter)).toEqual({ deleted: false });
    expect(legacy.counters).toBe("n");
  });

  it("round-trips through buildSpec", () => {
    const spec = {
      name: "retail",
      description: "d",
      connectionString: "mongodb://u:p@h/",
      database: "db",
      collections: {
        orders: {
          fields: ["orderId", "storeId"],
          initialSync: true,
          mode: "json",
          dqlStrictMode: false,
          settableCounters: ["quantity"],
          filter: { deleted: false },
        },
      },
      autoConfigure: false,
      onHistoryLost: "fail",
    };
    const { form } = formFromSpec(spec, keys());
    expect(buildSpec(form).spec).toEqual(spec);
  });

  it("lists what the form cannot hold", () => {
    const { lost } = formFromSpec({
      name: 3,
      extra: true,
      desiredState: "paused",
      id: "ignored: read-only",
      collections: { t: { fields: "x", mode: "bson", other: 1, initialSync: "yes", settableCounters: ["a,b"] }, u: 5 },
    });
    expect(lost).toEqual([
      "/name: must be a string",
      "/extra: not a member of a connector spec",
      "/desiredState: leave it out here; pause and resume are on the connector's page",
      "/collections/t/other: not a collection setting",
      "/collections/t/fields: must be an array of field names",
      "/collections/t/initialSync: must be true or false",
      '/collections/t/mode: must be "json" or "ejson"',
      "/collections/t/settableCounters: must be an array of field paths (without commas)",
      "/collections/u: must be an object of collection settings",
    ]);
    expect(formFromSpec([1]).lost).toEqual(["/: the connector must be a JSON object"]);
  });

  it("keeps a filter that is not an object as text, for the field to report", () => {
    const { form, lost } = formFromSpec({ collections: { t: { fields: ["_id"], filter: [1] } } });
    expect(lost).toEqual([]);
    expect(form.collections[0].filter).toBe("[\n  1\n]");
  });

  it("escapes pointer tokens", () => {
    const { lost } = formFromSpec({ collections: { "a/b": { fields: ["_id"], "x~y": 1 } } });
    expect(lost).toEqual(["/collections/a~1b/x~0y: not a collection setting"]);
  });
});

describe("formFromConnector", () => {
  it("leaves the connection string blank and drops the desired state", () => {
    const connector = {
      id: "c1",
      name: "retail",
      description: "",
      connectionString: "mongodb://u:****@h/",
      database: "db",
      collections: { tasks: { fields: ["_id"], initialSync: false, mode: "json", dqlStrictMode: true, settableCounters: [] } },
      autoConfigure: false,
      onHistoryLost: "fail",
      desiredState: "running",
      status: "running",
    } as unknown as Connector;
    const form = formFromConnector(connector, keys());
    expect(form.connectionString).toBe("");
    expect(form.collections).toEqual([{ ...newCollection("tasks", "k1") }]);
    expect(buildSpec(form).spec).toEqual({
      name: "retail",
      description: "",
      database: "db",
      collections: { tasks: { fields: ["_id"], initialSync: false, mode: "json", dqlStrictMode: true } },
      autoConfigure: false,
      onHistoryLost: "fail",
    });
  });
});
