// What every browser scenario file shares: the environment scripts/ui-test.sh sets, one
// Chromium per file, signing in, polling with a deadline, and axe-core's source.
//   MUSTER_URL, MUSTER_RESPONDER_TOKEN (token named alice), MUSTER_VIEWER_TOKEN (watcher),
//   MUSTER_ADMIN_TOKEN (root), MUSTER_SCREENSHOTS (where screenshots go; unset: none).
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
export const BASE = process.env.MUSTER_URL;
export const RESPONDER = process.env.MUSTER_RESPONDER_TOKEN;
export const VIEWER = process.env.MUSTER_VIEWER_TOKEN;
export const ADMIN = process.env.MUSTER_ADMIN_TOKEN;
export const SHOTS = process.env.MUSTER_SCREENSHOTS;
export const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

let browser;

// One browser for the file's scenarios.
before(async () => {
  assert.ok(BASE && RESPONDER && VIEWER && ADMIN, "MUSTER_URL and the tokens must be set");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
});

after(async () => {
  await browser?.close();
});

/** A new browser context signed in with `token`, on the home page. */
export async function signedIn(token, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  await page.goto(`${BASE}/login`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${BASE}/`), page.click("button[type=submit]")]);
  return { context, page };
}

/** A context not signed in (the sign-in scenarios). */
export async function anonymous() {
  return browser.newContext();
}

/**
 * Runs `action` (a click or key press that submits a form) and waits until the page it leads
 * to has loaded, then checks that page is `url`. `waitForURL` alone resolves at once when the
 * form posts back to the page it is on — before the post is sent — and the next step would
 * race the navigation (a reload then fails with "not attached to an active page").
 */
export async function submitted(page, action, url) {
  const loaded = page.waitForEvent("load");
  await action();
  await loaded;
  await page.waitForURL(url);
}

/** Polls `probe` until it returns a truthy value or `ms` pass. */
export async function eventually(probe, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what} did not happen within ${ms} ms (last: ${JSON.stringify(last)})`);
}
