// End-to-end scenarios of the web UI in Debian's Chromium, driven by playwright-core against a
// real `muster serve` of the demo (scripts/ui-test.sh starts it and sets the environment):
//   MUSTER_URL, MUSTER_RESPONDER_TOKEN (token named alice), MUSTER_VIEWER_TOKEN,
//   MUSTER_ADMIN_TOKEN (token named root),
//   MUSTER_SCREENSHOTS (where the screenshots go; unset: none taken).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { ADMIN, AXE, BASE, RESPONDER, SHOTS, VIEWER, anonymous, eventually, signedIn, submitted } from "./support.js";

let incidentPath; // the SEV1 declared by the scenarios, e.g. /incidents/INC-1
let keyboardPath; // the SEV1 declared with the keyboard, its deadlines still pending

/** Seconds left as the countdown says it: "due in 19 min 58 s" → 1198. */
function secondsLeft(text) {
  const m = /due in (?:(\d+) h )?(?:(\d+) min ?)?(?:(\d+) s)?/.exec(text);
  assert.ok(m, `not a countdown: ${text}`);
  return (+(m[1] || 0)) * 3600 + (+(m[2] || 0)) * 60 + (+(m[3] || 0));
}

test("sign in with a token", async () => {
  const context = await anonymous();
  const page = await context.newPage();
  await page.goto(`${BASE}/incidents`);
  // Not signed in: the sign-in page, which leads back to the page asked for.
  assert.match(page.url(), /\/login\?next=%2Fincidents$/);
  await page.fill("#token", "mus_not_a_real_token");
  await page.click("button[type=submit]");
  assert.match(await page.textContent("#login-error"), /unknown, revoked or expired/);
  await page.fill("#token", RESPONDER);
  await Promise.all([page.waitForURL(`${BASE}/incidents`), page.click("button[type=submit]")]);
  assert.equal(await page.textContent("h1"), "Incidents");
  assert.match(await page.textContent(".user"), /alice/);
  const cookie = (await context.cookies()).find((c) => c.name === "muster_session");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  await context.close();
});

test("declare a SEV1 and see the 20-minute countdown decrease", async () => {
  const { context, page } = await signedIn(RESPONDER);
  await page.goto(`${BASE}/incidents/new`);
  await page.fill("#d-title", "Checkout payments failing");
  await page.check("input[name=severity][value=SEV1]");
  await page.selectOption("#d-service", "checkout");
  await Promise.all([page.waitForURL(/\/incidents\/INC-\d+$/), page.click("form.declare button[type=submit]")]);
  incidentPath = new URL(page.url()).pathname;
  const entry = page.locator('.clock-entry[data-policy="blast-radius-20m"]');
  await entry.waitFor();
  assert.match(await entry.locator(".kind").textContent(), /deadline/);
  const first = secondsLeft(await entry.locator(".left").textContent());
  assert.ok(first > 19 * 60 && first <= 20 * 60, `starts near 20 min: ${first}`);
  // The script counts down from the absolute deadline in data-due.
  const later = await eventually(async () => {
    const now = secondsLeft(await entry.locator(".left").textContent());
    return now < first ? now : null;
  }, 5000, "the countdown decreasing");
  assert.ok(later < first);
  await context.close();
});

test('click "Blast radius validated": the deadline leaves the clock, "met" on the timeline', async () => {
  assert.ok(incidentPath, "the SEV1 of the previous scenario");
  const { context, page } = await signedIn(RESPONDER);
  await page.goto(`${BASE}${incidentPath}`);
  await page.locator('.clock-entry[data-policy="blast-radius-20m"]').waitFor();
  await submitted(page, () => page.getByRole("button", { name: "Blast radius validated" }).click(), `${BASE}${incidentPath}`);
  await eventually(
    async () => (await page.locator('.clock-entry[data-policy="blast-radius-20m"]').count()) === 0,
    5000,
    "the deadline leaving the clock",
  );
  const outcome = page.locator('.timeline li[data-kind="deadline_outcome"]').first();
  assert.match(await outcome.textContent(), /blast-radius-20m \(blast radius validated\) met with \d+ min/);
  assert.match(await page.locator(".timeline").textContent(), /Milestone: blast radius validated/);
  await context.close();
});

