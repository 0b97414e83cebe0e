// The per-document trace's steps in words: what each step is and the details a worker recorded
// with it (operation, cluster time, transaction number, fields changed, code and message...).

export const STEP_LABELS: Record<string, string> = {
  mongo_change: "MongoDB change read",
  edge_merged: "Edge edit kept (queued back to MongoDB)",
  edge_refused: "Refused by the edge store",
  echo: "Echo of the write-back recognised",
  echo_differs: "Echo differs from the edge",
  write_back: "Written to MongoDB",
  refused: "Refused by MongoDB",
};

export const DIRECTION_LABELS: Record<string, string> = {
  mongo_to_edge: "MongoDB → edge",
  edge_to_mongo: "edge → MongoDB",
};

export function stepLabel(step: string): string {
  return STEP_LABELS[step] ?? step.replace(/_/g, " ");
}

export function directionLabel(direction: string): string {
  return DIRECTION_LABELS[direction] ?? direction.replace(/_/g, " ");
}

/** The detail keys in the order they are shown, with their names. */
const KNOWN: [string, string][] = [
  ["operation", "Operation"],
  ["clusterTime", "Cluster time"],
  ["txnNumber", "Transaction number"],
  ["session", "Session"],
  ["fieldsChanged", "Fields changed"],
  ["edgeWrite", "Edge write"],
  ["code", "Code"],
  ["message", "Message"],
  ["outcome", "Outcome"],
  ["recordId", "Unsynced record"],
  ["resumeToken", "Resume token"],
];

export interface DetailItem {
  key: string;
  label: string;
  value: string;
}

/** A cluster time (`{"t": seconds, "i": increment}`) as its UTC time and increment. */
export function clusterTimeText(v: unknown): string {
  if (v && typeof v === "object" && "t" in v) {
    const { t, i } = v as { t: unknown; i?: unknown };
    if (typeof t === "number" && Number.isFinite(t)) {
      const at = new Date(t * 1000).toISOString().replace(".000Z", "Z");
      return typeof i === "number" ? `${at} (increment ${i})` : at;
    }
  }
  return valueText(v);
}

function valueText(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/** A step's details as labelled text, known keys first; missing and `null` values left out. */
export function describeDetail(detail: unknown): DetailItem[] {
  if (!detail || typeof detail !== "object" || Array.isArray(detail)) {
    return detail === null || detail === undefined ? [] : [{ key: "detail", label: "Detail", value: valueText(detail) }];
  }
  const d = detail as Record<string, unknown>;
  const items: DetailItem[] = [];
  const seen = new Set<string>();
  for (const [key, label] of KNOWN) {
    seen.add(key);
    const v = d[key];
    if (v === null || v === undefined) continue;
    let value: string;
    if (key === "clusterTime") value = clusterTimeText(v);
    else if (key === "fieldsChanged" && Array.isArray(v)) value = v.length === 0 ? "none" : v.map(valueText).join(", ");
    else value = valueText(v);
    items.push({ key, label, value });
  }
  for (const [key, v] of Object.entries(d)) {
    if (seen.has(key) || v === null || v === undefined) continue;
    items.push({ key, label: key, value: valueText(v) });
  }
  return items;
}
