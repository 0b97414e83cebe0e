// The overview of an app with 1,000 connectors: every one listed, filter and search work, and the
// time to its first render is measured and printed (not asserted: this machine's speed drifts).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { call, expectAccessible, launch, newPage, pageProblems, shot, signIn } from "./support";

const COUNT = 1000;

describe("an overview of 1,000 connectors", () => {
  let browser: Browser;
  let appId: string;

  beforeAll(async () => {
    browser = await launch();
    const app = await call<{ id: string }>("POST", "/v1/apps", { name: "fleet-of-1000" });
    appId = app.id;
    // Saved paused (no worker runs them): the overview is what is measured, not the sync.
    const create = (i: number) =>
      call("POST", `/v1/apps/${appId}/connectors`, {
        name: `store-${String(i).padStart(4, "0")}`,
        connectionString: "mongodb://fleet.invalid:27017/",
        database: `region${i % 5}`,
        // An edge collection belongs to one connector of an app.
        collections: { [`orders_${i}`]: { fields: ["_id"] }, [`stock_${i}`]: { fields: ["sku"] } },
        desiredState: "paused",
      });
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < COUNT) await create(next++);
      }),
    );
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
  });

  it("lists them all, renders the first rows fast, and filters and searches them", async () => {
    const page = await newPage(browser);
    await signIn(page);
    // Measured in the page, from the click on the app's link to the first rows painted and to
    // the whole list loaded (10 pages of 100).
    await page.evaluate(() => {
      document.addEventListener(
        "click",
        () => {
          (window as unknown as { clickedAt: number }).clickedAt = performance.now();
        },
        { capture: true, once: true },
      );
    });
    await page.getByRole("link", { name: "fleet-of-1000" }).click();
    const firstRows = await page.waitForFunction(
      () =>
        new Promise<number>((resolve) => {
          const check = () => {
            if (document.querySelectorAll("table.overview tbody tr").length > 0) {
              requestAnimationFrame(() =>
                resolve(performance.now() - (window as unknown as { clickedAt: number }).clickedAt),
              );
            } else requestAnimationFrame(check);
          };
          check();
        }),
    );
    const firstMs = (await firstRows.jsonValue()) as number;
    await page.getByText(`${COUNT.toLocaleString("en-US")} connectors:`).waitFor({ timeout: 60_000 });
    const allMs = await page.evaluate(
      () => performance.now() - (window as unknown as { clickedAt: number }).clickedAt,
    );
    expect(await page.locator("table.overview tbody tr").count()).toBe(COUNT);
    console.log(`overview_1000_first_rows_ms: ${firstMs.toFixed(0)} ms`);
    console.log(`overview_1000_all_rows_ms: ${allMs.toFixed(0)} ms`);
    await shot(page, "10-overview-1000");

    await page.getByLabel("Search connectors").fill("store-0042");
    await expect.poll(() => page.locator("table.overview tbody tr").count()).toBe(1);
    await page.getByLabel("Search connectors").fill("region3");
    await expect.poll(() => page.locator("table.overview tbody tr").count()).toBe(200);
    await page.getByLabel("Search connectors").fill("");
    await page.getByLabel("Status").selectOption("running");
    await page.getByText("No connector matches these filters.").waitFor();
    await page.getByLabel("Status").selectOption("paused");
    await expect.poll(() => page.locator("table.overview tbody tr").count()).toBe(COUNT);
    await expectAccessible(page, "the overview of 1,000 connectors");
    expect(pageProblems(page)).toEqual([]);
  });
});
