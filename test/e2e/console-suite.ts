/**
 * The set-up both console tests share: a built shop project (prepared by the test), a real
 * `tidemark serve` on it and a Chromium, started once for the file and stopped after it; plus
 * entering the action token the way a person does.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { cleanup, requireBuild } from '../helpers/project.js';
import { chromiumAvailable, launchChromium } from './browser.js';
import { startServe, type ServeProcess } from './serve-process.js';

export interface ConsoleSuite {
  readonly dir: string;
  readonly server: ServeProcess;
  readonly browser: Browser;
}

/** Registers the file's beforeAll/afterAll; `prepare` returns the project folder to serve. Nothing starts without Chromium. */
export function consoleSuite(prepare: () => Promise<string>): ConsoleSuite {
  const suite = { dir: '', server: undefined as unknown as ServeProcess, browser: undefined as unknown as Browser };
  beforeAll(async () => {
    if (!chromiumAvailable) return;
    requireBuild();
    suite.dir = await prepare();
    suite.server = await startServe(suite.dir);
    suite.browser = await launchChromium();
  }, 300_000);
  afterAll(async () => {
    await suite.browser?.close();
    await suite.server?.stop();
    if (suite.dir) cleanup(suite.dir);
  });
  return suite;
}

/** Opens the token dialog, enters the server's token and saves it. */
export async function enterToken(page: Page, server: ServeProcess): Promise<void> {
  await page.getByTestId('token-open').click();
  await page.getByTestId('token-input').fill(server.token);
  await page.getByTestId('token-save').click();
}
