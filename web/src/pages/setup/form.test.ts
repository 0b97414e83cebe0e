import { describe, expect, it } from "vitest";
import {
  buildSpec,
  collectionSpec,
  emptyForm,
  idFieldsOf,
  newCollection,
  parseCounters,
  parseFilter,
  redactConnectionString,
  redactedSpec,
  type ConnectorForm,
} from "./form";

function form(patch: Partial<ConnectorForm> = {}): ConnectorForm {
  return { ...emptyForm(), name: "retail", connectionString: "mongodb://u:p@h/", database: "shop", ...patch };
}

describe("parseCounters", () => {
  it("splits on commas and new lines, trims, drops blanks", () => {
    expect(parseCounters(" quantity, order.qty ,,\n stock ")).toEqual(["quantity", "order.qty", "stock"]);
    expect(parseCounters("   ")).toEqual([]);
  });
});

describe("parseFilter", () => {
  it("is none when empty", () => {
    expect(parseFilter("  \n")).toEqual({ ok: true, value: null });
  });
  it("takes a JSON object", () => {
    expect(parseFilter('{"deleted": false, "n": {"$gt": 1}}')).toEqual({ ok: true, value: { deleted: false, n: { $gt: 1 } } });
  });
  it("reports JSON that does not parse", () => {
    const r = parseFilter("{deleted: false}");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/^is not valid JSON/);
  });
  it("refuses arrays and scalars", () => {
    for (const text of ["[1]", "3", '"x"', "null"]) {
      const r = parseFilter(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(/must be a JSON object/);
    }
  });
});

describe("ID mapping", () => {
  it("match IDs is _id", () => {
    expect(idFieldsOf(newCollection("t", "k"))).toEqual(["_id"]);
  });
  it("one field is that field, trimmed", () => {
    expect(idFieldsOf({ ...newCollection("t", "k"), idMode: "one", idField: " userId " })).toEqual(["userId"]);
  });
  it("several keeps every row so that pointers find their input", () => {
    expect(idFieldsOf({ ...newCollection("t", "k"), idMode: "several", idFields: ["orderId", " ", "storeId"] })).toEqual([
      "orderId",
      "",
      "storeId",
    ]);
  });
});

describe("collectionSpec", () => {
  it("sends every setting, counters and filter only when given", () => {
    expect(collectionSpec(newCollection("tasks", "k")).spec).toEqual({
      fields: ["_id"],
      initialSync: false,
      mode: "json",
      dqlStrictMode: true,
    });
    const c = { ...newCollection("orders", "k1"), counters: "quantity, order.qty", filter: '{"deleted": false}', strict: false };
    expect(collectionSpec(c)).toEqual({
      spec: {
        fields: ["_id"],
        initialSync: false,
        mode: "json",
        dqlStrictMode: false,
        settableCounters: ["quantity", "order.qty"],
        filter: { deleted: false },
      },
      problems: [],
    });
  });
  it("leaves a filter that does not parse out, and says so at the filter", () => {
    const r = collectionSpec({ ...newCollection("orders", "k7"), filter: "{" });
    expect(r.spec.filter).toBeUndefined();
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0].field).toBe("f-k7-filter");
    expect(r.problems[0].message).toMatch(/^The filter is not valid JSON/);
  });
});

describe("buildSpec", () => {
  it("builds the create body", () => {
    const f = form({
      name: " retail ",
      description: "store data",
      database: " retail-demo ",
      autoConfigure: true,
      onHistoryLost: "resync",
      collections: [
        { ...newCollection("tasks", "a"), mode: "ejson", strict: false, initialSync: true },
        { ...newCollection("orders", "b"), idMode: "several", idFields: ["orderId", "storeId"] },
      ],
    });
    const { spec, problems } = buildSpec(f, { desiredState: "paused" });
    expect(problems).toEqual([]);
    expect(spec).toEqual({
      name: "retail",
      description: "store data",
      connectionString: "mongodb://u:p@h/",
      database: "retail-demo",
      collections: {
        tasks: { fields: ["_id"], initialSync: true, mode: "ejson", dqlStrictMode: false },
        orders: { fields: ["orderId", "storeId"], initialSync: false, mode: "json", dqlStrictMode: true },
      },
      autoConfigure: true,
      onHistoryLost: "resync",
      desiredState: "paused",
    });
    expect(Object.keys(spec)).toEqual([
      "name",
      "description",
      "connectionString",
      "database",
      "collections",
      "autoConfigure",
      "onHistoryLost",
      "desiredState",
    ]);
  });
  it("leaves a blank connection string and the desired state out", () => {
    const { spec } = buildSpec(form({ connectionString: "  " }));
    expect("connectionString" in spec).toBe(false);
    expect("desiredState" in spec).toBe(false);
  });
  it("reports nameless and repeated collections, keeping the first", () => {
    const { spec, problems } = buildSpec(
      form({
        collections: [
          { ...newCollection("tasks", "a"), initialSync: true },
          newCollection(" tasks ", "b"),
          newCollection("", "c"),
        ],
      }),
    );
    expect(Object.keys(spec.collections)).toEqual(["tasks"]);
    expect(spec.collections.tasks.initialSync).toBe(true);
    expect(problems.map((p) => p.field)).toEqual(["f-b", "f-c"]);
  });
});

describe("redaction", () => {
  it("hides the password and secret options", () => {
    expect(redactConnectionString("mongodb+srv://user:p@ss@cluster0.example.net/db?retryWrites=true&tlsCertificateKeyFilePassword=x"))
      .toBe("mongodb+srv://user:****@cluster0.example.net/db?retryWrites=true&tlsCertificateKeyFilePassword=****");
    expect(redactConnectionString("mongodb://onlyuser@h:27017/")).toBe("mongodb://****@h:27017/");
    expect(redactConnectionString("mongodb://h1,h2/?replicaSet=rs0")).toBe("mongodb://h1,h2/?replicaSet=rs0");
    expect(redactConnectionString("not a uri")).toBe("****");
  });
  it("redacts a spec without touching the rest", () => {
    const spec = buildSpec(form()).spec;
    expect(redactedSpec(spec)).toEqual({ ...spec, connectionString: "mongodb://u:****@h/" });
    expect(spec.connectionString).toBe("mongodb://u:p@h/");
  });
});
