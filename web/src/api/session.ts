// Who is signed in. The API key and the access token it was exchanged for live in memory only
// (never in storage): a reload signs out. The token is renewed from the key before it expires.
import { signal, type Signal } from "../lib/signal";

export interface Session {
  kind: "key" | "operator";
  /** The Bearer credential sent with requests: an access token, or the operator token. */
  token: string;
  expiresAt: number | null;
  /** Kept to renew the access token; never shown or stored. */
  apiKey: string | null;
}

export const session: Signal<Session | null> = signal<Session | null>(null);

/** Renew the access token this long before it expires. */
export const RENEW_BEFORE_MS = 60_000;

export function needsRenewal(s: Session, now: number): boolean {
  return s.kind === "key" && s.expiresAt !== null && s.expiresAt - now < RENEW_BEFORE_MS;
}

export function signOut(): void {
  session.set(null);
}
