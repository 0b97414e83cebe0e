// Small pieces of the connector page in words: copy progress, resume point, and
// the names that tell table rows apart for screen readers and tests.
import type { Schemas } from "../../api/client";
import { count, docId, duration, percent, rate } from "../../lib/format";

export interface CopyText {
  percent: string;
  documents: string;
  speed: string;
  eta: string;
}

/** A copy's progress: percent, copied of the estimate, rate and time left. */
export function copyText(p: Schemas["CopyProgress"]): CopyText {
  const total = p.estimatedTotal === null || p.estimatedTotal === undefined ? "an unknown number" : count(p.estimatedTotal);
  return {
    percent: percent(p.percent),
    documents: `${count(p.copied)} of ${total}`,
    speed: p.documentsPerSecond === null || p.documentsPerSecond === undefined ? "not moving" : rate(p.documentsPerSecond),
    eta: p.etaSeconds === null || p.etaSeconds === undefined ? "time left unknown" : `${duration(p.etaSeconds * 1000)} left`,
  };
}

/** How long the connector could stop and still resume, in words. */
export function resumeText(r: Schemas["ResumePoint"]): string {
  if (!r.known) return `Unknown${r.reason ? `: ${r.reason}` : ""}`;
  if (r.secondsLeft === null || r.secondsLeft === undefined) return r.reason ?? "Nothing leaves the oplog yet.";
  if (r.secondsLeft < 0) return "Gone: the oldest resume point has left the oplog; the collection needs a resync.";
  return `${duration(r.secondsLeft * 1000)} left before the oldest resume point leaves the oplog`;
}

/**
 * A row's document name: its id, with the collection when the same id shows in more than one
 * collection of the list (so each row's buttons have a name of their own).
 */
export function rowName(rows: { collection: string; documentId: unknown }[], row: { collection: string; documentId: unknown }): string {
  const id = docId(row.documentId);
  const clash = rows.some((r) => r.collection !== row.collection && docId(r.documentId) === id);
  return clash ? `${id} in ${row.collection}` : id;
}

/** A duration given in seconds, or "—". */
export function secs(s: number | null | undefined): string {
  return s === null || s === undefined ? "—" : duration(s * 1000);
}
