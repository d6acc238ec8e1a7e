// The status page's admin in Chromium: a public incident opened from an internal one, an
// update drafted by one person, approved by another (a second signed-in token), published and
// then read on the public /status page; axe-core on the admin pages; screenshots at desktop
// and phone width. Run by scripts/ui-test.sh with the environment ui.test.js describes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { ADMIN, AXE, BASE, RESPONDER, SHOTS, signedIn, submitted } from "./support.js";

const BODY = "<b>Card payments</b> are failing for some customers.";

let publicPath; // e.g. /status-admin/pi-1

test("draft, approve by another person, publish: the update is on /status", async () => {
  const alice = await signedIn(RESPONDER);
  let page = alice.page;
  await page.goto(`${BASE}/incidents/new`);
  await page.fill("#d-title", "Card payments failing (status page)");
  await page.check("input[name=severity][value=SEV3]");
  await page.selectOption("#d-service", "checkout");
  await Promise.all([page.waitForURL(/\/incidents\/INC-\d+$/), page.click("form.declare button[type=submit]")]);
  const incident = new URL(page.url()).pathname.split("/").pop();

  // The nav's "Status page" leads to the admin; the open form prefills from the incident.
  await page.getByRole("link", { name: "Status page", exact: true }).click();
  await page.waitForURL(`${BASE}/status-admin`);
  await page.selectOption("#o-pick", incident);
  await Promise.all([page.waitForURL(/incident=/), page.getByRole("button", { name: "Prefill from it" }).click()]);
  assert.equal(await page.inputValue("#o-incident"), incident);
  assert.equal(await page.inputValue("#o-name"), "Card payments failing (status page)");
  await page.fill("#o-name", "Card payments failing");
  await Promise.all([page.waitForURL(/\/status-admin\/pi-\d+$/), page.getByRole("button", { name: "Open public incident" }).click()]);
  publicPath = new URL(page.url()).pathname;

  // The draft starts from the customer draft; alice replaces it and saves.
  assert.match(await page.inputValue("#d-body"), /We are investigating/);
  assert.equal(await page.inputValue("#d-c-payments"), "partial_outage");
  await page.fill("#d-body", BODY);
  await submitted(page, () => page.getByRole("button", { name: "Save draft" }).click(), `${BASE}${publicPath}`);
  const update = page.locator(".update").first();
  assert.match(await update.locator(".state").textContent(), /draft/);
  assert.equal(await update.getByRole("button", { name: /Approve/ }).count(), 0, "the drafter may not approve");
  assert.match(await update.locator(".waiting").textContent(), /Waiting for approval/);

  // Another person, an admin, approves.
  const root = await signedIn(ADMIN);
  await root.page.goto(`${BASE}${publicPath}`);
  await submitted(root.page, () => root.page.locator(".update").first().getByRole("button", { name: /Approve/ }).click(), `${BASE}${publicPath}`);
  assert.match(await root.page.locator(".update").first().locator(".trail").textContent(), /Approved by root/);
  await root.context.close();

  // alice publishes; the public page shows it, escaped.
  await page.reload();
  await submitted(page, () => page.locator(".update").first().getByRole("button", { name: /Publish/ }).click(), `${BASE}${publicPath}`);
  assert.match(await page.locator(".update").first().locator(".state").textContent(), /published/);
  await page.goto(`${BASE}/status`);
  const text = await page.textContent("body");
  assert.ok(text.includes("Card payments failing"), text);
  assert.ok(text.includes(BODY), "the body as typed, not as markup");
  assert.equal(await page.locator("b").count(), 0, "no markup from the body");
  await alice.context.close();
});

test("axe-core finds no serious or critical violation on the status admin pages", async () => {
  assert.ok(publicPath, "the public incident of the previous scenario");
  const { context, page } = await signedIn(RESPONDER, { bypassCSP: true });
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const path of ["/status-admin", publicPath]) {
      await page.goto(`${BASE}${path}`);
      await page.evaluate(AXE);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
      const bad = result.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
      assert.deepEqual(bad, [], `${path} (${scheme})`);
    }
  }
  await context.close();
});

test("the status admin pages fit a phone's width (screenshots on request)", async () => {
  assert.ok(publicPath);
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  for (const [width, height] of [[1280, 900], [390, 844]]) {
    const { context, page } = await signedIn(RESPONDER, { viewport: { width, height } });
    for (const [name, path] of [["status-admin", "/status-admin"], ["status-admin-incident", publicPath]]) {
      await page.goto(`${BASE}${path}`);
      await page.locator("details").evaluateAll((all) => all.forEach((d) => { d.open = true; }));
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}-${width}.png`, fullPage: true });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} at ${width} px scrolls sideways by ${overflow} px`);
    }
    await context.close();
  }
});
