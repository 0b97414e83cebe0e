// Document ids as users type them and as the api takes them (`documentId` query parameters of the
// trace and the events): the plain string for a string id, else the id's JSON (`42`,
// `{"sku":"a"}`). The api matches a plain string either way, quoted or not.
import { docId } from "../../lib/format";

/**
 * What the user typed, as the api's `documentId` parameter: `p01` stays `p01`, a JSON string
 * (`"p01"`) becomes its text, JSON objects and arrays are sent compact (`{ "sku": "a" }` ->
 * `{"sku":"a"}`, as the edge stores them), anything else is sent as typed.
 */
export function documentIdParam(input: string): string {
  const text = input.trim();
  if (text === "") return "";
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return text;
}

/** An id sent as JSON text (events' `documentId`, e.g. `"p1"` or `{"sku":"a"}`) as one line. */
export function jsonIdText(text: string | null | undefined): string {
  if (text === null || text === undefined || text === "") return "—";
  try {
    return docId(JSON.parse(text));
  } catch {
    return text;
  }
}
