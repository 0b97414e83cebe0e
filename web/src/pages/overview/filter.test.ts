import { describe, expect, it } from "vitest";
import type { Connector } from "../../api/client";
import { applyQuery, defaultQuery, healthCounts, matchesSearch, worstLag } from "./filter";

function connector(name: string, over: Partial<Connector> = {}): Connector {
  return {
    id: `id-${name}`,
    appId: "app",
    name,
    description: "",
    connectionString: "mongodb://h/",
    database: "shop",
    collections: { products: { fields: ["_id"] } } as unknown as Connector["collections"],
    autoConfigure: false,
    onHistoryLost: "fail",
    desiredState: "running",
    status: "running",
    health: { state: "green", code: "ok", reason: "running" },
    collectionStatus: {},
    lag: { mongoToEdgeMs: 0, edgeToMongoMs: 0 },
    totals: {} as Connector["totals"],
    throughput: { mongoToEdgePerSec: 0, edgeToMongoPerSec: 0 },
    resumePoint: {} as Connector["resumePoint"],
    counters: {} as Connector["counters"],
    version: 1,
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
    ...over,
  } as Connector;
}

describe("overview filter", () => {
  const list = [
    connector("beta", { health: { state: "red", code: "connector_failed", reason: "failed" }, status: "failed" }),
    connector("alpha", { lag: { mongoToEdgeMs: 5000, edgeToMongoMs: 12000 } }),
    connector("gamma", { health: { state: "yellow", code: "lag_high", reason: "lag is high" }, assignedWorker: { name: "worker-7", since: "2026-01-01T00:00:00Z" } }),
  ];

  it("sorts the worst health first by default", () => {
    expect(applyQuery(list, defaultQuery).map((c) => c.name)).toEqual(["beta", "gamma", "alpha"]);
  });

  it("filters by status and health", () => {
    expect(applyQuery(list, { ...defaultQuery, status: "failed" }).map((c) => c.name)).toEqual(["beta"]);
    expect(applyQuery(list, { ...defaultQuery, health: "green" }).map((c) => c.name)).toEqual(["alpha"]);
  });

  it("searches every word across name, worker, reason and collections", () => {
    expect(matchesSearch(list[2], "worker-7 LAG")).toBe(true);
    expect(matchesSearch(list[2], "worker-8")).toBe(false);
    expect(matchesSearch(list[0], "products")).toBe(true);
    expect(matchesSearch(list[0], "  ")).toBe(true);
  });

  it("sorts by the worse lag of both ways, unknown last", () => {
    const unknown = connector("delta", { lag: { mongoToEdgeMs: null, edgeToMongoMs: null } });
    expect(worstLag(list[1])).toBe(12000);
    expect(worstLag(unknown)).toBeNull();
    expect(applyQuery([unknown, ...list], { ...defaultQuery, sort: "lag" }).map((c) => c.name)).toEqual([
      "alpha",
      "beta",
      "gamma",
      "delta",
    ]);
  });

  it("counts by health", () => {
    expect(healthCounts(list)).toEqual({ green: 1, yellow: 1, red: 1 });
  });
});
