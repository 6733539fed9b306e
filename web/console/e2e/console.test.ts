// The console in a real browser (Chromium driven by Playwright) against a
// live server seeded with the demo data: a buyer's story and an admin's, on
// a desktop and a phone-sized screen. Screenshots go to target/console/.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, test } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { startServer, type Server } from "../../../tools/ts-client-test/server.js";

const SHOTS = process.env.CONSOLE_SCREENSHOTS ?? "target/console/screenshots";
const BUYER = { name: "Bea Buyer", email: "bea@example.com", password: "correct horse battery" };
const ADMIN = { email: "admin@demo.example", password: "demo-password-1" };

let server: Server;
let browser: Browser;
let app: string;
/** What the buyer's story leaves for the admin's. */
let orderId = "";

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ seed: "scripts/rhai/seed_demo.rhai", env: { MARKETPLACE_TEST_PAYMENTS: "1" } });
  app = new URL("/app", server.url).href;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

/** The text of the page's balance line, once it shows `expected`. */
async function balance(page: Page, expected: string): Promise<void> {
  await page.goto(`${app}#/wallet`);
  const line = page.getByLabel("Balance");
  await line.filter({ hasText: expected }).waitFor();
  assert.equal(await line.textContent(), expected);
}

async function noSidewaysScroll(page: Page): Promise<void> {
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(scroll <= client, `the page scrolls sideways: ${scroll}px content in ${client}px`);
}

test("a buyer registers, tops up, searches, buys and sees the order and the new balance", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(app);
  await page.getByRole("heading", { name: "Products" }).waitFor();
  await page.getByRole("link", { name: "Team Wiki" }).waitFor();

  await page.getByRole("link", { name: "Register" }).click();
  await page.getByLabel("Display name").fill(BUYER.name);
  await page.getByLabel("Email").fill(BUYER.email);
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Register" }).click();
  const refused = page.getByRole("alert");
  await refused.waitFor();
  assert.match((await refused.textContent()) ?? "", /password/i, "the server's reason shows in place");
  await page.getByLabel("Password").fill(BUYER.password);
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByText(BUYER.name, { exact: true }).waitFor();

  await balance(page, "0 TFC");
  await page.getByLabel("Amount").first().fill("-5");
  await page.getByRole("button", { name: "Top up" }).click();
  await page.getByRole("alert").waitFor();
  await page.getByLabel("Amount").first().fill("500");
  await page.getByRole("button", { name: "Top up" }).click();
  await page.getByLabel("Balance").filter({ hasText: "500 TFC" }).waitFor();
  await page.getByRole("list", { name: "Wallet history" }).getByText("500 TFC", { exact: true }).waitFor();

  await page.getByRole("link", { name: "Products" }).click();
  await page.getByLabel("Search").fill("wiki");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("heading", { name: "Results for “wiki”" }).waitFor();
  await page.getByRole("link", { name: "Team Wiki" }).click();
  await page.getByRole("heading", { name: "Team Wiki" }).waitFor();
  await page.getByLabel("Quantity").fill("2");
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.getByText("Added to the cart.").waitFor();

  await page.getByRole("link", { name: "Cart", exact: true }).click();
  await page.getByText("Total: 30 TFC").waitFor();
  await page.getByRole("button", { name: "Check out" }).click();
  await page.waitForURL(/#\/order\/[0-9A-Z]{26}$/);
  orderId = page.url().split("/").pop() ?? "";
  await page.getByText("paid", { exact: true }).waitFor();
  await page.getByText("2 × 15 TFC = 30 TFC").waitFor();
  await shot(page, "buyer-order");

  await page.getByRole("link", { name: "Orders" }).click();
  await page.getByRole("list", { name: "Orders" }).getByText("2 × Team Wiki").waitFor();

  await balance(page, "470 TFC");
  await page.getByRole("list", { name: "Wallet history" }).getByText("-30 TFC", { exact: true }).waitFor();
  await shot(page, "buyer-wallet");
  assert.deepEqual(errors, [], "no script errors");
  await context.close();
});

test("a user becomes a provider, lists a product and finds it in the catalog", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${app}#/register`);
  await page.getByLabel("Display name").fill("Pia Provider");
  await page.getByLabel("Email").fill("pia@example.com");
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByText("Pia Provider", { exact: true }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Sales" }).count(), 0, "not a provider yet");

  await page.getByRole("link", { name: "Selling" }).click();
  const become = page.getByRole("form", { name: "Become a provider" });
  await become.getByLabel("Kind").selectOption("app");
  await become.getByLabel("Name").fill("Pia's Apps");
  await become.getByRole("button", { name: "Register as a provider" }).click();
  await page.getByRole("heading", { name: "Pia's Apps (app)" }).waitFor();
  await page.getByRole("link", { name: "Sales" }).waitFor();

  const create = page.getByRole("form", { name: "New product" });
  await create.getByLabel("Name").fill("Console Notes");
  await create.getByLabel("Description").fill("Notes that sync, from the console test.");
  await create.getByLabel("Price (TFC)").fill("abc");
  await create.getByRole("button", { name: "Create" }).click();
  const refused = create.getByRole("alert");
  await refused.waitFor();
  assert.match((await refused.textContent()) ?? "", /price/i, "the bad field is named in place");
  await create.getByLabel("Price (TFC)").fill("7.5");
  await create.getByLabel("Pricing unit").selectOption("month");
  await create.getByLabel("Tags (comma separated)").fill("notes, sync");
  await create.getByRole("button", { name: "Create" }).click();
  await create.getByText("Created “Console Notes”.").waitFor();
  await page.getByRole("list", { name: "Products of Pia's Apps" }).getByRole("link", { name: "Console Notes" }).waitFor();
  await shot(page, "provider-products");

  await page.goto(`${app}#/products?tag=sync`);
  await page.getByRole("heading", { name: "Tagged “sync”" }).waitFor();
  await page.getByRole("link", { name: "Console Notes" }).click();
  await page.getByText("7.5 TFC / month").waitFor();
  await context.close();
});

