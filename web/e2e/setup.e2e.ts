// Setting up and changing a connector in the browser: the create wizard on a sandbox collection
// whose pre- and post-images are off (the connection test shows the failing check's code and
// remediation), then with automatic configuration; the connector reaching running and green
// with its copy done; an edit showing its reconfiguration plan; and a document MongoDB refused
// (a validator) listed as unsynced and retried once the validator is relaxed.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { MongoClient } from "mongodb";
import { call, defaultApp, expectAccessible, launch, mongo, newPage, pageProblems, shot, signIn, until } from "./support";
import { inject } from "vitest";

// Enough that the copy takes a few seconds, so its progress shows.
const ORDERS = 60_000;

interface ConnectorOut {
  id: string;
  description: string;
  status: string;
  health: { state: string };
  collectionStatus: Record<string, { phase: string; totals: { copied: number } }>;
}

describe("setting up a connector", () => {
  let browser: Browser;
  let page: Page;
  let client: MongoClient;
  let appId: string;
  let connectorId: string;

  beforeAll(async () => {
    browser = await launch();
    client = await mongo();
    const db = client.db("shop");
    await db.collection("orders").drop().catch(() => undefined);
    // Created without changeStreamPreAndPostImages: the connector cannot sync it as it is.
    await db.createCollection("orders");
    await db.collection("orders").insertMany(
      Array.from({ length: ORDERS }, (_, i) => ({ _id: `o${i}` as unknown as never, total: i * 1.5, store: `s${i % 7}` })),
    );
    await db.collection("customers").drop().catch(() => undefined);
    await db.createCollection("customers");
    await db.collection("customers").insertOne({ _id: "c1" as unknown as never, name: "Ada" });
    appId = (await defaultApp()).id;
    page = await newPage(browser);
    await signIn(page);
  });

  afterAll(async () => {
    await client?.close();
    await browser?.close();
  });

  afterEach(async (context) => {
    if (context.task.result?.state === "fail") await shot(page, `failed-${context.task.name.replace(/\W+/g, "-")}`);
  });

  const next = () => page.getByRole("button", { name: "Next" }).click();

  it("creates a connector through the wizard, after the connection test shows what is wrong", async () => {
    await page.getByRole("link", { name: "default" }).click();
    await page.getByRole("link", { name: "New connector" }).click();
    await page.getByLabel("Name", { exact: true }).fill("orders-sync");
    await page.getByLabel("Connection string").fill(inject("mongoUri"));
    await page.getByLabel("Database").fill("shop");
    await expectAccessible(page, "the wizard's connection step");
    await shot(page, "30-wizard-connection");
    await next();

    await page.getByLabel("Collection name").fill("orders");
    await page.getByRole("button", { name: "Add collection" }).click();
    const orders = page.getByRole("region", { name: "Collection orders" });
    await orders.getByRole("radio", { name: "Match IDs" }).check();
    await orders.getByLabel("Initial sync").check();
    // Validated as you type: ejson with strict mode on is refused, at the strict mode's field.
    await orders.getByLabel("Mode", { exact: true }).selectOption("ejson");
    const strict = orders.getByLabel("Strict mode");
    await expect.poll(() => strict.getAttribute("aria-invalid"), { timeout: 10_000 }).toBe("true");
    const described = (await strict.getAttribute("aria-describedby"))?.split(" ") ?? [];
    const errors = await Promise.all(described.map((id) => page.locator(`[id="${id}"].field-error`).allTextContents()));
    expect(errors.flat().join(" ")).toMatch(/must be false/i);
    await shot(page, "31-wizard-field-error");
    await orders.getByLabel("Mode", { exact: true }).selectOption("json");
    await expect.poll(() => strict.getAttribute("aria-invalid"), { timeout: 10_000 }).not.toBe("true");
    await expectAccessible(page, "the wizard's collections step");
    await shot(page, "31-wizard-collections");
    await next();

    // Pre- and post-images are off: the check fails with its code and what to do.
    await page.getByRole("button", { name: "Test connection" }).click();
    const results = page.getByRole("table", { name: "Connection test results" });
    await results.waitFor();
    const failing = results.getByRole("row", { name: /pre_and_post_images_disabled/ });
    await failing.waitFor();
    expect(await failing.textContent()).toMatch(/changeStreamPreAndPostImages|collMod|pre- and post-images/i);
    await expectAccessible(page, "the failed connection test");
    await shot(page, "32-wizard-images-off");

    // Let the connector turn them on, and test again.
    await page.getByRole("button", { name: "Back" }).click();
    await page.getByLabel("Enable pre- and post-images automatically").check();
    await next();
    await page.getByRole("button", { name: "Test connection" }).click();
    await expect.poll(() => results.getByRole("row", { name: /pre_and_post_images_disabled/ }).count()).toBe(0);
    await shot(page, "33-wizard-test-passed");
    await next();

    await page.getByLabel("Sample documents").fill('{"_id": {"$oid": "64b7f0c2a1b2c3d4e5f60718"}, "total": 3, "placedAt": {"$date": "2026-01-01T00:00:00Z"}}');
    await page.getByRole("button", { name: /Preview mapping/ }).first().click();
    await page.getByText("64b7f0c2a1b2c3d4e5f60718").first().waitFor();
    await expectAccessible(page, "the mapping preview");
    await shot(page, "34-wizard-preview");
    await next();

    await page.getByRole("radio", { name: "Start syncing now" }).check();
    await expectAccessible(page, "the wizard's review");
    await shot(page, "35-wizard-review");
    await page.getByRole("button", { name: "Create connector" }).click();
    await page.getByRole("heading", { name: "orders-sync", level: 1 }).waitFor();
    connectorId = new URL(page.url()).pathname.split("/")[5];
    expect(connectorId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("reaches running and green with the copy done", async () => {
    const row = page.getByRole("row", { name: /orders/ }).first();
    await row.waitFor();
    const started = Date.now();
    // The copy's progress bar, with its percent, rate and time left.
    const progress = page.getByRole("progressbar", { name: "Copy progress of orders" });
    await progress.waitFor({ timeout: 30_000 });
    await expect.poll(() => progress.getAttribute("value"), { timeout: 30_000 }).toMatch(/^\d/);
    await shot(page, "36-connector-copying");
    const c = await until(
      "the new connector running, green, its copy done",
      async () => {
        const c = await call<ConnectorOut>("GET", `/v1/apps/${appId}/connectors/${connectorId}`);
        const orders = c.collectionStatus.orders;
        return c.status === "running" && c.health.state === "green" && orders?.phase === "streaming" && c;
      },
      60_000,
    );
    expect(c.collectionStatus.orders.totals.copied).toBe(ORDERS);
    console.log(`copy_of_${ORDERS}_documents_seen_for_ms: ${Date.now() - started}`);
    // The page polls every 2 s: the phase and the copied count follow.
    await row.getByText("streaming", { exact: true }).waitFor({ timeout: 10_000 });
    await row.getByText(ORDERS.toLocaleString("en-US"), { exact: true }).first().waitFor();
    await page.getByText("Healthy").first().waitFor();
    await shot(page, "37-connector-running");
  });

  it("shows the reconfiguration plan of an edit before saving it", async () => {
    await page.getByRole("link", { name: "Edit" }).click();
    // Validated as an edit of this connector: its own name and collections are no conflict.
    await page.getByText("The spec is valid").first().waitFor();
    await page.getByLabel("Collection name").fill("customers");
    await page.getByRole("button", { name: "Add collection" }).click();
    await page.getByRole("button", { name: "Review changes" }).click();
    const plan = page.getByText(/customers/).last();
    await plan.waitFor();
    await expectAccessible(page, "the editor's plan");
    await shot(page, "38-editor-plan");
    // Someone else saves first: the save says so, and keeps these edits.
    await call("PATCH", `/v1/apps/${appId}/connectors/${connectorId}`, { description: "changed elsewhere" });
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Someone else saved this connector since you opened it").waitFor();
    await expectAccessible(page, "the editor's conflict");
    await shot(page, "39-editor-conflict");
    await page.getByRole("button", { name: "Keep mine and review again" }).click();
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByRole("heading", { name: "orders-sync", level: 1 }).waitFor();
    await until("the customers collection in the spec", async () => {
      const c = await call<ConnectorOut>("GET", `/v1/apps/${appId}/connectors/${connectorId}`);
      // "Keep mine" saved this editor's whole spec over theirs (the description too).
      return "customers" in c.collectionStatus && c.description !== "changed elsewhere";
    });
  });

  it("retries an unsynced document once its cause is fixed, and discards another", async () => {
    const db = client.db("shop");
    await db.command({ collMod: "orders", validator: { $jsonSchema: { properties: { total: { bsonType: "double" } } } } });
    await call("POST", `/v1/apps/${appId}/store/execute`, {
      statement: 'INSERT INTO orders DOCUMENTS ({_id: "bad1", total: "not a number"})',
    });
    await page.getByRole("navigation", { name: "Connector sections" }).getByRole("link", { name: "Unsynced documents" }).click();
    const retry = page.getByRole("button", { name: "Retry bad1" });
    await retry.waitFor({ timeout: 60_000 });
    await expectAccessible(page, "the unsynced documents");
    await shot(page, "40-unsynced");
    expect(await db.collection("orders").countDocuments({ _id: "bad1" as unknown as never })).toBe(0);

    await db.command({ collMod: "orders", validator: {} });
    await retry.click();
    await until("bad1 written to MongoDB", async () =>
      (await db.collection("orders").countDocuments({ _id: "bad1" as unknown as never })) === 1,
    60_000);
    await expect.poll(() => page.getByRole("button", { name: "Retry bad1" }).count(), { timeout: 30_000 }).toBe(0);
    await shot(page, "41-unsynced-retried");

    // Another refused document, discarded instead: it leaves the list (the edge keeps it).
    await db.command({ collMod: "orders", validator: { $jsonSchema: { properties: { total: { bsonType: "double" } } } } });
    await call("POST", `/v1/apps/${appId}/store/execute`, {
      statement: 'INSERT INTO orders DOCUMENTS ({_id: "bad2", total: "still not a number"})',
    });
    await page.getByRole("button", { name: "Discard bad2" }).click({ timeout: 60_000 });
    await page.getByRole("dialog").getByRole("button", { name: /Discard/ }).click();
    await expect.poll(() => page.getByRole("button", { name: "Discard bad2" }).count(), { timeout: 30_000 }).toBe(0);
    await db.command({ collMod: "orders", validator: {} });
    expect(pageProblems(page)).toEqual([]);
  });
  it("shows a failed connector's code and what to do about it", async () => {
    const db = client.db("shop");
    await db.collection("returns").drop().catch(() => undefined);
    await db.createCollection("returns"); // pre- and post-images off
    const failing = await call<{ id: string }>("POST", `/v1/apps/${appId}/connectors`, {
      name: "returns-sync",
      connectionString: inject("mongoUri"),
      database: "shop",
      collections: { returns: { fields: ["_id"] } },
    });
    await until(
      "the connector failed",
      async () => (await call<{ status: string }>("GET", `/v1/apps/${appId}/connectors/${failing.id}`)).status === "failed",
      60_000,
    );
    await page.getByRole("link", { name: "Connectors" }).click();
    await page.getByRole("link", { name: "returns-sync" }).click();
    await page.getByRole("heading", { name: "returns-sync", level: 1 }).waitFor();
    const problem = page.getByRole("alert").filter({ hasText: "pre_and_post_images_disabled" }).first();
    await problem.waitFor({ timeout: 15_000 });
    expect(await problem.textContent()).toMatch(/What to do.*collMod/s);
    await expectAccessible(page, "a failed connector");
    await shot(page, "42-connector-failed");
    await call("DELETE", `/v1/apps/${appId}/connectors/${failing.id}`);
  });
});
