// What the end-to-end tests share: Chromium through playwright-core, signing in, screenshots as
// artifacts, axe-core checks, the API (for setup the test is not about) and the sandbox MongoDB.
import { chromium, type Browser, type Page } from "playwright-core";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { expect, inject } from "vitest";

export const url = () => inject("url");
export const ownerKey = () => inject("ownerKey");

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

/**
 * A new page 1024 px wide (the narrowest the dashboard supports; or `width`), recording any CSP
 * violation, failed load or page error for `pageProblems`.
 */
export async function newPage(browser: Browser, width = 1024): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 800 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  // API errors are part of the tests; a missing page file (script, style, icon) never is.
  page.on("response", (r) => {
    if (r.status() >= 400 && !new URL(r.url()).pathname.startsWith("/v1/")) problems.push(`${r.status()} for ${r.url()}`);
  });
  (page as Page & { problems: string[] }).problems = problems;
  return page;
}

export function pageProblems(page: Page): string[] {
  return (page as Page & { problems?: string[] }).problems ?? [];
}

export async function signIn(page: Page, key = ownerKey()): Promise<void> {
  await page.goto(`${url()}/`);
  await page.getByLabel("API key", { exact: true }).fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Apps", level: 1 }).waitFor();
}

/** Saves a full-page screenshot as `<artifacts>/<name>.png`. */
export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(inject("artifacts"), `${name}.png`), fullPage: true });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Runs axe-core (WCAG 2 A/AA rules) on the page and fails on any violation. */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  // Evaluated over the devtools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  });
  expect(violations, `accessibility violations on ${what}`).toEqual([]);
  // Usable at this width: nothing makes the whole page scroll sideways (wide tables scroll
  // within their own box).
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, `${what} is wider than the window`).toBeLessThanOrEqual(0);
}

/** Calls the API with the owner key. */
export async function call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url()}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${ownerKey()}`,
      "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function defaultApp(): Promise<{ id: string; name: string }> {
  const apps = await call<{ items: { id: string; name: string }[] }>("GET", "/v1/apps?limit=100");
  const app = apps.items.find((a) => a.name === "default");
  if (!app) throw new Error("the dev bootstrap's app `default` is missing");
  return app;
}

export async function mongo(): Promise<MongoClient> {
  const client = new MongoClient(inject("mongoUri"), { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  return client;
}

/** Polls `check` until it returns a value (not undefined/false) or `ms` pass. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
