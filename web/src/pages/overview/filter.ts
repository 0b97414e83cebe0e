// The overview's filter, search and sort over an app's connectors (pure, unit tested).
import type { Connector } from "../../api/client";

export type HealthFilter = "all" | "green" | "yellow" | "red";
export type SortKey = "name" | "status" | "health" | "lag" | "lastSync";

export interface OverviewQuery {
  search: string;
  status: string; // "all" or a ConnectorStatus
  health: HealthFilter;
  sort: SortKey;
}

export const defaultQuery: OverviewQuery = { search: "", status: "all", health: "all", sort: "health" };

const healthRank = { red: 0, yellow: 1, green: 2 } as const;

/** The worse of the two lags (ms), null when neither is known. */
export function worstLag(c: Pick<Connector, "lag">): number | null {
  const values = [c.lag.mongoToEdgeMs, c.lag.edgeToMongoMs].filter((v): v is number => typeof v === "number");
  return values.length ? Math.max(...values) : null;
}

/** Whether `c` matches the words of `search` (each must appear in its name, description,
 * database, a collection name, the worker or the health reason), case-insensitive. */
export function matchesSearch(c: Connector, search: string): boolean {
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = [
    c.name,
    c.description,
    c.database,
    c.id,
    c.assignedWorker?.name ?? "",
    c.health.code,
    c.health.reason,
    ...Object.keys(c.collections),
  ]
    .join("\n")
    .toLowerCase();
  return words.every((w) => haystack.includes(w));
}

export function applyQuery(list: Connector[], q: OverviewQuery): Connector[] {
  const out = list.filter(
    (c) =>
      (q.status === "all" || c.status === q.status) &&
      (q.health === "all" || c.health.state === q.health) &&
      matchesSearch(c, q.search),
  );
  const byName = (a: Connector, b: Connector) => a.name.localeCompare(b.name);
  const cmp: Record<SortKey, (a: Connector, b: Connector) => number> = {
    name: byName,
    status: (a, b) => a.status.localeCompare(b.status) || byName(a, b),
    health: (a, b) => healthRank[a.health.state] - healthRank[b.health.state] || byName(a, b),
    lag: (a, b) => (worstLag(b) ?? -1) - (worstLag(a) ?? -1) || byName(a, b),
    lastSync: (a, b) => (Date.parse(a.lastSyncedAt ?? "") || 0) - (Date.parse(b.lastSyncedAt ?? "") || 0) || byName(a, b),
  };
  return out.sort(cmp[q.sort]);
}

/** Counts by health for the summary line. */
export function healthCounts(list: Connector[]): Record<"green" | "yellow" | "red", number> {
  const counts = { green: 0, yellow: 0, red: 0 };
  for (const c of list) counts[c.health.state]++;
  return counts;
}
