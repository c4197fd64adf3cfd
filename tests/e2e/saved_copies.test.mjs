//! Offline beyond the labeling screen (issue 11), against a real `quorum serve --demo`: My tasks
//! and the signed-in user's name, once seen online, show again after an offline reload from
//! IndexedDB, marked on screen as saved copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer } from './helpers.mjs';

const TOKEN = 'demo-annotator-1';

test('My tasks and the name are saved copies offline', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page, context } = browser;
    const { tasks } = await api(server.url, TOKEN, 'GET', '/me/tasks');
    const me = await api(server.url, TOKEN, 'GET', '/me');
    assert.ok(tasks.length > 0, 'the demo gives the annotator tasks');
    await signIn(page, server.url, TOKEN);
    // The service worker holds the app shell for the offline reload.
    await page.evaluate(async () => { await navigator.serviceWorker.ready; });
    await page.reload();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    const rows = page.locator('[data-testid=task-row]');
    await rows.first().waitFor();
    assert.equal(await rows.count(), tasks.length);
    assert.equal(await page.locator('[data-testid=saved-copy]').count(), 0, 'online: the live list');
    assert.equal(await page.locator('[data-testid=who-saved]').count(), 0);

    await context.setOffline(true);
    await page.reload();
    await page.locator('[data-testid=saved-copy]').waitFor();
    assert.equal(await rows.count(), tasks.length);
    for (const task of tasks) await rows.filter({ hasText: task.name }).first().waitFor();
    await page.locator('[data-testid=who-saved]').waitFor();
    assert.equal(await page.locator('[data-testid=who]').textContent(), me.name);
    await shot(page, 'my-tasks-offline');
    await context.setOffline(false);
  } finally {
    await browser.close();
    server.stop();
  }
});
