// The typed API client (openapi-fetch over the types generated from openapi/openapi.json): every
// call carries the session's credential, renews the access token before it expires, and turns
// any failed answer into an ApiProblem.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.gen";
import { ApiProblem, asProblem, problemFrom } from "./problem";
import { needsRenewal, session, signOut, type Session } from "./session";

export type Schemas = components["schemas"];
export type Connector = Schemas["ConnectorOut"];
export type App = Schemas["AppOut"];

const base = typeof location === "undefined" ? "http://localhost" : location.origin;

/** Unauthenticated client for the exchange itself. */
const bare = createClient<paths>({ baseUrl: base });

/** Exchanges an API key for an access token (the key itself is sent once per renewal). */
export async function exchangeKey(apiKey: string): Promise<Session> {
  let result;
  try {
    result = await bare.POST("/v1/auth/token", { headers: { Authorization: `Bearer ${apiKey}` } });
  } catch (e) {
    throw asProblem(e);
  }
  if (!result.data) throw await problemFrom(result.response, result.error);
  const token = result.data;
  return {
    kind: "key",
    token: token.accessToken,
    expiresAt: Date.parse(token.expiresAt),
    apiKey,
  };
}

/** Checks an operator token by listing the workers (the only operator route the dashboard uses). */
export async function operatorSession(token: string): Promise<Session> {
  const s: Session = { kind: "operator", token, expiresAt: null, apiKey: null };
  let result;
  try {
    result = await bare.GET("/v1/admin/workers", { headers: { Authorization: `Bearer ${token}` } });
  } catch (e) {
    throw asProblem(e);
  }
  if (!result.data) throw await problemFrom(result.response, result.error);
  return s;
}

let renewing: Promise<void> | null = null;

async function currentToken(): Promise<string | null> {
  const s = session.get();
  if (!s) return null;
  if (needsRenewal(s, Date.now()) && s.apiKey) {
    renewing ??= exchangeKey(s.apiKey)
      .then((next) => session.set(next))
      .catch(() => signOut())
      .finally(() => {
        renewing = null;
      });
    await renewing;
    return session.get()?.token ?? null;
  }
  return s.token;
}

const auth: Middleware = {
  async onRequest({ request }) {
    const token = await currentToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  async onResponse({ response }) {
    if (response.status === 401 && session.get()) signOut();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: base });
api.use(auth);

/** Unwraps an openapi-fetch result: the data, or throws the ApiProblem. */
export async function must<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result;
  try {
    result = await call;
  } catch (e) {
    throw asProblem(e);
  }
  if (result.response.ok) return result.data as T;
  throw await problemFrom(result.response, result.error);
}

/** The ETag of an answer (connectors' configuration version, for If-Match). */
export function etagOf(response: Response): string | null {
  return response.headers.get("ETag");
}

/** Fetches every page of a cursor-paged list (at most `maxPages`). */
export async function allPages<T>(
  page: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string | null }>,
  maxPages = 50,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    const p = await page(cursor);
    items.push(...p.items);
    if (!p.nextCursor) return items;
    cursor = p.nextCursor;
  }
  return items;
}

export { ApiProblem };
