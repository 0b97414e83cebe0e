// The DOM ids of the connector form's fields: violations, local problems and "touched" marks
// all name a field by its id.

/** Connector-level fields. */
export const F = {
  name: "f-name",
  description: "f-description",
  connectionString: "f-connectionString",
  database: "f-database",
  autoConfigure: "f-autoConfigure",
  onHistoryLost: "f-onHistoryLost",
  desiredState: "f-desiredState",
  /** The "Collection name" input that adds a collection (and `/collections` itself). */
  newCollection: "f-newCollection",
} as const;

/** Parts of one collection's form. `group` is the collection as a whole. */
export type CollectionPart =
  | "group"
  | "fields"
  | "field"
  | "initialSync"
  | "mode"
  | "strict"
  | "counters"
  | "filter"
  | "samples";

/** The id of a collection's field: `f-c3-mode`, `f-c3-fields-1` (the 2nd of several ID fields). */
export function cf(key: string, part: CollectionPart, index?: number): string {
  const base = part === "group" ? `f-${key}` : `f-${key}-${part}`;
  return index === undefined ? base : `${base}-${index}`;
}

/** The field an element belongs to: radio buttons are `<field>--<choice>`. */
export function fieldOfElement(id: string): string {
  const at = id.indexOf("--");
  return at < 0 ? id : id.slice(0, at);
}

/**
 * What touching a field reveals: a collection's problems show together once any of its fields is
 * touched (changing its mode can make its strict mode wrong); other fields on their own.
 */
export function touchKey(field: string): string {
  const m = /^f-(c\d+)(?:-|$)/.exec(field);
  return m ? `f-${m[1]}` : field;
}

/** The DOM ids a field's messages use, for aria-describedby. */
export const errorId = (field: string) => `${field}-error`;
export const hintId = (field: string) => `${field}-hint`;
