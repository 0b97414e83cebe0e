// The create wizard's steps, and which step shows a field or a violation. The connection test
// comes after the collections: the api's test takes a whole spec (at least one collection, each
// checked in MongoDB), so it cannot run on the connection settings alone.
import { F } from "./fields-ids";
import { parsePointer } from "./pointers";

export const STEPS = [
  { id: "connection", title: "Connection" },
  { id: "collections", title: "Collections" },
  { id: "test", title: "Test connection" },
  { id: "preview", title: "Preview" },
  { id: "review", title: "Review" },
] as const;

export type StepId = (typeof STEPS)[number]["id"];

const CONNECTION_FIELDS: string[] = [F.name, F.description, F.connectionString, F.database];

/** The step a field id is on. */
export function stepOfField(field: string): StepId {
  if (CONNECTION_FIELDS.includes(field)) return "connection";
  if (field === F.desiredState) return "review";
  if (/^f-c\d+-samples/.test(field)) return "preview";
  return "collections";
}

/** The step a violation's pointer is about (for the violations that map to no field). */
export function stepOfPointer(pointer: string): StepId {
  const [top] = parsePointer(pointer);
  if (top === "collections" || top === "autoConfigure" || top === "onHistoryLost") return "collections";
  if (top === "desiredState") return "review";
  return "connection";
}

export function stepIndex(id: StepId): number {
  return STEPS.findIndex((s) => s.id === id);
}
