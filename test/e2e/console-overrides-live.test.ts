// The console in Chromium (playwright-core, /usr/bin/chromium) on a project whose daily_revenue has
// `protect: { recent: 2 }`: a backfill of the last days shows the plan blocked by the recent guard and
// offers "Include recent partitions" with the guard's message; ticking it plans again and enables Start.
// On the run page, started with a throttle, the Tasks card follows the run: tasks turn computed one by
// one while it is in flight, without reloading the page (waits are on page state, never on time).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyOrdersFix, builtShop, days, REDUCED_TO } from '../helpers/project.js';
import { chromiumAvailable, watchErrors } from './browser.js';
import { consoleSuite, enterToken } from './console-suite.js';

const available = chromiumAvailable;
const RANGE = days('2026-03-13', REDUCED_TO); // four days, the last two protected as recent

const suite = consoleSuite(async () => {
  const dir = await builtShop();
  const file = path.join(dir, 'tidemark.yaml');
  const checks = '    checks: [{ not_null: [day, currency] }, { row_count: { min: 1 } }]\n';
  writeFileSync(file, readFileSync(file, 'utf8').replace(checks, `${checks}    protect: { recent: 2 }\n`));
  applyOrdersFix(dir, RANGE);
  return dir;
});

describe.skipIf(!available)(available ? 'console overrides and live tasks in Chromium' : 'console overrides and live tasks in Chromium — SKIPPED: /usr/bin/chromium is absent and this is not CI', () => {
  it('includes recent partitions only when ticked, then follows the run’s tasks live', async () => {
    const page = await suite.browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const errors = watchErrors(page);
    await page.goto(`${suite.server.url}/#/datasets/daily_revenue`);
    await enterToken(page, suite.server);
    await page.getByText('Token set').waitFor();

    await page.getByTestId('from').fill(RANGE[0]);
    await page.getByTestId('to').fill(RANGE[RANGE.length - 1]);
    await page.getByTestId('reason').fill('upstream fix, last days included');
    await page.locator('input[placeholder="e.g. 30/min"]').fill('30/min'); // one task every 2 s: watchable
    await page.getByTestId('review-plan').click();
    await page.getByTestId('plan').waitFor();

    // Blocked by the recent guard: Start disabled, and exactly the override that lifts it offered.
    expect(await page.getByTestId('plan').innerText()).toMatch(/blocks[\s\S]*among the newest 2 partitions/);
    expect(await page.getByTestId('confirm-start').isDisabled()).toBe(true);
    const include = page.getByTestId('override-include_recent');
    await include.waitFor();
    expect(await include.isChecked()).toBe(false);
    expect(await page.getByTestId('overrides').innerText()).toMatch(/Include recent partitions\s+--include-recent[\s\S]*2026-03-15, 2026-03-16 among the newest 2/);
    expect(await page.getByTestId('override-allow_full_refresh').count()).toBe(0);

    // Ticking it plans again: no blocking guard, Start enabled, the flag named in the confirmation.
    await include.check();
    await page.locator('.guard-blocking').waitFor({ state: 'detached' });
    await expect.poll(() => page.getByTestId('confirm-start').isEnabled()).toBe(true);
    expect(await include.isChecked()).toBe(true);
    expect(await page.getByTestId('confirm-plan').innerText()).toMatch(/Start backfill 9 partitions with reason .* and --include-recent\?/); // with downstream (the default)
    expect(await page.getByTestId('overrides').innerText()).toMatch(/In effect/);

    await page.getByTestId('confirm-start').click();
    await page.waitForURL(/#\/runs\/r/);
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

    // The Tasks card moves while the run is in flight: the third task shows 'computed', a state that
    // only exists mid-run (publishing turns every task 'published'), four seconds into the throttle —
    // long after the page first read the run.
    const tasks = page.getByTestId('tasks');
    await tasks.waitFor();
    const row = (day: string) => tasks.locator(`tr[data-task="daily_revenue ${day}"]`);
    await row(RANGE[2]).and(page.locator('[data-status="computed"]')).waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('task-counts').innerText()).toMatch(/computed/);
    // …and reaches the end, still without a reload.
    await page.locator('.page-title .badge', { hasText: /^(published|complete)$/ }).waitFor({ timeout: 120_000 });
    await row(RANGE[3]).and(page.locator('[data-status="published"]')).waitFor();
    expect(await tasks.locator('tr[data-status="published"]').count()).toBe(9);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);

    expect(errors).toEqual([]);
    await page.close();
  });
});
