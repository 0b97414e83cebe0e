// The editor's logic apart from the page: its JSON view (text <-> form, both ways, nothing lost
// silently), and the body replace and validate get (a blank connection string left out: the
// stored one stays).
import { buildSpec, isObject, type ConnectorForm } from "./form";
import { formFromSpec } from "./reverse";

export type Parsed = { ok: true; value: Record<string, unknown> } | { ok: false; message: string };

/** The JSON view's text as a spec object. */
export function parseSpecJson(text: string): Parsed {
  if (text.trim() === "") return { ok: false, message: "The connector JSON is empty: give the connector spec as a JSON object" };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `The connector JSON does not parse: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isObject(value)) return { ok: false, message: "The connector JSON must be an object (a connector spec)" };
  return { ok: true, value };
}

export function specJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** Form -> JSON view: refused while a field holds what JSON cannot (a filter that does not parse). */
export function formToJson(form: ConnectorForm): { ok: true; text: string } | { ok: false; problems: string[] } {
  const { spec, problems } = buildSpec(form);
  if (problems.length > 0) return { ok: false, problems: problems.map((p) => p.message) };
  return { ok: true, text: specJson(spec) };
}

/** JSON view -> form: refused while the text does not parse or holds what the form cannot show. */
export function jsonToForm(text: string): { ok: true; form: ConnectorForm } | { ok: false; problems: string[] } {
  const parsed = parseSpecJson(text);
  if (!parsed.ok) return { ok: false, problems: [parsed.message] };
  const { form, lost } = formFromSpec(parsed.value);
  if (lost.length > 0) return { ok: false, problems: lost };
  return { ok: true, form };
}

/** Whether a body leaves the connection string to the stored one (left out, null or blank). */
export function keepsSecret(body: Record<string, unknown>): boolean {
  const s = body.connectionString;
  return s === undefined || s === null || (typeof s === "string" && s.trim() === "");
}


/** The body sent to replace: a blank connection string is left out (the stored one stays). */
export function replaceBody(body: Record<string, unknown>): Record<string, unknown> {
  if (!keepsSecret(body) || !("connectionString" in body)) return body;
  const { connectionString: _kept, ...rest } = body;
  return rest;
}
