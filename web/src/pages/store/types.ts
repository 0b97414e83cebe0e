// What the dashboard can tell about a stored document's types: the stored type tree (GET
// .../store/collections/{c}/documents/{id}: native-mode connectors keep each field's BSON type
// beside the value), Extended JSON wrappers in the document itself (EJSON-mode collections), and
// the mapping of the connectors syncing the collection (mode, settable counters).
import type { Schemas } from "../../api/client";

/** Extended JSON wrappers (canonical and relaxed) and the BSON type each stands for. */
const WRAPPERS: Record<string, string> = {
  $oid: "objectId",
  $date: "date",
  $numberLong: "long",
  $numberInt: "int",
  $numberDouble: "double",
  $numberDecimal: "decimal",
  $binary: "binData",
  $uuid: "binData (UUID)",
  $regularExpression: "regex",
  $regex: "regex",
  $timestamp: "timestamp",
  $symbol: "symbol",
  $code: "javascript",
  $minKey: "minKey",
  $maxKey: "maxKey",
  $undefined: "undefined",
  $dbPointer: "dbPointer",
};

export interface TypedField {
  /** Dotted path, array positions in brackets: `items[0].placedAt`. */
  path: string;
  /** The BSON type the wrapper stands for. */
  type: string;
  /** The wrapper as stored. */
  value: unknown;
}

/** The BSON type an Extended JSON wrapper stands for, or null when `value` is not one. */
export function wrapperType(value: unknown): string | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  if (keys.length === 0 || keys.length > 3 || !keys.every((k) => k.startsWith("$"))) return null;
  if (keys.includes("$code")) return keys.includes("$scope") ? "javascriptWithScope" : "javascript";
  const known = keys.find((k) => k in WRAPPERS);
  return known ? WRAPPERS[known] : null;
}

function join(prefix: string, key: string): string {
  return prefix === "" ? key : `${prefix}.${key}`;
}

/** Every Extended JSON type wrapper in a document, outermost first (not inside wrappers). */
export function typedFields(doc: unknown, prefix = ""): TypedField[] {
  const out: TypedField[] = [];
  const type = wrapperType(doc);
  if (type !== null && prefix !== "") return [{ path: prefix, type, value: doc }];
  if (Array.isArray(doc)) {
    doc.forEach((v, i) => out.push(...typedFields(v, `${prefix}[${i}]`)));
  } else if (doc !== null && typeof doc === "object") {
    for (const [k, v] of Object.entries(doc)) out.push(...typedFields(v, join(prefix, k)));
  }
  return out;
}

/** The value at a dotted path (as settable counters are named), or undefined. */
export function valueAt(doc: unknown, dotted: string): unknown {
  let cur: unknown = doc;
  for (const part of dotted.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export interface CollectionSync {
  connectorId: string;
  connectorName: string;
  mode: Schemas["SyncMode"];
  dqlStrictMode: boolean;
  idFields: string[];
  counters: { path: string; value: unknown }[];
}

/** The connectors that sync `collection`, with its settings and the document's counters. */
export function syncsOf(connectors: Schemas["ConnectorOut"][], collection: string, doc: unknown): CollectionSync[] {
  const out: CollectionSync[] = [];
  for (const c of connectors) {
    const m = c.collections[collection];
    if (!m) continue;
    out.push({
      connectorId: c.id,
      connectorName: c.name,
      mode: m.mode,
      dqlStrictMode: m.dqlStrictMode,
      idFields: m.fields,
      counters: (m.settableCounters ?? []).map((path) => ({ path, value: valueAt(doc, path) })),
    });
  }
  return out;
}

export interface FieldType {
  /** Dotted path, array positions in brackets. */
  path: string;
  type: string;
}

/**
 * The stored type tree of a document (`types` of GET .../store/collections/{c}/documents/{id}:
 * sparse, shaped like the document, a BSON type name at each leaf) as one row per field.
 */
export function flattenTypes(types: unknown, prefix = ""): FieldType[] {
  if (typeof types === "string") return prefix ? [{ path: prefix, type: types }] : [];
  if (Array.isArray(types)) return types.flatMap((t, i) => flattenTypes(t, `${prefix}[${i}]`));
  if (types === null || typeof types !== "object") return [];
  return Object.entries(types as Record<string, unknown>).flatMap(([k, v]) => flattenTypes(v, prefix ? `${prefix}.${k}` : k));
}

/** A document's `_id` as the document route's path takes it: a string as is, else its JSON. */
export function documentIdSegment(id: unknown): string {
  return typeof id === "string" ? id : JSON.stringify(id);
}
