// The demo connector's page: status with its collections, pause and resume with confirmation,
// charts, events and a document's trace; each tab checked with axe-core and screenshotted.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { call, defaultApp, mongo, expectAccessible, launch, newPage, pageProblems, shot, signIn, until } from "./support";

interface ConnectorOut {
  id: string;
  name: string;
  status: string;
  desiredState: string;
  health: { state: string };
}

describe("a connector's page", () => {
  let browser: Browser;
  let page: Page;
  let appId: string;
  let shop: ConnectorOut;

  beforeAll(async () => {
    browser = await launch();
    appId = (await defaultApp()).id;
    const list = await call<{ items: ConnectorOut[] }>("GET", `/v1/apps/${appId}/connectors`);
    shop = list.items.find((c) => c.name === "shop")!;
    await until("the demo connector running and green", async () => {
      const c = await call<ConnectorOut>("GET", `/v1/apps/${appId}/connectors/${shop.id}`);
      return c.status === "running" && c.health.state === "green";
    }, 60_000);
    page = await newPage(browser);
    await signIn(page);
    await page.getByRole("link", { name: "default" }).click();
    await page.getByRole("link", { name: "shop", exact: true }).click();
    await page.getByRole("heading", { name: "shop", level: 1 }).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(async (context) => {
    if (context.task.result?.state === "fail") await shot(page, `failed-${context.task.name.replace(/\W+/g, "-")}`);
  });

  it("shows its status, health and collections", async () => {
    const row = page.getByRole("row", { name: /products/ }).first();
    await row.waitFor();
    await row.getByText("streaming", { exact: true }).waitFor();
    expect(await page.getByText("Healthy").first().isVisible()).toBe(true);
    await expectAccessible(page, "the connector's status tab");
    await shot(page, "20-connector-status");
  });

  it("pauses after confirmation and resumes, the events tab showing both live", async () => {
    // On the events tab (live by default), so the pause and resume events must arrive by themselves.
    await page.getByRole("navigation", { name: "Connector sections" }).getByRole("link", { name: "Events" }).click();
    const events = page.getByRole("table");
    await events.first().waitFor();
    expect(await events.getByText("paused", { exact: true }).count()).toBe(0);
    await page.getByRole("button", { name: "Pause", exact: true }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    await expectAccessible(page, "the pause confirmation");
    await shot(page, "21-connector-pause-confirm");
    await dialog.getByRole("button", { name: "Pause" }).click();
    await page.getByRole("button", { name: "Resume" }).waitFor();
    await expect
      .poll(async () => (await call<ConnectorOut>("GET", `/v1/apps/${appId}/connectors/${shop.id}`)).status, {
        timeout: 30_000,
      })
      .toBe("paused");
    await page.locator("header, h1, .badge").getByText("paused", { exact: true }).first().waitFor();
    await events.getByText("paused", { exact: true }).first().waitFor({ timeout: 15_000 });
    await shot(page, "22-connector-paused");
    await page.getByRole("button", { name: "Resume" }).click();
    await page.getByRole("button", { name: "Pause", exact: true }).waitFor();
    await expect
      .poll(async () => (await call<ConnectorOut>("GET", `/v1/apps/${appId}/connectors/${shop.id}`)).status, {
        timeout: 30_000,
      })
      .toBe("running");
    await events.getByText("resumed", { exact: true }).first().waitFor({ timeout: 15_000 });
  });

  it("charts lag and throughput over a range", async () => {
    await page.getByRole("navigation", { name: "Connector sections" }).getByRole("link", { name: "Charts" }).click();
    await page.getByLabel("Range").waitFor();
    await page.locator("figure.chart canvas").first().waitFor();
    expect(await page.locator("figure.chart").count()).toBeGreaterThanOrEqual(4);
    await page.getByLabel("Range").selectOption({ index: 1 });
    await page.locator("figure.chart canvas").first().waitFor();
    await expectAccessible(page, "the charts tab");
    await shot(page, "23-connector-charts");
  });

  it("filters its events by level, collection and text", async () => {
    await page.getByRole("navigation", { name: "Connector sections" }).getByRole("link", { name: "Events" }).click();
    const events = page.getByRole("table");
    await events.getByText("resumed", { exact: true }).first().waitFor();
    await page.getByLabel("Collection").selectOption("products");
    await events.getByText("copy_finished", { exact: true }).first().waitFor();
    expect(await events.getByText("resumed", { exact: true }).count()).toBe(0);
    await page.getByLabel("Collection").selectOption("");
    await page.getByLabel("Search").fill("resumed");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await expect.poll(() => events.getByText("copy_finished", { exact: true }).count()).toBe(0);
    await events.getByText("resumed", { exact: true }).first().waitFor();
    await page.getByLabel("Search").fill("");
    await page.getByLabel("Level").selectOption({ index: 0 });
    await page.getByRole("button", { name: "Apply filters" }).click();
    await events.getByText("resumed", { exact: true }).first().waitFor();
    await expectAccessible(page, "the events tab");
    await shot(page, "24-connector-events");
  });

  it("sets, changes and deletes an alert rule of its own", async () => {
    await page.getByRole("navigation", { name: "Connector sections" }).getByRole("link", { name: "Alerts" }).click();
    const lagRow = page.getByRole("row", { name: /^Lag\b/ }).first();
    await lagRow.waitFor();
    expect(await lagRow.textContent()).toMatch(/Built-in|The app's default/);
    await page.getByLabel("Kind").selectOption("lag");
    await page.getByLabel("Threshold (seconds)").first().fill("600");
    await page.getByLabel("For (seconds)").first().fill("120");
    await page.getByRole("button", { name: "Create rule" }).click();
    await expect.poll(() => lagRow.textContent(), { timeout: 10_000 }).toMatch(/This connector/);
    const rules = await call<{ items: { kind: string; connectorId?: string | null; threshold?: number | null }[] }>(
      "GET",
      `/v1/apps/${appId}/alert-rules`,
    );
    expect(rules.items.find((r) => r.kind === "lag" && r.connectorId === shop.id)?.threshold).toBe(600);
    await expectAccessible(page, "the alerts tab");
    await shot(page, "26-connector-alert-rule");

    await page.getByRole("button", { name: "Edit rule Lag" }).click();
    const edit = page.getByRole("form", { name: /Change the .Lag. rule/ });
    await edit.getByLabel("Threshold (seconds)").fill("900");
    await edit.getByRole("button", { name: "Save rule" }).click();
    await expect
      .poll(async () => {
        const r = await call<{ items: { kind: string; connectorId?: string | null; threshold?: number | null }[] }>(
          "GET",
          `/v1/apps/${appId}/alert-rules`,
        );
        return r.items.find((x) => x.kind === "lag" && x.connectorId === shop.id)?.threshold;
      })
      .toBe(900);

    await page.getByRole("button", { name: "Delete rule Lag" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await expect.poll(() => lagRow.textContent(), { timeout: 10_000 }).not.toMatch(/This connector/);
  });

  it("traces one document changed in MongoDB", async () => {
    const client = await mongo();
    try {
      await client.db("shop").collection<{ _id: string }>("products").updateOne({ _id: "p01" }, { $set: { price: 12.5 } });
    } finally {
      await client.close();
    }
    await page.getByRole("navigation", { name: "Connector sections" }).getByRole("link", { name: "Trace" }).click();
    await page.getByLabel("Document id").fill("p01");
    // The worker reports its trace steps every few seconds: ask again until they are there.
    await expect
      .poll(
        async () => {
          await page.getByRole("button", { name: "Show trace" }).click();
          await page.waitForTimeout(500);
          return page.getByRole("table").count();
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBeGreaterThan(0);
    await page.getByRole("table").first().getByText("mongo_change").first().waitFor();
    await expectAccessible(page, "the trace tab");
    await shot(page, "25-connector-trace");
    expect(pageProblems(page)).toEqual([]);
  });
});
