// The API keys page's logic: the create form's body and checks, and which listed key is yours.
import type { Schemas } from "../../api/client";

export type Role = Schemas["Role"];
export const ROLES: Role[] = ["viewer", "developer", "admin", "owner"];

/** What each role may do (README: owner > admin > developer > viewer). */
export const ROLE_HELP: Record<Role, string> = {
  viewer: "read-only",
  developer: "read-write on apps and connectors",
  admin: "developer, plus managing keys up to admin",
  owner: "everything, owner keys included",
};

export interface KeyForm {
  name: string;
  role: Role;
  /** "" for every app of the organization. */
  appId: string;
  /** A datetime-local value ("2027-01-01T09:30"), "" for none. */
  expires: string;
}

export type FieldErrors = Partial<Record<"name" | "expires", string>>;

export type KeyBody = { ok: true; body: Schemas["ApiKeyIn"] } | { ok: false; errors: FieldErrors };

/** A datetime-local value (the user's local time) as an RFC 3339 instant, or null when invalid. */
export function localToIso(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

/** The POST /v1/api-keys body, or what is wrong with the form. */
export function keyBody(form: KeyForm, now = Date.now()): KeyBody {
  const errors: FieldErrors = {};
  const name = form.name.trim();
  if (name === "") errors.name = "Give the key a name: what it is for.";
  else if ([...name].length > 100) errors.name = "At most 100 characters.";
  let expiresAt: string | null = null;
  if (form.expires !== "") {
    expiresAt = localToIso(form.expires);
    if (expiresAt === null) errors.expires = "Not a valid date and time.";
    else if (Date.parse(expiresAt) <= now) errors.expires = "Must be in the future.";
  }
  if (errors.name || errors.expires) return { ok: false, errors };
  const body: Schemas["ApiKeyIn"] = { name, role: form.role };
  if (form.appId !== "") body.appId = form.appId;
  if (expiresAt !== null) body.expiresAt = expiresAt;
  return { ok: true, body };
}

/** Whether a listed key (its `display`, e.g. `ebk_AbCd_…`) is the key signed in with. */
export function isOwnKey(display: string, apiKey: string | null | undefined): boolean {
  if (!apiKey) return false;
  const prefix = display.replace(/…$/, "").replace(/\.\.\.$/, "");
  return prefix.length >= 8 && apiKey.startsWith(prefix);
}

/** Whether a key's expiry has passed. */
export function expired(expiresAt: string | null | undefined, now = Date.now()): boolean {
  if (!expiresAt) return false;
  const at = Date.parse(expiresAt);
  return !Number.isNaN(at) && at <= now;
}
