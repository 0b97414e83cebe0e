// The api's enums and codes in words: reconfiguration plans, preview diagnostics (the
// connection test's are in lib/checks.ts).
import type { Schemas } from "../../api/client";

export type Plan = Schemas["ReconfigurationPlan"];
export type CollectionChange = Schemas["CollectionChange"];

export function connectionActionWords(action: Plan["connection"]): string {
  switch (action) {
    case "unchanged":
      return "The MongoDB connection stays as it is.";
    case "reconnectAndResume":
      return "The connector reconnects to MongoDB with the new connection string and resumes every stream where it was.";
  }
}

export function collectionActionWords(action: CollectionChange["action"]): string {
  switch (action) {
    case "initialSync":
      return "Copied again from MongoDB (initial sync), then streamed";
    case "startStreaming":
      return "Starts streaming changes from now on (no copy)";
    case "applySettings":
      return "New settings apply; its stream goes on where it was";
    case "stop":
      return "Stops syncing";
    case "none":
      return "No change";
  }
}

const REASONS: Record<CollectionChange["reasons"][number], string> = {
  collectionAdded: "collection added",
  collectionRemoved: "collection removed",
  databaseChanged: "database changed",
  idMappingChanged: "ID mapping changed",
  initialSyncToggled: "initial sync turned on or off",
  modeChanged: "mode changed",
  dqlStrictModeChanged: "strict mode changed",
  filterChanged: "filter changed",
  settableCountersChanged: "settable counters changed",
};

export function reasonsWords(reasons: CollectionChange["reasons"]): string {
  return reasons.length === 0 ? "—" : reasons.map((r) => REASONS[r] ?? r).join(", ");
}

/** "2 collections change, 1 stays as it is." */
export function planSummary(plan: Plan): string {
  const changing = plan.collections.filter((c) => c.action !== "none").length;
  const same = plan.collections.length - changing;
  const noun = (n: number) => (n === 1 ? "collection" : "collections");
  if (changing === 0 && plan.connection === "unchanged") return "Nothing changes for the sync.";
  const parts = [`${changing} ${noun(changing)} ${changing === 1 ? "changes" : "change"}`];
  if (same > 0) parts.push(`${same} ${same === 1 ? "stays" : "stay"} as ${same === 1 ? "it is" : "they are"}`);
  return `${parts.join(", ")}.`;
}

/** A preview warning or error (`{code, path, message}`), read defensively. */
export interface Diagnostic {
  code: string;
  path: string;
  message: string;
}

export function diagnostic(value: unknown): Diagnostic {
  const o = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v));
  return { code: text(o.code), path: text(o.path), message: text(o.message) || text(value) };
}
