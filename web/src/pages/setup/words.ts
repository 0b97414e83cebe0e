// The api's enums and codes in words: preflight checks, reconfiguration plans, preview
// diagnostics.
import type { Schemas } from "../../api/client";

export type CheckResult = Schemas["CheckResult"];
export type PreflightReport = Schemas["PreflightReport"];
export type Plan = Schemas["ReconfigurationPlan"];
export type CollectionChange = Schemas["CollectionChange"];

const CHECKS: Record<string, string> = {
  connection_string: "Connection string parses",
  target_allowed: "Hosts resolve to allowed addresses",
  cluster_reachable: "Cluster answers and accepts the credentials",
  replica_set: "Replica set (change streams)",
  list_databases: "May list databases",
  list_collections: "May list collections",
  database_exists: "Database exists",
  collection_exists: "Collection exists",
  collection_not_capped: "Collection is not capped",
  pre_and_post_images: "Pre- and post-images recorded",
  id_index: "Index on the ID fields",
  sync_privileges: "Privileges to sync",
  shard_metadata: "Shard metadata",
  metadata_collections: "Metadata collections can be created",
};

/** A check's name in words (unknown checks: their code, readable). */
export function checkLabel(check: string): string {
  const known = CHECKS[check];
  if (known) return known;
  const words = check.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A check's outcome: a word (never colour alone) and its CSS class. */
export function checkOutcome(status: CheckResult["status"]): { label: string; cls: string } {
  switch (status) {
    case "passed":
      return { label: "Pass", cls: "check-pass" };
    case "warning":
      return { label: "Warning", cls: "check-warn" };
    case "failed":
      return { label: "Fail", cls: "check-fail" };
    case "skipped":
      return { label: "Skipped", cls: "muted" };
  }
}

/** One line about a preflight run. */
export function preflightSummary(report: PreflightReport): string {
  const count = (s: CheckResult["status"]) => report.checks.filter((c) => c.status === s).length;
  const failed = count("failed");
  const warned = count("warning");
  const skipped = count("skipped");
  const parts: string[] = [];
  if (failed > 0) parts.push(`${failed} failed`);
  if (warned > 0) parts.push(`${warned} with a warning`);
  if (skipped > 0) parts.push(`${skipped} skipped`);
  const head = report.ok
    ? warned > 0
      ? "No check failed"
      : "All checks passed"
    : "Some checks failed";
  return `${head}: ${report.checks.length} checks${parts.length ? ` (${parts.join(", ")})` : ""}.`;
}

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
