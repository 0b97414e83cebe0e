import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { expectAccessible, launch, newPage, pageProblems, shot, url, defaultApp, mongo, ownerKey } from "./support";

describe("signing in", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("redirects / to the dashboard and refuses a wrong key with its code", async () => {
    const page = await newPage(browser);
    await page.goto(`${url()}/`);
    expect(new URL(page.url()).pathname).toBe("/dashboard/");
    await page.getByRole("heading", { name: "Sign in to Edgebridge" }).waitFor();
    const paint = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1);
    console.log(`dashboard_cold_load_first_contentful_paint_ms: ${paint.toFixed(0)} ms`);
    await expectAccessible(page, "the sign-in page");
    await shot(page, "01-sign-in");
    await page.getByLabel("API key", { exact: true }).fill("ebk_not_a_real_key");
    await page.getByRole("button", { name: "Sign in" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/Could not sign in.*(invalid_credentials|unauthenticated)/);
    await shot(page, "02-sign-in-refused");
    expect(pageProblems(page)).toEqual([]);
  });

  it("signs in with the keyboard alone, lists the apps and the demo connector, and signs out", async () => {
    const page = await newPage(browser);
    await page.goto(`${url()}/`);
    // Tab to the key's field (past the two radios' group), type it, press Enter.
    await page.getByRole("radio", { name: "An API key" }).focus();
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("secret");
    await page.keyboard.type(ownerKey());
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Apps", level: 1 }).waitFor();
    await expectAccessible(page, "the apps page");
    const app = await defaultApp();
    await page.getByRole("link", { name: app.name }).click();
    const row = page.locator('tr[data-connector="shop"]');
    await row.waitFor();
    await expectAccessible(page, "the overview");
    await shot(page, "03-overview");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to Edgebridge" }).waitFor();
    expect(pageProblems(page)).toEqual([]);
  });

  it("reaches the sandbox with the node driver", async () => {
    const client = await mongo();
    try {
      expect(await client.db("shop").collection("products").countDocuments()).toBe(20);
    } finally {
      await client.close();
    }
  });
});
