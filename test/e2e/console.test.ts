// The web console in a real browser (issue 10): Chromium driven by playwright-core against a real
// `tidemark serve` on the shop example after an upstream fix was ingested. The test sees the stale
// partitions in the grid, enters the token, plans a backfill with a reason, confirms it, watches the
// run complete through the live (server-sent events) view, and opens its diff. Screenshots are saved
// to test-artifacts/ (gitignored) for people to look at.
//
// It needs /usr/bin/chromium (Debian's `chromium`). On CI .ci/run installs it, so there the test
// always runs; elsewhere it is skipped when the browser is absent, and its name says so.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyOrdersFix, builtShop, days, ROOT } from '../helpers/project.js';
import { chromiumAvailable, watchErrors } from './browser.js';
import { consoleSuite, enterToken } from './console-suite.js';

const available = chromiumAvailable;
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const FIX = days('2026-04-24', '2026-04-30');

const suite = consoleSuite(async () => {
  const dir = await builtShop('2026-01-01', '2026-04-30'); // the whole example: four months in the grid
  applyOrdersFix(dir, FIX);
  return dir;
});

describe.skipIf(!available)(available ? 'web console in Chromium' : 'web console in Chromium — SKIPPED: /usr/bin/chromium is absent and this is not CI', () => {
  it('shows the grid, plans and starts a backfill with the token, follows it live to the end, and opens its diff', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const page = await suite.browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const errors = watchErrors(page);

    // Read-only at first: the datasets, the graph, and the grid with the stale days of the fix.
    await page.goto(`${suite.server.url}/`);
    await page.getByTestId('dag-node-daily_revenue').waitFor();
    // How far each dataset is complete: daily_revenue through the day before the fix, and why it stops.
    const watermark = page.getByTestId('complete-through-daily_revenue');
    expect(await watermark.textContent()).toBe('2026-04-23');
    expect(await watermark.locator('.badge').getAttribute('title')).toBe('2026-04-24 is stale: orders 2026-04-24 changed v1 → v2');
    expect(await page.getByTestId('complete-through-orders').textContent()).toBe('2026-04-30');
    await page.getByTestId('dag-node-daily_revenue').click();
    await page.getByTestId('partition-grid').waitFor();
    const stale = page.locator('.cell[data-state="stale"]');
    await stale.first().waitFor();
    expect(await stale.evaluateAll((cells) => cells.map((c) => c.getAttribute('data-partition')))).toEqual(FIX);
    expect(await page.getByTestId('review-plan').isDisabled()).toBe(true); // no token yet
    await page.locator(`.cell[data-partition="${FIX[2]}"]`).click();
    await expect.poll(() => page.getByTestId('partition-details').innerText()).toMatch(/stale[\s\S]*orders 2026-04-26 changed v1 → v2/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-grid.png'), fullPage: true });

    // The token, checked by the server, enables actions.
    await enterToken(page, suite.server);
    await page.getByText('Token set').waitFor();

    // Select the fixed days (click, shift-click), give a reason, review the plan.
    await page.locator(`.cell[data-partition="${FIX[0]}"]`).click();
    await page.locator(`.cell[data-partition="${FIX[FIX.length - 1]}"]`).click({ modifiers: ['Shift'] });
    expect(await page.getByTestId('from').inputValue()).toBe(FIX[0]);
    expect(await page.getByTestId('to').inputValue()).toBe(FIX[FIX.length - 1]);
    await page.getByTestId('reason').fill('upstream fix for EUR amounts');
    await page.locator('input[placeholder="e.g. 30/min"]').fill('30/min'); // throttled, so it can be watched
    await page.getByTestId('review-plan').click();
    const plan = page.getByTestId('plan');
    await plan.waitFor();
    const planText = await plan.innerText();
    expect(planText).toMatch(/15\s+partitions in\s+3\s+datasets/);
    expect(planText).toMatch(/daily_revenue\s+7\s+2026-04-24\.\.2026-04-30/);
    expect(planText).toMatch(/monthly_revenue\s+1\s+2026-04-01/);

    // Nothing has run yet: the confirmation is the step that starts it.
    const runsBefore = (await (await fetch(`${suite.server.url}/api/runs`)).json()) as unknown[];
    await page.getByTestId('confirm-start').click();
    await page.waitForURL(/#\/runs\/r/);
    const runId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
    expect((await (await fetch(`${suite.server.url}/api/runs`)).json()).length).toBe(runsBefore.length + 1);

    // Live: the throttle shows while it runs, then the run ends published — without reloading.
    const progress = page.getByTestId('run-progress');
    await progress.getByText(/throttled|paused/).first().waitFor({ timeout: 60_000 });
    await page.locator('.page-title .badge', { hasText: /^(published|complete)$/ }).waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('live-indicator').innerText()).toMatch(/Live/);

    // Its diff: the chart of the metric that moved, and the table per partition.
    await page.getByTestId('diff-chart').waitFor();
    expect(await page.getByTestId('diff-metric').inputValue()).toMatch(/revenue/);
    const rows = page.getByTestId('diff-table').locator('tbody tr');
    expect(await rows.count()).toBe(FIX.length);
    expect(await rows.first().innerText()).toMatch(/2026-04-24\s+1 → 2/);
    expect(await page.getByTestId('diff-chart').locator('rect.bar-after').count()).toBe(FIX.length);
    await page.getByText('Undo this run (restore)').waitFor(); // the way back is offered beside the diff
    await page.screenshot({ path: path.join(ARTIFACTS, 'console.png'), fullPage: true });

    // Back on the grid, the fixed days are published by this run.
    await page.goto(`${suite.server.url}/#/datasets/daily_revenue`);
    await page.locator(`.cell[data-partition="${FIX[0]}"][data-state="published"]`).waitFor();
    expect(await page.locator('.cell[data-state="stale"]').count()).toBe(0);
    await page.locator(`.cell[data-partition="${FIX[0]}"]`).click();
    expect(await page.getByTestId('partition-details').innerText()).toContain(runId);

    expect(errors).toEqual([]);
    await page.close();
  });
});