test("a viewer sees no buttons, a forged POST is refused, and the page updates live", async () => {
  assert.ok(incidentPath);
  const { context, page } = await signedIn(VIEWER);
  await page.goto(`${BASE}${incidentPath}`);
  assert.equal(await page.locator("main button").count(), 0, "no button in the page's content");
  assert.equal(await page.locator(`main form[method=post]`).count(), 0);
  assert.equal(await page.locator('a[href="/incidents/new"]').count(), 0, "no declare link");
  await page.waitForFunction(() => document.body.dataset.live === "ready");
  const forged = await page.evaluate(async (path) => {
    const own = document.querySelector('input[name="csrf"]').value;
    const post = async (body, headers = {}) =>
      (await fetch(`${path}/notes`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
        body,
        redirect: "manual",
      })).status;
    return {
      absent: await post("text=forged"),
      wrong: await post("text=forged&csrf=" + "0".repeat(64)),
      wrongHeader: await post("text=forged", { "X-CSRF-Token": "f".repeat(64) }),
      ownButViewer: await post("text=forged&csrf=" + own),
    };
  }, incidentPath);
  assert.deepEqual(forged, { absent: 403, wrong: 403, wrongHeader: 403, ownButViewer: 403 });
  assert.doesNotMatch(await page.locator(".timeline").textContent(), /forged/);

  // A responder's note reaches the viewer's open page without a reload.
  const responder = await signedIn(RESPONDER);
  await responder.page.goto(`${BASE}${incidentPath}`);
  await responder.page.fill("#a-note", "Rollback started by the web UI test");
  await submitted(responder.page, () => responder.page.click("form[action$='/notes'] button"), `${BASE}${incidentPath}`);
  await eventually(
    async () => /Rollback started by the web UI test/.test(await page.locator(".timeline").textContent()),
    5000,
    "the note appearing on the viewer's page",
  );
  await responder.context.close();
  await context.close();
});

test("cover a shift from the on-call timeline: on-call and the audit change", async () => {
  const { context, page } = await signedIn(ADMIN);
  const onCallNow = async () =>
    (await page.locator('tr[data-schedule="payments-primary"] td').first().textContent()).trim();
  await page.goto(`${BASE}/`);
  const before = await onCallNow();
  assert.ok(before && !/gap/.test(before), `someone is on call: ${before}`);
  await page.goto(`${BASE}/oncall`);
  const section = page.locator('section[data-schedule="payments-primary"]');
  await section.locator("summary").click();
  // The shift going on now, from the final schedule's list.
  const items = section.locator("details li");
  const now = Date.now();
  let link = null;
  for (let i = 0; i < (await items.count()); i++) {
    const times = items.nth(i).locator("time");
    const from = Date.parse(await times.nth(0).getAttribute("datetime"));
    const to = Date.parse(await times.nth(1).getAttribute("datetime"));
    if (from <= now && now < to) {
      link = items.nth(i).getByRole("link", { name: "Cover…" });
      break;
    }
  }
  assert.ok(link, "the current shift is listed with a cover link");
  await Promise.all([page.waitForURL(/\/oncall\/cover\?/), link.click()]);
  const cover = before === "erin" ? "ivan" : "erin";
  await page.selectOption("#c-person", cover);
  await page.fill("#c-reason", "covering from the web UI test");
  await Promise.all([page.waitForURL(`${BASE}/oncall`), page.click("form[action='/oncall/cover'] button")]);
  await page.goto(`${BASE}/`);
  assert.equal(await onCallNow(), cover, "on call now is the cover");
  const audit = await page.evaluate(async (token) => {
    const r = await fetch("/api/v1/audit?subject=schedule:payments-primary", {
      headers: { Authorization: `Bearer ${token}` },
    });
    return r.json();
  }, ADMIN);
  const created = audit.filter((e) => e.action === "override.created");
  assert.equal(created.length, 1, JSON.stringify(audit));
  assert.equal(created[0].actor, "root");
  await context.close();
});

test('"take the pager now" on a schedule page: on call changes at once, audited', async () => {
  const { context, page } = await signedIn(RESPONDER);
  // alice rotates in both payments schedules; take the one she is not carrying now.
  let schedule;
  for (const id of ["payments-primary", "payments-secondary"]) {
    await page.goto(`${BASE}/oncall/schedules/${id}`);
    if ((await page.textContent("#on-call-now")).trim() !== "alice") {
      schedule = id;
      break;
    }
  }
  assert.ok(schedule, "alice is off call on one of her two schedules");
  const before = (await page.textContent("#on-call-now")).trim();
  await page.selectOption("#t-minutes", "240");
  await submitted(page, () => page.getByRole("button", { name: "Take the pager now" }).click(), `${BASE}/oncall/schedules/${schedule}`);
  assert.equal((await page.textContent("#on-call-now")).trim(), "alice");
  assert.match(await page.textContent("#overrides"), /took the pager now/);
  assert.match(await page.textContent("#audit"), /alice: override\.created/);
  const onCall = await page.evaluate(async ([token, id]) => {
    const r = await fetch(`/api/v1/schedules/${id}/oncall`, { headers: { Authorization: `Bearer ${token}` } });
    return r.json();
  }, [RESPONDER, schedule]);
  assert.deepEqual(onCall.on_call, ["alice"], `was ${before}`);
  await context.close();
});

