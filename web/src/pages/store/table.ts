// Result rows as a table: the columns are the union of the rows' top-level keys (`_id` first,
// then in the order first seen), nested values read as compact JSON.
import { docId } from "../../lib/format";

export type Row = Record<string, unknown>;

export type CellKind = "missing" | "null" | "string" | "number" | "boolean" | "json";

export interface Cell {
  kind: CellKind;
  /** What the cell shows (shortened past `maxCell` characters). */
  text: string;
  /** The whole text when `text` is shortened. */
  full?: string;
}

export interface TableRow {
  key: string;
  /** The row's `_id`, when it has one. */
  id: unknown;
  hasId: boolean;
  item: Row;
  cells: Cell[];
}

export interface ResultTable {
  columns: string[];
  rows: TableRow[];
}

/** The union of the rows' top-level keys: `_id` first, then in the order they first appear. */
export function columnsOf(items: Row[]): string[] {
  const seen = new Set<string>();
  for (const item of items) for (const key of Object.keys(item)) seen.add(key);
  const columns = [...seen];
  const at = columns.indexOf("_id");
  if (at > 0) {
    columns.splice(at, 1);
    columns.unshift("_id");
  }
  return columns;
}

/** One value as a cell: strings as they are, everything else as compact JSON. */
export function cellOf(value: unknown, present: boolean, maxCell = 120): Cell {
  if (!present || value === undefined) return { kind: "missing", text: "" };
  let kind: CellKind;
  let text: string;
  if (value === null) {
    kind = "null";
    text = "null";
  } else if (typeof value === "string") {
    kind = "string";
    text = value;
  } else if (typeof value === "number" || typeof value === "bigint") {
    kind = "number";
    text = String(value);
  } else if (typeof value === "boolean") {
    kind = "boolean";
    text = String(value);
  } else {
    kind = "json";
    text = JSON.stringify(value) ?? String(value);
  }
  if (text.length > maxCell) return { kind, text: `${text.slice(0, Math.max(1, maxCell - 1))}…`, full: text };
  return { kind, text };
}

/** The table of a statement's result rows. */
export function buildTable(items: Row[], maxCell = 120): ResultTable {
  const columns = columnsOf(items);
  const used = new Map<string, number>();
  const rows = items.map((item, index) => {
    const hasId = Object.prototype.hasOwnProperty.call(item, "_id");
    const base = hasId ? `id:${JSON.stringify(item._id)}` : `row:${index}`;
    const n = used.get(base) ?? 0;
    used.set(base, n + 1);
    return {
      key: n === 0 ? base : `${base}#${n}`,
      id: hasId ? item._id : undefined,
      hasId,
      item,
      cells: columns.map((c) => cellOf(item[c], Object.prototype.hasOwnProperty.call(item, c), maxCell)),
    };
  });
  return { columns, rows };
}

/** A row's name for its "View" button: its `_id`, or its position when it has none. */
export function rowName(row: Pick<TableRow, "hasId" | "id">, index: number): string {
  return row.hasId ? docId(row.id) : `row ${index + 1}`;
}

export interface CollectionRow {
  name: string;
  documents: number | null;
}

/** The rows of `SELECT * FROM system:collections` (`{name, documents}`), skipping any other shape. */
export function collectionsOf(items: Row[]): CollectionRow[] {
  return items
    .filter((r): r is Row & { name: string } => typeof r.name === "string")
    .map((r) => ({ name: r.name, documents: typeof r.documents === "number" ? r.documents : null }));
}
