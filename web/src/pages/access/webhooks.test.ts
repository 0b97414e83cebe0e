import { describe, expect, it } from "vitest";
import {
  canRetry,
  checkForm,
  createBody,
  eventChoices,
  eventsText,
  formOf,
  lastResult,
  NEW_WEBHOOK,
  patchOf,
  testOutcome,
  toggleEvent,
  type Delivery,
  type Webhook,
} from "./webhooks";

const hook: Webhook = {
  id: "w1",
  appId: "a1",
  url: "https://hooks.example.com/edgebridge",
  description: "on-call",
  enabled: true,
  eventTypes: ["alert.firing"],
  version: 3,
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:00:00Z",
};

describe("create", () => {
  it("sends every event type as null", () => {
    expect(createBody({ ...NEW_WEBHOOK, url: " https://h.example.com/x " })).toEqual({
      ok: true,
      body: { url: "https://h.example.com/x", enabled: true, eventTypes: null },
    });
  });
  it("sends the chosen types and the description", () => {
    const form = { ...NEW_WEBHOOK, url: "http://h.example.com", description: " alerts ", enabled: false, allEvents: false, events: ["alert.resolved"] };
    expect(createBody(form)).toEqual({
      ok: true,
      body: { url: "http://h.example.com", description: "alerts", enabled: false, eventTypes: ["alert.resolved"] },
    });
  });
  it("checks the URL and the events", () => {
    expect(checkForm(NEW_WEBHOOK)).toEqual({ url: expect.stringMatching(/URL/) });
    expect(checkForm({ ...NEW_WEBHOOK, url: "ftp://x" }).url).toMatch(/https/);
    expect(checkForm({ ...NEW_WEBHOOK, url: "https://x.example", allEvents: false }).events).toMatch(/at least one/);
    expect(createBody({ ...NEW_WEBHOOK, url: "nope" }).ok).toBe(false);
  });
});

describe("edit", () => {
  it("starts from the webhook", () => {
    expect(formOf(hook)).toEqual({ url: hook.url, description: "on-call", enabled: true, allEvents: false, events: ["alert.firing"] });
    expect(formOf({ ...hook, eventTypes: null }).allEvents).toBe(true);
  });
  it("patches only what changed", () => {
    expect(patchOf(hook, formOf(hook))).toEqual({ ok: true, body: {} });
    expect(patchOf(hook, { ...formOf(hook), enabled: false })).toEqual({ ok: true, body: { enabled: false } });
    expect(patchOf(hook, { ...formOf(hook), allEvents: true })).toEqual({ ok: true, body: { eventTypes: null } });
    expect(patchOf(hook, { ...formOf(hook), events: ["alert.firing", "alert.resolved"], url: "https://n.example" })).toEqual({
      ok: true,
      body: { url: "https://n.example", eventTypes: ["alert.firing", "alert.resolved"] },
    });
    expect(patchOf({ ...hook, eventTypes: null }, { ...formOf(hook), allEvents: true })).toEqual({ ok: true, body: {} });
    expect(patchOf(hook, { ...formOf(hook), description: "" })).toEqual({ ok: true, body: { description: "" } });
  });
});

describe("events", () => {
  it("offers the known types and any other the webhook has", () => {
    expect(eventChoices({ events: [] })).toEqual(["alert.pending", "alert.firing", "alert.resolved"]);
    expect(eventChoices({ events: ["alert.firing", "custom"] })).toEqual(["alert.pending", "alert.firing", "alert.resolved", "custom"]);
  });
  it("toggles a type keeping the order", () => {
    expect(toggleEvent(["alert.resolved"], "alert.pending", true)).toEqual(["alert.pending", "alert.resolved"]);
    expect(toggleEvent(["alert.pending", "alert.resolved"], "alert.pending", false)).toEqual(["alert.resolved"]);
  });
  it("reads as words", () => {
    expect(eventsText(null)).toBe("Every event type");
    expect(eventsText(undefined)).toBe("Every event type");
    expect(eventsText(["alert.firing", "alert.resolved"])).toBe("alert.firing, alert.resolved");
  });
});

describe("deliveries", () => {
  const d = (over: Partial<Delivery>): Delivery => ({
    id: "d1",
    webhookId: "w1",
    messageId: "msg_1",
    eventType: "alert.firing",
    state: "pending",
    attemptCount: 1,
    createdAt: "2026-01-01T00:00:00Z",
    payload: {},
    attempts: [],
    ...over,
  });
  it("reads the last result", () => {
    expect(lastResult(d({ lastStatusCode: 500 }))).toBe("HTTP 500");
    expect(lastResult(d({ lastStatusCode: 400, lastError: "bad answer" }))).toBe("HTTP 400: bad answer");
    expect(lastResult(d({ lastError: "timed out" }))).toBe("timed out");
    expect(lastResult(d({ attemptCount: 0 }))).toBe("Not tried yet");
  });
  it("retries failed deliveries only", () => {
    expect(canRetry(d({ state: "failed" }))).toBe(true);
    expect(canRetry(d({ state: "pending" }))).toBe(false);
    expect(canRetry(d({ state: "succeeded" }))).toBe(false);
  });
  it("says how a test went", () => {
    expect(testOutcome(d({ state: "succeeded", lastStatusCode: 204 }))).toBe("The test event was delivered (HTTP 204).");
    expect(testOutcome(d({ lastError: "connection refused" }))).toMatch(/retried/);
  });
});