test("declare with the keyboard only", async () => {
  const { context, page } = await signedIn(RESPONDER);
  // From the home page: the skip link first, then the navigation.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  let guard = 0;
  while ((await page.evaluate(() => document.activeElement.getAttribute("href"))) !== "/incidents/new") {
    await page.keyboard.press("Tab");
    assert.ok(++guard < 20, "the Declare link is reachable with Tab");
  }
  await Promise.all([page.waitForURL(`${BASE}/incidents/new`), page.keyboard.press("Enter")]);
  // The title has the focus (autofocus is applied at a rendering step after the load, so it
  // is waited for); severity is a radio group (arrows), then the service.
  await page.waitForFunction(() => document.activeElement?.id === "d-title", null, { timeout: 5000 });
  await page.keyboard.type("Login codes delayed (keyboard)");
  await page.keyboard.press("Tab"); // the checked radio: SEV2
  assert.equal(await page.evaluate(() => document.activeElement.value), "SEV2");
  await page.keyboard.press("ArrowLeft"); // SEV1
  assert.equal(await page.evaluate(() => document.activeElement.value), "SEV1");
  await page.keyboard.press("Tab"); // service
  assert.equal(await page.evaluate(() => document.activeElement.id), "d-service");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Tab"); // type
  await page.keyboard.press("Tab"); // Declare
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Declare");
  await Promise.all([page.waitForURL(/\/incidents\/INC-\d+$/), page.keyboard.press("Enter")]);
  keyboardPath = new URL(page.url()).pathname;
  const h1 = await page.textContent("h1");
  assert.match(h1, /SEV1/);
  assert.match(h1, /Login codes delayed \(keyboard\)/);
  await context.close();
});

test("axe-core finds no serious or critical violation on the main pages", async () => {
  assert.ok(incidentPath);
  // axe is evaluated into the page; the pages' CSP forbids any script not served by Muster.
  const { context, page } = await signedIn(RESPONDER, { bypassCSP: true });
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const path of [
      "/", "/incidents", incidentPath, "/incidents/new", `${incidentPath}/brief`, "/oncall",
      "/oncall/schedules/payments-primary", "/policies", "/policies/blast-radius-20m", "/services",
      "/people", "/escalation", "/alerts", "/silences", "/inbox",
    ]) {
      await page.goto(`${BASE}${path}`);
      await page.evaluate(AXE);
      const result = await page.evaluate(() =>
        window.axe.run(document, { resultTypes: ["violations"] }),
      );
      const bad = result.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
      assert.deepEqual(bad, [], `${path} (${scheme})`);
    }
  }
  await context.close();
});

// Always checks that no page scrolls sideways at a phone's width; keeps the screenshots only
// when asked to (MUSTER_SCREENSHOTS), so a test run never rewrites the README's pictures.
test("pages fit a phone's width (screenshots at desktop and phone width on request)", async () => {
  assert.ok(keyboardPath);
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  for (const [width, height] of [[1280, 900], [390, 844]]) {
    const { context, page } = await signedIn(RESPONDER, { viewport: { width, height } });
    for (const [name, path] of [
      ["home", "/"], ["incidents", "/incidents"], ["incident", keyboardPath], ["oncall", "/oncall"],
      ["schedule", "/oncall/schedules/payments-primary"], ["policies", "/policies"],
      ["policy", "/policies/blast-radius-20m"], ["services", "/services"], ["people", "/people"],
      ["escalation", "/escalation"], ["alerts", "/alerts"], ["silences", "/silences"], ["inbox", "/inbox"],
    ]) {
      await page.goto(`${BASE}${path}`);
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}-${width}.png`, fullPage: true });
      // Nothing wider than the viewport: usable at a phone's width.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} at ${width} px scrolls sideways by ${overflow} px`);
    }
    await context.close();
  }
});
