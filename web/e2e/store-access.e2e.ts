// The edge store browser (a document changed in the sandbox MongoDB found through the DQL
// console and the collection's listing), API keys (created with a role and an app scope, shown
// once, revoked), a webhook whose test delivery is listed, and the operator's view of the workers.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { createServer, type Server } from "node:http";
import { inject } from "vitest";
import { call, defaultApp, expectAccessible, launch, mongo, newPage, pageProblems, shot, signIn, until, url } from "./support";

describe("the store, access and operators", () => {
  let browser: Browser;
  let page: Page;
  let appId: string;
  let receiver: Server;
  let received = 0;
  let receiverUrl: string;

  beforeAll(async () => {
    browser = await launch();
    appId = (await defaultApp()).id;
    receiver = createServer((req, res) => {
      received++;
      req.resume();
      req.on("end", () => res.writeHead(204).end());
    });
    await new Promise<void>((ok) => receiver.listen(0, "127.0.0.1", ok));
    const address = receiver.address();
    receiverUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hooks`;
    page = await newPage(browser);
    await signIn(page);
  });

  afterAll(async () => {
    await browser?.close();
    receiver?.close();
  });

  afterEach(async (context) => {
    if (context.task.result?.state === "fail") await shot(page, `failed-${context.task.name.replace(/\W+/g, "-")}`);
  });

  it("finds a document changed in the sandbox MongoDB in the store browser", async () => {
    const client = await mongo();
    try {
      await client
        .db("shop")
        .collection<{ _id: string }>("products")
        .updateOne({ _id: "p07" }, { $set: { name: "Changed in MongoDB" } });
    } finally {
      await client.close();
    }
    await until("the change on the edge", async () => {
      const out = await call<{ items: { name?: string }[] }>("POST", `/v1/apps/${appId}/store/execute`, {
        statement: 'SELECT * FROM products WHERE _id = "p07"',
      });
      return out.items[0]?.name === "Changed in MongoDB";
    });
    await page.getByRole("link", { name: "default" }).click();
    await page.getByRole("link", { name: "Edge store" }).click();
    await page.getByRole("heading", { name: "Edge store", level: 1 }).waitFor();
    await page.getByRole("button", { name: "products", exact: true }).click();
    await page.getByRole("region", { name: /Documents in products/ }).getByRole("button", { name: "View p07" }).click();
    await page.getByLabel("Document p07 as JSON").getByText("Changed in MongoDB").waitFor();
    await page.getByText("Type metadata").first().waitFor();
    await page.getByText("Last written").waitFor();
    // The demo connector syncs in native mode: the price's BSON type is kept beside the value.
    await page
      .getByRole("table", { name: "BSON types kept for the write-back to MongoDB" })
      .getByRole("row", { name: /price\s*double/ })
      .waitFor();
    await expectAccessible(page, "the store browser");
    await shot(page, "50-store-document");

    await page.getByLabel("DQL statement").fill('SELECT * FROM products WHERE name = "Changed in MongoDB"');
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.getByRole("region", { name: /Result rows/ }).getByText("p07").first().waitFor();
    await page.getByRole("button", { name: "JSON", exact: true }).click();
    await page.locator("pre.json", { hasText: "Changed in MongoDB" }).first().waitFor();
    await shot(page, "51-store-dql");

    // A statement that does not parse shows where it stopped.
    await page.getByLabel("DQL statement").fill("SELEC * FROM products");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.getByRole("alert").first().waitFor();
    expect(await page.getByRole("alert").first().textContent()).toMatch(/dql_syntax_error|invalid_statement|syntax/i);
    await expectAccessible(page, "a DQL error");
    await shot(page, "52-store-dql-error");
  });

  it("creates an API key shown once, and revokes it", async () => {
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByLabel("Key name").fill("ci pipeline");
    await page.getByLabel("Role").selectOption("viewer");
    await page.getByLabel("App", { exact: true }).selectOption({ label: "default" });
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = page.locator(".secret-once");
    await secret.waitFor();
    const key = (await secret.locator("code.secret-value").textContent())?.trim();
    expect(key).toMatch(/^ebk_/);
    await expectAccessible(page, "the API keys page");
    await shot(page, "60-api-key-created");
    // It works, read-only, for that app.
    const response = await fetch(`${url()}/v1/apps/${appId}/connectors`, { headers: { Authorization: `Bearer ${key}` } });
    expect(response.status).toBe(200);
    await page.getByRole("button", { name: "I have saved it" }).click();
    await expect.poll(() => secret.count()).toBe(0);

    await page.getByRole("button", { name: "Revoke ci pipeline" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
    await expect.poll(() => page.getByRole("button", { name: "Revoke ci pipeline" }).count()).toBe(0);
    await until("the revoked key refused", async () => {
      const r = await fetch(`${url()}/v1/apps/${appId}/connectors`, { headers: { Authorization: `Bearer ${key}` } });
      return r.status === 401;
    });
  });

  it("adds a webhook and lists its test delivery", async () => {
    await page.getByRole("link", { name: "Apps" }).click();
    await page.getByRole("link", { name: "default" }).click();
    await page.getByRole("link", { name: "Webhooks" }).click();
    await page.getByLabel("Endpoint URL").fill(receiverUrl);
    await page.getByRole("button", { name: "Add webhook" }).click();
    await page.locator(".secret-once").waitFor();
    await shot(page, "70-webhook-created");
    await page.getByRole("link", { name: receiverUrl }).click();
    await page.getByRole("button", { name: "Send test" }).click();
    await until("the test delivery received", async () => received > 0, 30_000);
    const deliveries = page.getByRole("table").filter({ hasText: /succeeded|delivered/i });
    await deliveries.first().waitFor({ timeout: 30_000 });
    await expectAccessible(page, "a webhook's deliveries");
    await shot(page, "71-webhook-deliveries");
    expect(pageProblems(page)).toEqual([]);
  });

  it("shows the workers to an operator", async () => {
    const operator = await newPage(browser);
    await operator.goto(`${url()}/`);
    await operator.getByRole("radio", { name: "The operator token" }).check();
    await operator.getByLabel("Operator token", { exact: true }).fill(inject("operatorToken"));
    await operator.getByRole("button", { name: "Sign in" }).click();
    await operator.getByRole("heading", { name: "Workers", level: 1 }).waitFor();
    await operator.getByRole("button", { name: /^Drain / }).first().waitFor();
    await expectAccessible(operator, "the workers page");
    await shot(operator, "80-operator-workers");
    expect(pageProblems(operator)).toEqual([]);
  });
});
