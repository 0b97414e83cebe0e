// A spec back into the form: a connector read from the api (the editor opens it) or the JSON the
// user typed (the editor's JSON view). What the form cannot hold is listed, so that switching
// from JSON to the form never drops a thing silently.
import type { Connector } from "../../api/client";
import {
  emptyForm,
  formatCounters,
  formatFilter,
  isObject,
  newCollection,
  nextKey,
  type CollectionForm,
  type ConnectorForm,
} from "./form";

/** Members of a connector the api answers with and ignores when they are sent back. */
export const READ_ONLY = [
  "id",
  "appId",
  "status",
  "statusDetail",
  "health",
  "assignedWorker",
  "collectionStatus",
  "lag",
  "lastSyncedAt",
  "totals",
  "throughput",
  "resumePoint",
  "counters",
  "lastError",
  "createdAt",
  "updatedAt",
  "version",
];

const COLLECTION_KEYS = ["fields", "initialSync", "mode", "dqlStrictMode", "filter", "settableCounters", "dittoTypes"];

export interface FromSpec {
  form: ConnectorForm;
  /** What the form cannot show, each as "<JSON pointer>: why". Empty when nothing is lost. */
  lost: string[];
}

const esc = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

/** The form for a spec (any JSON value: it may come from the user). */
export function formFromSpec(value: unknown, makeKey: () => string = nextKey): FromSpec {
  const form = emptyForm();
  const lost: string[] = [];
  if (!isObject(value)) {
    return { form, lost: ["/: the connector must be a JSON object"] };
  }
  for (const [key, v] of Object.entries(value)) {
    const at = `/${esc(key)}`;
    switch (key) {
      case "name":
      case "description":
      case "connectionString":
      case "database":
        if (typeof v === "string") form[key] = v;
        else if (v !== null) lost.push(`${at}: must be a string`);
        break;
      case "autoConfigure":
        if (typeof v === "boolean") form.autoConfigure = v;
        else if (v !== null) lost.push(`${at}: must be true or false`);
        break;
      case "onHistoryLost":
        if (v === "fail" || v === "resync") form.onHistoryLost = v;
        else if (v !== null) lost.push(`${at}: must be "fail" or "resync"`);
        break;
      case "collections":
        if (isObject(v)) {
          for (const [name, settings] of Object.entries(v)) {
            form.collections.push(collectionFromSpec(name, settings, `${at}/${esc(name)}`, lost, makeKey()));
          }
        } else if (v !== null) lost.push(`${at}: must be an object keyed by collection name`);
        break;
      case "desiredState":
        if (v !== null) lost.push(`${at}: leave it out here; pause and resume are on the connector's page`);
        break;
      default:
        if (!READ_ONLY.includes(key)) lost.push(`${at}: not a member of a connector spec`);
    }
  }
  return { form, lost };
}

function collectionFromSpec(name: string, value: unknown, at: string, lost: string[], key: string): CollectionForm {
  const c = newCollection(name, key);
  if (!isObject(value)) {
    lost.push(`${at}: must be an object of collection settings`);
    return c;
  }
  for (const k of Object.keys(value)) {
    if (!COLLECTION_KEYS.includes(k)) lost.push(`${at}/${esc(k)}: not a collection setting`);
  }
  const fields = value.fields;
  if (Array.isArray(fields) && fields.every((f) => typeof f === "string")) {
    const list = fields as string[];
    if (list.length === 1 && list[0] === "_id") c.idMode = "match";
    else if (list.length === 1) {
      c.idMode = "one";
      c.idField = list[0];
    } else {
      c.idMode = "several";
      c.idFields = [...list];
    }
  } else if (fields !== undefined && fields !== null) {
    lost.push(`${at}/fields: must be an array of field names`);
  }
  c.initialSync = flag(value.initialSync, false, `${at}/initialSync`, lost);
  c.strict = flag(value.dqlStrictMode, true, `${at}/dqlStrictMode`, lost);
  if (value.mode === "json" || value.mode === "ejson") c.mode = value.mode;
  else if (value.mode !== undefined && value.mode !== null) lost.push(`${at}/mode: must be "json" or "ejson"`);
  // Any filter fits the textarea: one that is not an object is reported there.
  if (value.filter !== undefined && value.filter !== null) c.filter = formatFilter(value.filter);
  const direct = value.settableCounters;
  const nested = isObject(value.dittoTypes) ? value.dittoTypes.settableCounters : undefined;
  if (value.dittoTypes !== undefined && value.dittoTypes !== null) {
    if (!isObject(value.dittoTypes)) lost.push(`${at}/dittoTypes: must be an object`);
    else {
      for (const k of Object.keys(value.dittoTypes)) {
        if (k !== "settableCounters") lost.push(`${at}/dittoTypes/${esc(k)}: not a member of dittoTypes`);
      }
    }
  }
  const given = [direct, nested].filter((x) => x !== undefined && x !== null);
  if (given.length > 1) {
    lost.push(`${at}/dittoTypes/settableCounters: counters are given twice; keep settableCounters only`);
  } else if (given.length === 1) {
    const counters = given[0];
    if (Array.isArray(counters) && counters.every((p) => typeof p === "string" && !p.includes(","))) {
      c.counters = formatCounters(counters as string[]);
    } else {
      lost.push(`${at}/settableCounters: must be an array of field paths (without commas)`);
    }
  }
  return c;
}

function flag(v: unknown, fallback: boolean, at: string, lost: string[]): boolean {
  if (typeof v === "boolean") return v;
  if (v !== undefined && v !== null) lost.push(`${at}: must be true or false`);
  return fallback;
}

/**
 * The editor's form for a saved connector: its settings as stored, the connection string left
 * blank (blank keeps the stored one; the api shows it only redacted).
 */
export function formFromConnector(connector: Connector, makeKey: () => string = nextKey): ConnectorForm {
  const { desiredState: _state, ...spec } = connector;
  const { form } = formFromSpec(spec, makeKey);
  form.connectionString = "";
  return form;
}
