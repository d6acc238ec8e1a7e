// The staffing page in Debian's Chromium against a real `muster serve` of the demo (see
// ui.test.js and scripts/ui-test.sh for the environment): verdicts and charts, no "run again"
// for a viewer, a responder's run again, axe in light and dark, and the phone's width.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { AXE, BASE, RESPONDER, SHOTS, VIEWER, signedIn, submitted } from "./support.js";

test("staffing: a viewer sees each rotation's verdicts and the load charts, no run again", async () => {
  const { context, page } = await signedIn(VIEWER);
  await page.click('nav a[href="/staffing"]');
  await page.waitForURL(`${BASE}/staffing`);
  assert.equal(await page.textContent("h1"), "Staffing");
  assert.equal(await page.getAttribute('nav a[href="/staffing"]', "aria-current"), "page");
  for (const rotation of ["payments-escalation", "platform-escalation"]) {
    const verdicts = await page.locator(`[data-rotation="${rotation}"] .verdict`).allTextContents();
    assert.ok(verdicts.length >= 2, `${rotation}: ${verdicts}`);
    for (const v of verdicts) assert.match(v, /^(met|met \(not yet sure\)|MISSED|no incidents simulated)$/);
  }
  assert.match(await page.textContent(".sim-run"), /100 runs × 13 weeks from .*, seed 1;/);
  for (const chart of ["heatmap", "people"]) {
    const img = page.locator(`img[src="/staffing/load/${chart}.svg"]`);
    const width = await img.evaluate(async (el) => {
      await el.decode();
      return el.naturalWidth;
    });
    assert.ok(width > 0, `${chart} chart loaded`);
  }
  assert.equal(await page.locator('form[action="/staffing/run"]').count(), 0);
  assert.equal(await page.getByRole("button", { name: "Run again" }).count(), 0);
  await context.close();
});

test("staffing: a responder runs it again with other runs and a seed", async () => {
  const { context, page } = await signedIn(RESPONDER);
  await page.goto(`${BASE}/staffing`);
  await page.fill("#s-runs", "40");
  await page.fill("#s-seed", "5");
  await submitted(page, () => page.getByRole("button", { name: "Run again" }).click(), `${BASE}/staffing`);
  assert.match(await page.textContent(".sim-run"), /40 runs × 13 weeks from .*, seed 5;/);
  // Back to the CLI's defaults for the scenarios after this one.
  await page.fill("#s-runs", "100");
  await page.fill("#s-seed", "1");
  await submitted(page, () => page.getByRole("button", { name: "Run again" }).click(), `${BASE}/staffing`);
  assert.match(await page.textContent(".sim-run"), /100 runs × 13 weeks from .*, seed 1;/);
  await context.close();
});

test("staffing: axe-core finds no serious or critical violation, light and dark", async () => {
  const { context, page } = await signedIn(RESPONDER, { bypassCSP: true });
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto(`${BASE}/staffing`);
    await page.evaluate(AXE);
    const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
    const bad = result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    assert.deepEqual(bad, [], `/staffing (${scheme})`);
  }
  await context.close();
});

test("staffing: fits a phone's width (screenshots at desktop and phone width on request)", async () => {
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  for (const [width, height] of [[1280, 900], [390, 844]]) {
    const { context, page } = await signedIn(RESPONDER, { viewport: { width, height } });
    await page.goto(`${BASE}/staffing`);
    // The first sweep's candidates open, as a reader would look at them.
    await page.locator("details summary").first().click();
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/staffing-${width}.png`, fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `/staffing at ${width} px scrolls sideways by ${overflow} px`);
    await context.close();
  }
});
