// A connection test (preflight) in words: each check's name and outcome, and the run in one line.
// The wizard's test step and the connector page's "Test connection" both show these.
import type { Schemas } from "../api/client";

export type CheckResult = Schemas["CheckResult"];
export type PreflightReport = Schemas["PreflightReport"];

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
