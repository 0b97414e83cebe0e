import { describe, expect, it } from "vitest";
import { expired, isOwnKey, keyBody, localToIso } from "./keys";

const now = Date.parse("2026-01-01T00:00:00Z");

describe("localToIso", () => {
  it("reads a datetime-local value as local time", () => {
    const iso = localToIso("2027-03-04T05:06");
    expect(iso).toBe(new Date(2027, 2, 4, 5, 6).toISOString());
  });
  it("refuses anything else", () => {
    for (const v of ["", "2027-03-04", "tomorrow", "2027-13-45T99:99"]) expect(localToIso(v)).toBeNull();
  });
});

describe("keyBody", () => {
  it("builds an organization-wide key without expiry", () => {
    expect(keyBody({ name: "  ci pipeline ", role: "developer", appId: "", expires: "" }, now)).toEqual({
      ok: true,
      body: { name: "ci pipeline", role: "developer" },
    });
  });
  it("limits the key to an app and sets its expiry", () => {
    const r = keyBody({ name: "ci", role: "viewer", appId: "a1", expires: "2027-01-01T00:00" }, now);
    expect(r).toEqual({
      ok: true,
      body: { name: "ci", role: "viewer", appId: "a1", expiresAt: new Date(2027, 0, 1).toISOString() },
    });
  });
  it("says what is wrong", () => {
    expect(keyBody({ name: " ", role: "viewer", appId: "", expires: "2020-01-01T00:00" }, now)).toEqual({
      ok: false,
      errors: { name: expect.stringMatching(/name/), expires: "Must be in the future." },
    });
    const long = keyBody({ name: "x".repeat(101), role: "viewer", appId: "", expires: "" }, now);
    expect(long).toEqual({ ok: false, errors: { name: "At most 100 characters." } });
    const bad = keyBody({ name: "x", role: "viewer", appId: "", expires: "soon" }, now);
    expect(bad).toEqual({ ok: false, errors: { expires: "Not a valid date and time." } });
  });
});

describe("isOwnKey", () => {
  it("matches the key signed in with by its display prefix", () => {
    expect(isOwnKey("ebk_AbCdEfGhIjKl_…", "ebk_AbCdEfGhIjKl_0123456789")).toBe(true);
    expect(isOwnKey("ebk_ZZZZEfGhIjKl_…", "ebk_AbCdEfGhIjKl_0123456789")).toBe(false);
    expect(isOwnKey("ebk_AbCdEfGhIjKl_…", null)).toBe(false);
    expect(isOwnKey("…", "anything")).toBe(false);
  });
});

describe("expired", () => {
  it("is true once the expiry has passed", () => {
    expect(expired(null, now)).toBe(false);
    expect(expired("2025-12-31T23:59:59Z", now)).toBe(true);
    expect(expired("2026-01-02T00:00:00Z", now)).toBe(false);
  });
});
