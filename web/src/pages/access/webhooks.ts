// The webhooks pages' logic: the form's values, the create body and the merge patch of an edit,
// and how events and deliveries read.
import type { Schemas } from "../../api/client";

export type Webhook = Schemas["WebhookOut"];
export type Delivery = Schemas["DeliveryOut"];

/** The event types a webhook can take (WebhookIn.eventTypes). */
export const EVENT_TYPES = ["alert.pending", "alert.firing", "alert.resolved"];

export interface WebhookForm {
  url: string;
  description: string;
  enabled: boolean;
  /** Every event type (`eventTypes: null`), present and future. */
  allEvents: boolean;
  /** The chosen types when not `allEvents`. */
  events: string[];
}

export type FormErrors = Partial<Record<"url" | "events", string>>;

export const NEW_WEBHOOK: WebhookForm = { url: "", description: "", enabled: true, allEvents: true, events: [] };

/** The form holding a webhook's current settings. */
export function formOf(w: Webhook): WebhookForm {
  return {
    url: w.url,
    description: w.description,
    enabled: w.enabled,
    allEvents: w.eventTypes === null || w.eventTypes === undefined,
    events: w.eventTypes ?? [],
  };
}

/** The checkboxes to offer: the known types, and any other the webhook has. */
export function eventChoices(form: Pick<WebhookForm, "events">): string[] {
  return [...EVENT_TYPES, ...form.events.filter((e) => !EVENT_TYPES.includes(e))];
}

/** Adds or removes one event type, keeping the known order. */
export function toggleEvent(events: string[], type: string, on: boolean): string[] {
  const set = new Set(events);
  if (on) set.add(type);
  else set.delete(type);
  const order = eventChoices({ events: [...set] });
  return order.filter((e) => set.has(e));
}

/** What is wrong with the form, if anything (the api checks the rest, e.g. the host). */
export function checkForm(form: WebhookForm): FormErrors {
  const errors: FormErrors = {};
  const url = form.url.trim();
  if (url === "") errors.url = "Give the URL the events are POSTed to.";
  else if (!/^https?:\/\/[^\s/]+/i.test(url)) errors.url = "Must be an https:// (or http://) URL.";
  else if (url.length > 2048) errors.url = "At most 2048 characters.";
  if (!form.allEvents && form.events.length === 0) errors.events = "Choose at least one event type, or every type.";
  return errors;
}

function hasErrors(errors: FormErrors): boolean {
  return Object.values(errors).some((e) => e !== undefined);
}

export type Built<T> = { ok: true; body: T } | { ok: false; errors: FormErrors };

/** The POST body of a new webhook. */
export function createBody(form: WebhookForm): Built<Schemas["WebhookIn"]> {
  const errors = checkForm(form);
  if (hasErrors(errors)) return { ok: false, errors };
  const body: Schemas["WebhookIn"] = { url: form.url.trim(), enabled: form.enabled };
  const description = form.description.trim();
  if (description !== "") body.description = description;
  body.eventTypes = form.allEvents ? null : form.events;
  return { ok: true, body };
}

function sameEvents(a: string[] | null | undefined, b: string[] | null): boolean {
  if (a === null || a === undefined || b === null) return (a ?? null) === b;
  return a.length === b.length && a.every((e) => b.includes(e));
}

/** The merge patch from a webhook to the form: only what changed (`{}` when nothing did). */
export function patchOf(w: Webhook, form: WebhookForm): Built<Schemas["WebhookPatch"]> {
  const errors = checkForm(form);
  if (hasErrors(errors)) return { ok: false, errors };
  const patch: Schemas["WebhookPatch"] = {};
  const url = form.url.trim();
  if (url !== w.url) patch.url = url;
  const description = form.description.trim();
  if (description !== w.description) patch.description = description;
  if (form.enabled !== w.enabled) patch.enabled = form.enabled;
  const events = form.allEvents ? null : form.events;
  if (!sameEvents(w.eventTypes, events)) patch.eventTypes = events;
  return { ok: true, body: patch };
}

/** A webhook's event types as words. */
export function eventsText(eventTypes: string[] | null | undefined): string {
  if (eventTypes === null || eventTypes === undefined) return "Every event type";
  if (eventTypes.length === 0) return "None";
  return eventTypes.join(", ");
}

/** The last attempt's outcome: its HTTP status, or why it got none. */
export function lastResult(d: Pick<Delivery, "lastStatusCode" | "lastError" | "attemptCount">): string {
  const parts: string[] = [];
  if (d.lastStatusCode !== null && d.lastStatusCode !== undefined) parts.push(`HTTP ${d.lastStatusCode}`);
  if (d.lastError) parts.push(d.lastError);
  if (parts.length === 0) return d.attemptCount === 0 ? "Not tried yet" : "—";
  return parts.join(": ");
}

/** Whether the dashboard offers "Retry" (a failed delivery; pending ones retry on their schedule). */
export function canRetry(d: Pick<Delivery, "state">): boolean {
  return d.state === "failed";
}

/** A sentence on a test delivery's first attempt. */
export function testOutcome(d: Delivery): string {
  const result = lastResult(d);
  if (d.state === "succeeded") return `The test event was delivered (${result}).`;
  if (d.state === "failed") return `The test event failed (${result}).`;
  return `The test event's first attempt failed (${result}); it is retried on the usual schedule.`;
}
