import { describe, expect, it } from "vitest";
import { needsRenewal, RENEW_BEFORE_MS, session, signOut, type Session } from "./session";

describe("the session", () => {
  const key: Session = { kind: "key", token: "t", expiresAt: 1_000_000, apiKey: "ebk_x" };

  it("renews an access token shortly before it expires, never the operator token", () => {
    expect(needsRenewal(key, 1_000_000 - RENEW_BEFORE_MS - 1)).toBe(false);
    expect(needsRenewal(key, 1_000_000 - RENEW_BEFORE_MS + 1)).toBe(true);
    expect(needsRenewal({ kind: "operator", token: "o", expiresAt: null, apiKey: null }, 2_000_000)).toBe(false);
  });

  it("forgets everything on sign-out", () => {
    const seen: (Session | null)[] = [];
    const stop = session.subscribe((s) => seen.push(s));
    session.set(key);
    signOut();
    stop();
    expect(seen).toEqual([key, null]);
    expect(session.get()).toBeNull();
  });
});
