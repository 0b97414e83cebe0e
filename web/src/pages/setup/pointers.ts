// Where a violation belongs on the form: each JSON pointer the api answers with (e.g.
// `/collections/tasks/dqlStrictMode`) is mapped to the field that holds that value (the Strict mode
// checkbox of collection tasks). Violations that map to no field are returned apart.
import type { Violation } from "../../api/problem";
import { cf, F } from "./fields-ids";
import { parseCounters, type ConnectorForm, type LocalProblem } from "./form";

/** The reference tokens of a JSON pointer (RFC 6901): "/a~1b/c" -> ["a/b", "c"]. */
export function parsePointer(pointer: string): string[] {
  if (pointer === "" || pointer === "/") return pointer === "/" ? [""] : [];
  const body = pointer.startsWith("/") ? pointer.slice(1) : pointer;
  return body.split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export interface Placement {
  field: string;
  /** Said before the message when the field holds several values (which counter, where in the filter). */
  prefix?: string;
}

const TOP: Record<string, string> = {
  name: F.name,
  description: F.description,
  connectionString: F.connectionString,
  database: F.database,
  autoConfigure: F.autoConfigure,
  onHistoryLost: F.onHistoryLost,
  desiredState: F.desiredState,
  collections: F.newCollection,
};

/** The field a pointer names in this form, or null. */
export function fieldOfPointer(pointer: string, form: ConnectorForm): Placement | null {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return null;
  const [top, name, member, ...rest] = tokens;
  if (top !== "collections") return tokens.length === 1 && TOP[top] ? { field: TOP[top] } : null;
  if (name === undefined) return { field: F.newCollection };
  const c = form.collections.find((x) => x.name.trim() === name);
  if (!c) return null;
  const group = { field: cf(c.key, "group") };
  switch (member) {
    case undefined:
      return group;
    case "fields": {
      const index = rest.length > 0 ? Number(rest[0]) : NaN;
      if (Number.isInteger(index)) {
        if (c.idMode === "one" && index === 0) return { field: cf(c.key, "field") };
        if (c.idMode === "several" && index < c.idFields.length) return { field: cf(c.key, "fields", index) };
      }
      return { field: cf(c.key, "fields") };
    }
    case "initialSync":
      return rest.length === 0 ? { field: cf(c.key, "initialSync") } : group;
    case "mode":
      return rest.length === 0 ? { field: cf(c.key, "mode") } : group;
    case "dqlStrictMode":
      return rest.length === 0 ? { field: cf(c.key, "strict") } : group;
    case "filter":
      return { field: cf(c.key, "filter"), prefix: rest.length > 0 ? `at ${rest.join(".")}` : undefined };
    case "settableCounters":
    case "dittoTypes": {
      const tail = member === "dittoTypes" ? rest.slice(1) : rest;
      const index = tail.length > 0 ? Number(tail[0]) : NaN;
      const counters = parseCounters(c.counters);
      const prefix = Number.isInteger(index) && counters[index] !== undefined ? `${counters[index]}:` : undefined;
      return { field: cf(c.key, "counters"), prefix };
    }
    default:
      return group;
  }
}

export interface Placed {
  /** Field id -> its messages. */
  byField: Record<string, string[]>;
  /** Violations that belong to no field of the form. */
  unmapped: Violation[];
}

/** Puts each violation at its field; local problems (found before asking the api) join them. */
export function placeViolations(violations: readonly Violation[], form: ConnectorForm, local: readonly LocalProblem[] = []): Placed {
  const byField: Record<string, string[]> = {};
  const unmapped: Violation[] = [];
  const add = (field: string, message: string) => {
    const list = (byField[field] ??= []);
    if (!list.includes(message)) list.push(message);
  };
  for (const p of local) add(p.field, p.message);
  for (const v of violations) {
    const at = fieldOfPointer(v.path, form);
    if (!at) {
      if (!unmapped.some((u) => u.path === v.path && u.message === v.message)) unmapped.push(v);
      continue;
    }
    add(at.field, at.prefix ? `${at.prefix} ${v.message}` : v.message);
  }
  return { byField, unmapped };
}