test("on a phone-sized screen the pages fit the width and lists are paged", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(app);
  await page.getByRole("link", { name: "Team Wiki" }).waitFor();
  await noSidewaysScroll(page);
  await page.getByRole("navigation", { name: "Products pages" }).getByText("Page 1").waitFor();
  await shot(page, "phone-products");
  await page.getByRole("link", { name: "Sign in" }).first().click();
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("link", { name: "Audit" }).click();
  const pages = page.getByRole("navigation", { name: "Audit log pages" });
  await pages.getByText("Page 1").waitFor();
  await pages.getByRole("button", { name: "Next" }).click();
  await pages.getByText("Page 2").waitFor();
  assert.equal(await page.getByRole("list", { name: "Audit log" }).getByRole("listitem").count(), 20, "a second full page of the seeded audit log");
  await pages.getByRole("button", { name: "Previous" }).click();
  await pages.getByText("Page 1").waitFor();
  await noSidewaysScroll(page);
  await shot(page, "phone-audit");
  await context.close();
});

test("an admin sees the stats and the order's audit entry, verifies the ledger and suspends the buyer", async () => {
  assert.notEqual(orderId, "", "the buyer's story ran first");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${app}#/login`);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();

  await page.getByRole("link", { name: "Stats" }).click();
  const orders = page.getByRole("group", { name: "Orders" });
  await orders.waitFor();
  // the seed's three orders (a checkout, a slice rental, a buy-now) and the buyer's
  assert.equal(await orders.locator(".figure").textContent(), "4");
  await shot(page, "admin-stats");

  await page.getByRole("link", { name: "Audit" }).click();
  await page.getByLabel("Object id").fill(orderId);
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/object_id=/);
  // the unfiltered page gives way to the one entry of the order
  await page.waitForFunction(() => document.querySelectorAll('ul[aria-label="Audit log"] > li').length === 1);
  const entries = page.getByRole("list", { name: "Audit log" });
  assert.equal(await entries.getByRole("heading").textContent(), "order.checkout");
  await entries.getByText(orderId).waitFor();
  await shot(page, "admin-audit");

  await page.getByRole("link", { name: "Ledger" }).click();
  await page.getByRole("button", { name: "Verify the ledger" }).click();
  await page.getByText("The ledger balances.").waitFor();

  await page.getByRole("link", { name: "Users" }).click();
  const buyer = page.getByRole("article", { name: BUYER.email });
  await buyer.getByRole("button", { name: "Suspend" }).click();
  await buyer.getByRole("alert").waitFor();
  assert.match((await buyer.getByRole("alert").textContent()) ?? "", /reason/i, "a suspension needs a reason");
  await buyer.getByLabel(`Reason to suspend ${BUYER.email}`).fill("chargeback investigation");
  await buyer.getByRole("button", { name: "Suspend" }).click();
  await buyer.getByText("suspended", { exact: true }).waitFor();
  await buyer.getByRole("button", { name: "Unsuspend" }).waitFor();
  await shot(page, "admin-users");
  await context.close();

  // the suspended buyer is signed out of the console
  const again = await browser.newContext();
  const buyerPage = await again.newPage();
  await buyerPage.goto(`${app}#/login`);
  await buyerPage.getByLabel("Email").fill(BUYER.email);
  await buyerPage.getByLabel("Password").fill(BUYER.password);
  await buyerPage.getByRole("button", { name: "Sign in" }).click();
  const alert = buyerPage.getByRole("alert");
  await alert.waitFor();
  assert.match((await alert.textContent()) ?? "", /suspended/i);
  await again.close();
});

test("a buyer cancels an order before it is fulfilled and gets the money back", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${app}#/register`);
  await page.getByLabel("Display name").fill("Cy Customer");
  await page.getByLabel("Email").fill("cy@example.com");
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByText("Cy Customer", { exact: true }).waitFor();
  await balance(page, "0 TFC");
  await page.getByLabel("Amount").first().fill("100");
  await page.getByRole("button", { name: "Top up" }).click();
  await page.getByLabel("Balance").filter({ hasText: "100 TFC" }).waitFor();

  await page.goto(`${app}#/products?tag=wiki`);
  await page.getByRole("link", { name: "Team Wiki" }).click();
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.getByText("Added to the cart.").waitFor();
  await page.getByRole("link", { name: "Cart", exact: true }).click();
  await page.getByRole("button", { name: "Check out" }).click();
  await page.waitForURL(/#\/order\/[0-9A-Z]{26}$/);
  await balance(page, "85 TFC");
  await page.goBack();
  await page.getByRole("button", { name: "Cancel the order" }).click();
  await page.getByText("cancelled", { exact: true }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Cancel the order" }).count(), 0, "no move left");
  await balance(page, "100 TFC");
  await context.close();
});
