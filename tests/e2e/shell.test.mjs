//! The app shell on its own (no API): sign-in renders, a failed sign-in shows the server's answer,
//! and the service worker makes a reload work offline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, shot, startStaticServer } from './helpers.mjs';

test('app shell: sign-in, error message, offline reload through the service worker', async () => {
  const server = await startStaticServer();
  const browser = await launch();
  try {
    const { page, context } = browser;
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#token');
    assert.equal(await page.title(), 'Sign in · Quorum');
    await shot(page, 'signin');

    await page.fill('#token', 'not-a-token');
    await page.click('button[type=submit]');
    const error = page.locator('[data-testid=signin-error]');
    await error.filter({ hasText: 'HTTP 404' }).waitFor();

    // Wait until the service worker controls the page and has cached the shell.
    await page.evaluate(async () => { await navigator.serviceWorker.ready; });
    await page.reload();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    await context.setOffline(true);
    await page.reload();
    await page.waitForSelector('#token');
    assert.equal(await page.evaluate(() => navigator.onLine), false);
    await context.setOffline(false);
  } finally {
    await browser.close();
    server.stop();
  }
});
