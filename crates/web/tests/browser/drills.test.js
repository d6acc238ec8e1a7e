// The drill pages in Debian's Chromium against a real `muster serve` of the demo
// (scripts/ui-test.sh starts it and sets MUSTER_URL, the tokens and MUSTER_SCREENSHOTS):
// a facilitator starts a drill, injects, and sees the drill and its score change; a viewer's
// page follows live; axe finds nothing serious; the pages fit a phone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { AXE, BASE, RESPONDER, SHOTS, VIEWER, eventually, signedIn, submitted } from "./support.js";

let drillPath; // the drill the facilitator starts, e.g. /drills/INC-3
let endedPath; // a drill ended at once, its report shown

/** Starts `scenario` from its form on /drills with the players given; the drill's path. */
async function startDrill(page, scenario, players) {
  await page.goto(`${BASE}/drills`);
  const form = page.locator(`form.start-drill:has(input[name=scenario][value="${scenario}"])`);
  await form.locator("input[name=speed]").fill("1");
  for (const [part, person] of Object.entries(players)) {
    await form.locator(`select[name="player:${part}"]`).selectOption(person);
  }
  await Promise.all([page.waitForURL(/\/drills\/INC-\d+$/), form.locator("button[type=submit]").click()]);
  return new URL(page.url()).pathname;
}

test("a facilitator starts a drill, injects, and a viewer's page follows live", async () => {
  const { context, page } = await signedIn(RESPONDER);
  drillPath = await startDrill(page, "sev1-3am-blast-radius", {
    incident_commander: "dave",
    ops_lead: "erin",
    comms_lead: "carol",
  });
  assert.match(await page.textContent("h1"), /Drill INC-\d+: \[drill\] Checkout error rate above 30 %/);
  assert.equal((await page.textContent("#drill-state")).trim(), "running");
  assert.match(await page.textContent(".score"), /Live score/);
  assert.match(await page.locator('tr[data-target="mitigated"]').textContent(), /pending/);

  const watcher = await signedIn(VIEWER);
  await watcher.page.goto(`${BASE}${drillPath}`);
  assert.equal(await watcher.page.locator("main button").count(), 0, "a viewer has no button");
  await watcher.page.waitForFunction(() => document.body.dataset.live === "ready");

  // Inject the support desk's message now: the row says played, here and on the viewer's page.
  await submitted(page, () => page.getByRole("button", { name: "Inject now: inject 1, due T+12 min" }).click(), `${BASE}${drillPath}`);
  await eventually(
    async () => {
      await page.reload();
      return /played/.test(await page.locator('tr[data-inject="1"] .inject-status').textContent());
    },
    5000,
    "the inject played",
  );
  await eventually(
    async () => /played/.test(await watcher.page.locator('tr[data-inject="1"] .inject-status').textContent()),
    5000,
    "the viewer's page refreshed by the drill's events",
  );
  // The incident commander's view shows the message as they received it.
  await page.goto(`${BASE}${drillPath}/as/incident_commander`);
  assert.match(await page.textContent(".received"), /Sam, customer support lead: 40 tickets in ten minutes/);

  // Pause and resume from the buttons.
  await page.goto(`${BASE}${drillPath}`);
  await submitted(page, () => page.getByRole("button", { name: "Pause" }).click(), `${BASE}${drillPath}`);
  assert.equal((await page.textContent("#drill-state")).trim(), "paused");
  await submitted(page, () => page.getByRole("button", { name: "Resume" }).click(), `${BASE}${drillPath}`);
  assert.equal((await page.textContent("#drill-state")).trim(), "running");
  await watcher.context.close();

  // A second drill, ended at once: its score and after-action report with the chart.
  endedPath = await startDrill(page, "exec-vip-call", { incident_commander: "dave", comms_lead: "carol", executive: "erin" });
  await submitted(page, () => page.getByRole("button", { name: "End the drill" }).click(), `${BASE}${endedPath}`);
  assert.equal((await page.textContent("#drill-state")).trim(), "ended");
  assert.match(await page.textContent("#drill-report"), /# Drill report: The executive caught off guard/);
  const loaded = await page.locator(".drill-chart img").evaluate((img) => img.complete && img.naturalWidth > 0);
  assert.ok(loaded, "the chart loads under the CSP");
  await context.close();
});

test("axe-core finds no serious or critical violation on the drill pages", async () => {
  assert.ok(drillPath && endedPath);
  const { context, page } = await signedIn(RESPONDER, { bypassCSP: true });
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const path of ["/drills", drillPath, endedPath, `${drillPath}/as/incident_commander`]) {
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

test("the drill pages fit a phone's width (screenshots on request)", async () => {
  assert.ok(drillPath && endedPath);
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  for (const [width, height] of [[1280, 900], [390, 844]]) {
    const { context, page } = await signedIn(RESPONDER, { viewport: { width, height } });
    const pages = [
      ["drills", "/drills"],
      ["drill", drillPath],
      ["drill-report", endedPath],
      ["drill-participant", `${drillPath}/as/incident_commander`],
    ];
    for (const [name, path] of pages) {
      await page.goto(`${BASE}${path}`);
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}-${width}.png`, fullPage: true });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} at ${width} px scrolls sideways by ${overflow} px`);
    }
    await context.close();
  }
});
