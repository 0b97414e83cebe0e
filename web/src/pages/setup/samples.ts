// The preview's sample documents as typed: a JSON array, one document, or one document per line
// (Extended JSON is JSON: {"$oid": ...} and the like pass through to the api untouched).
import { isObject } from "./form";

/** The most documents one preview maps (the api's limit). */
export const MAX_SAMPLES = 100;

export type SamplesResult = { ok: true; documents: Record<string, unknown>[] } | { ok: false; message: string };

export function parseSamples(text: string): SamplesResult {
  if (text.trim() === "") return { ok: false, message: "Paste at least one sample document" };
  let whole: unknown;
  let wholeError: string | null = null;
  try {
    whole = JSON.parse(text);
  } catch (e) {
    wholeError = e instanceof Error ? e.message : String(e);
  }
  if (wholeError === null) {
    if (Array.isArray(whole)) {
      if (whole.length === 0) return { ok: false, message: "The array is empty: give at least one document" };
      const bad = whole.findIndex((d) => !isObject(d));
      if (bad >= 0) return { ok: false, message: `Document ${bad + 1} is not a JSON object` };
      return limit(whole as Record<string, unknown>[]);
    }
    if (isObject(whole)) return { ok: true, documents: [whole] };
    return { ok: false, message: "Give a JSON array of documents, or one document (a JSON object) per line" };
  }
  const lines = text.split("\n").map((line, i) => ({ line: line.trim(), n: i + 1 }));
  const filled = lines.filter((l) => l.line !== "");
  if (filled.length <= 1) return { ok: false, message: `Not valid JSON: ${wholeError}` };
  const documents: Record<string, unknown>[] = [];
  for (const { line, n } of filled) {
    let doc: unknown;
    try {
      doc = JSON.parse(line);
    } catch (e) {
      return {
        ok: false,
        message: `Line ${n} is not valid JSON (${e instanceof Error ? e.message : String(e)}); give a JSON array, or one whole document per line`,
      };
    }
    if (!isObject(doc)) return { ok: false, message: `Line ${n} is not a JSON object` };
    documents.push(doc);
  }
  return limit(documents);
}

function limit(documents: Record<string, unknown>[]): SamplesResult {
  if (documents.length > MAX_SAMPLES) {
    return { ok: false, message: `At most ${MAX_SAMPLES} sample documents (there are ${documents.length})` };
  }
  return { ok: true, documents };
}
