// Building DQL statements and reading what the console's user typed: quoting names, parsing the
// arguments, locating a parse error, and the history of statements run. No DOM, no api.
import type { StatementError } from "../../api/problem";

/** The app's collections with their document counts, one `{name, documents}` row each. */
export const COLLECTIONS_QUERY = "SELECT * FROM system:collections";

/** How many documents a collection's listing shows. */
export const LISTING_LIMIT = 50;

/**
 * A collection or field name in backquotes, which always works in DQL. A backquote cannot be
 * written inside backquotes (the lexer has no escape), so a name holding one is refused.
 */
export function quoteIdent(name: string): string {
  if (name === "") throw new Error("A name cannot be empty.");
  if (name.includes("`")) throw new Error(`The name ${name} holds a backquote, which DQL cannot quote.`);
  return `\`${name}\``;
}

/** The first documents of a collection. */
export function listingQuery(collection: string, limit = LISTING_LIMIT): string {
  return `SELECT * FROM ${quoteIdent(collection)} LIMIT ${Math.max(1, Math.floor(limit))}`;
}

/** One document by its `_id` (passed as the `:id` argument, so any JSON `_id` works). */
export function documentQuery(collection: string): string {
  return `SELECT * FROM ${quoteIdent(collection)} WHERE _id = :id`;
}

export type ParsedArgs = { ok: true; args: Record<string, unknown> | null } | { ok: false; message: string };

/** The console's "Arguments (JSON)": empty means none, else a JSON object of `:name` values. */
export function parseArgs(text: string): ParsedArgs {
  if (text.trim() === "") return { ok: true, args: null };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { ok: false, message: `Not valid JSON: ${why}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, message: 'Must be a JSON object of the statement\'s :name arguments, e.g. {"done": false}.' };
  }
  return { ok: true, args: value as Record<string, unknown> };
}

/**
 * The UTF-16 index (for a textarea's selection) of a 1-based line and column, the column
 * counted in characters (Unicode scalar values) as the api counts it. Clamped to the text.
 */
export function offsetOf(statement: string, line: number, column: number): number {
  let index = 0;
  const lines = statement.split("\n");
  const target = Math.max(1, Math.min(line, lines.length));
  for (let l = 1; l < target; l++) index += lines[l - 1].length + 1;
  const chars = Array.from(lines[target - 1]);
  const take = Math.max(0, Math.min(column - 1, chars.length));
  for (let c = 0; c < take; c++) index += chars[c].length;
  return index;
}

/** The statement's line where parsing stopped, and the caret under it (characters before it). */
export function errorLine(statement: string, error: Pick<StatementError, "line" | "column">): { text: string; caret: number } {
  const lines = statement.split("\n");
  const text = lines[Math.max(1, Math.min(error.line, lines.length)) - 1] ?? "";
  const caret = Math.max(0, Math.min(error.column - 1, Array.from(text).length));
  return { text, caret };
}

/** What the parser expected, each once, with what follows it in a sentence: "A, B or C". */
export function expectedParts(expected: string[]): { word: string; after: string }[] {
  const items = [...new Set(expected)];
  return items.map((word, i) => ({ word, after: i < items.length - 2 ? ", " : i === items.length - 2 ? " or " : "" }));
}

/** What the parser expected, as words: "`FROM`, `,` or `LIMIT`". */
export function expectedText(expected: string[]): string {
  return expectedParts(expected)
    .map((p) => `\`${p.word}\`${p.after}`)
    .join("");
}

/** The history with `statement` first, without an earlier copy of it, at most `max` long. */
export function remember(history: string[], statement: string, max = 20): string[] {
  const s = statement.trim();
  if (s === "") return history;
  return [s, ...history.filter((h) => h !== s)].slice(0, max);
}

/** A statement on one line, shortened: for a history list. */
export function oneLine(statement: string, max = 80): string {
  const flat = statement.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * The collection a SELECT, UPDATE or DELETE reads or an INSERT writes (backquoted or not);
 * null for `system:` collections or when it cannot tell.
 */
export function statementCollection(statement: string): string | null {
  const name = /(?:`([^`]+)`|([A-Za-z_][A-Za-z0-9_]*)(:)?)/.source;
  const update = new RegExp(`^\\s*UPDATE\\s+${name}`, "i").exec(statement);
  // The name in a lookahead: `SELECT from FROM c` must still find the second FROM.
  const matches = update ? [update] : [...statement.matchAll(new RegExp(`\\b(?:FROM|INTO)\\s+(?=${name})`, "gi"))];
  for (const m of matches) {
    if (m[1] !== undefined) return m[1];
    if (m[3] !== undefined) return null;
    // `SELECT from FROM c`: a field named like the keyword is followed by the real FROM.
    if (/^(FROM|INTO)$/i.test(m[2])) continue;
    return m[2];
  }
  return null;
}

/** Ctrl+Enter (Cmd+Enter on a Mac) runs the statement. */
export function isRunShortcut(e: { key: string; ctrlKey: boolean; metaKey: boolean }): boolean {
  return e.key === "Enter" && (e.ctrlKey || e.metaKey);
}
