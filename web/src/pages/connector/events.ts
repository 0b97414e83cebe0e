// The events tab's logic: the query of its filters, and keeping a newest-first list as live
// polls bring newer events and "Load older" brings older ones.
import { documentIdParam } from "./docid";

export interface EventFilters {
  level: string;
  collection: string;
  documentId: string;
  q: string;
}

export const DEFAULT_FILTERS: EventFilters = { level: "info", collection: "", documentId: "", q: "" };

export const LEVELS = [
  { value: "debug", label: "Debug and above" },
  { value: "info", label: "Info and above" },
  { value: "warn", label: "Warnings and errors" },
  { value: "error", label: "Errors only" },
];

/** Events per page the tab asks for. */
export const PAGE_SIZE = 50;

/** The most events the list keeps (live polling only adds). */
export const MAX_EVENTS = 2000;

export interface EventQuery {
  level?: string;
  collection?: string;
  documentId?: string;
  q?: string;
}

/** The query of the filters, without the empty ones (the api refuses empty values). */
export function eventQuery(f: EventFilters): EventQuery {
  const query: EventQuery = {};
  if (f.level && f.level !== "info") query.level = f.level;
  if (f.collection) query.collection = f.collection;
  const id = documentIdParam(f.documentId);
  if (id) query.documentId = id;
  const q = f.q.trim();
  if (q) query.q = q;
  return query;
}

/**
 * The list with the newest page on top. `gap` when the page shares no event with the list and is
 * full: events between them may be missing, so the page replaces the list.
 */
export function mergeNewer<T extends { id: string }>(
  current: T[],
  fresh: T[],
  pageSize = PAGE_SIZE,
): { items: T[]; gap: boolean } {
  if (current.length === 0) return { items: fresh.slice(0, MAX_EVENTS), gap: false };
  const known = new Set(current.map((e) => e.id));
  const overlaps = fresh.some((e) => known.has(e.id));
  if (!overlaps && fresh.length >= pageSize) return { items: fresh.slice(0, MAX_EVENTS), gap: true };
  const newer: T[] = [];
  for (const e of fresh) {
    if (known.has(e.id)) break;
    newer.push(e);
  }
  if (newer.length === 0) return { items: current, gap: false };
  return { items: [...newer, ...current].slice(0, MAX_EVENTS), gap: false };
}

/** The list with an older page below it (events already there left out). */
export function appendOlder<T extends { id: string }>(current: T[], older: T[]): T[] {
  const known = new Set(current.map((e) => e.id));
  return [...current, ...older.filter((e) => !known.has(e.id))];
}

/** What to do, when the event's context says (`remediation`). */
export function remediationOf(context: unknown): string | null {
  if (context && typeof context === "object" && !Array.isArray(context)) {
    const r = (context as Record<string, unknown>).remediation;
    if (typeof r === "string" && r.trim() !== "") return r;
  }
  return null;
}

/** Whether a context has anything to show. */
export function hasContext(context: unknown): boolean {
  return !!context && typeof context === "object" && Object.keys(context).length > 0;
}

/** The CSS class of a level's badge. */
export function levelClass(level: string): string {
  switch (level) {
    case "error":
      return "level-error";
    case "warn":
      return "level-warn";
    case "debug":
      return "level-debug";
    default:
      return "level-info";
  }
}
