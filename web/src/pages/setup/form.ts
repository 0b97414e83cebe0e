// The connector form (what the wizard and the editor hold while the user types) and the spec it
// becomes (the body of create, replace, validate and test). No DOM here: unit-tested.
import type { Schemas } from "../../api/client";
import { cf } from "./fields-ids";

export type SyncMode = "json" | "ejson";
export type OnHistoryLost = "fail" | "resync";
export type DesiredState = "running" | "paused";
/** How a MongoDB document's identity becomes the edge `_id`. */
export type IdMode = "match" | "one" | "several";

export interface CollectionForm {
  /** Stable while the form lives (DOM ids, list keys); not the collection's name. */
  key: string;
  name: string;
  idMode: IdMode;
  /** The field of "One field". */
  idField: string;
  /** The fields of "Several fields" (empty rows kept so that `/fields/<i>` finds its input). */
  idFields: string[];
  initialSync: boolean;
  mode: SyncMode;
  /** `dqlStrictMode`. */
  strict: boolean;
  /** Settable counters as typed: comma-separated dotted paths. */
  counters: string;
  /** The filter as typed: a JSON object, or empty for none. */
  filter: string;
}

export interface ConnectorForm {
  name: string;
  description: string;
  /** Empty: none given (on create the api says it is required; on replace the stored one stays). */
  connectionString: string;
  database: string;
  autoConfigure: boolean;
  onHistoryLost: OnHistoryLost;
  collections: CollectionForm[];
}

export type ConnectorSpec = Schemas["ConnectorIn"];
export type CollectionSpec = Schemas["CollectionMappingIn"];

/** A problem found before asking the api (a filter that is not JSON...), at a form field's id. */
export interface LocalProblem {
  field: string;
  message: string;
}

let seq = 0;
/** A new collection key, unique in this page's life. */
export function nextKey(): string {
  seq += 1;
  return `c${seq}`;
}

export function emptyForm(): ConnectorForm {
  return {
    name: "",
    description: "",
    connectionString: "",
    database: "",
    autoConfigure: false,
    onHistoryLost: "fail",
    collections: [],
  };
}

/** A collection with the api's defaults: match IDs, no initial sync, json, strict mode. */
export function newCollection(name: string, key: string = nextKey()): CollectionForm {
  return {
    key,
    name,
    idMode: "match",
    idField: "",
    idFields: ["", ""],
    initialSync: false,
    mode: "json",
    strict: true,
    counters: "",
    filter: "",
  };
}

/** "quantity, order.qty" -> ["quantity", "order.qty"] (commas or new lines; blanks dropped). */
export function parseCounters(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

export function formatCounters(counters: readonly string[]): string {
  return counters.join(", ");
}

export type FilterResult = { ok: true; value: Record<string, unknown> | null } | { ok: false; message: string };

/** The filter textarea: empty is no filter; otherwise a JSON object (a MongoDB query document). */
export function parseFilter(text: string): FilterResult {
  if (text.trim() === "") return { ok: true, value: null };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `is not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isObject(value)) {
    return {
      ok: false,
      message: 'must be a JSON object (a MongoDB query document), e.g. {"deleted": false}; leave it empty to sync every document',
    };
  }
  return { ok: true, value };
}

export function formatFilter(value: unknown): string {
  return value === null || value === undefined ? "" : JSON.stringify(value, null, 2);
}

/** The `fields` of a collection's ID mapping mode. */
export function idFieldsOf(c: CollectionForm): string[] {
  switch (c.idMode) {
    case "match":
      return ["_id"];
    case "one":
      return [c.idField.trim()];
    case "several":
      return c.idFields.map((f) => f.trim());
  }
}

/** One collection's settings as the api takes them, and what could not be put in. */
export function collectionSpec(c: CollectionForm): { spec: CollectionSpec; problems: LocalProblem[] } {
  const problems: LocalProblem[] = [];
  const spec: CollectionSpec = {
    fields: idFieldsOf(c),
    initialSync: c.initialSync,
    mode: c.mode,
    dqlStrictMode: c.strict,
  };
  const counters = parseCounters(c.counters);
  if (counters.length > 0) spec.settableCounters = counters;
  const filter = parseFilter(c.filter);
  if (!filter.ok) problems.push({ field: cf(c.key, "filter"), message: `The filter ${filter.message}` });
  else if (filter.value) spec.filter = filter.value as CollectionSpec["filter"];
  return { spec, problems };
}

export interface BuildOptions {
  /** Create only: whether it starts syncing. Left out on replace. */
  desiredState?: DesiredState;
}

/**
 * The form as a connector spec. A blank connection string is left out (create: the api reports
 * it missing; replace: the stored one stays). What the api cannot be sent (a filter that does not
 * parse, a nameless or repeated collection) is left out of the spec and reported as a problem.
 */
export function buildSpec(form: ConnectorForm, options: BuildOptions = {}): { spec: ConnectorSpec; problems: LocalProblem[] } {
  const problems: LocalProblem[] = [];
  const collections: ConnectorSpec["collections"] = {};
  for (const c of form.collections) {
    const name = c.name.trim();
    if (name === "") {
      problems.push({ field: cf(c.key, "group"), message: "Give the collection a name" });
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(collections, name)) {
      problems.push({ field: cf(c.key, "group"), message: `The collection ${name} is listed twice; remove one` });
      continue;
    }
    const built = collectionSpec(c);
    collections[name] = built.spec;
    problems.push(...built.problems);
  }
  const spec: ConnectorSpec = {
    name: form.name.trim(),
    description: form.description,
    database: form.database.trim(),
    collections,
    autoConfigure: form.autoConfigure,
    onHistoryLost: form.onHistoryLost,
  };
  const secret = form.connectionString.trim();
  if (secret !== "") spec.connectionString = secret;
  if (options.desiredState) spec.desiredState = options.desiredState;
  return { spec: orderedSpec(spec), problems };
}

/** The members in the order people read them (name, description, connection, database, ...). */
function orderedSpec(spec: ConnectorSpec): ConnectorSpec {
  const { name, description, connectionString, database, collections, autoConfigure, onHistoryLost, desiredState } = spec;
  const out: ConnectorSpec = { name, description } as ConnectorSpec;
  if (connectionString !== undefined) out.connectionString = connectionString;
  Object.assign(out, { database, collections, autoConfigure, onHistoryLost });
  if (desiredState !== undefined) out.desiredState = desiredState;
  return out;
}

/** The connection string with its password (and secret options) hidden, for showing a spec. */
export function redactConnectionString(uri: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*@)?(.*)$/i.exec(uri.trim());
  if (!m) return "****";
  const [, scheme, userinfo, rest] = m;
  let out = scheme;
  if (userinfo) {
    const user = userinfo.slice(0, -1);
    const colon = user.indexOf(":");
    out += colon >= 0 ? `${user.slice(0, colon)}:****@` : "****@";
  }
  out += rest.replace(/([?&][^=&]*(?:password|secret|token|key|credential)[^=&]*=)[^&]*/gi, "$1****");
  return out;
}

/** The spec for showing: its connection string redacted. */
export function redactedSpec(spec: ConnectorSpec): ConnectorSpec {
  if (!spec.connectionString) return spec;
  return { ...spec, connectionString: redactConnectionString(spec.connectionString) };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
