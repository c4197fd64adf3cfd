//! Annotator scenarios against a real `quorum serve --demo`: (1) label 10 items by keyboard and
//! the server holds 10 labels; (2) go offline, label 20, reload offline, come back after the lease
//! ended: exactly those 20 labels arrive (late-flagged), none lost or duplicated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer } from './helpers.mjs';

const TOKEN = 'demo-annotator-1';

/** The first demo task this annotator can label by classification. */
async function classificationTask(url) {
  const body = await api(url, TOKEN, 'GET', '/me/tasks');
  const tasks = Array.isArray(body) ? body : body.tasks;
  const task = tasks.find((t) => t.schema?.annotation_type === 'classification');
  assert.ok(task, `the demo seeds a classification task for ${TOKEN}`);
  return task;
}

async function done(url, taskId) {
  const body = await api(url, TOKEN, 'GET', '/me/tasks');
  const tasks = Array.isArray(body) ? body : body.tasks;
  return tasks.find((t) => t.id === taskId).my_progress.done;
}

/** Labels `n` items with key 1, waiting for each next item to show. */
async function labelByKeyboard(page, n) {
  for (let i = 0; i < n; i++) {
    const item = page.locator('[data-testid=item]');
    await item.waitFor();
    const before = await item.getAttribute('data-item-id');
    await page.keyboard.press('1');
    await page.waitForFunction(
      (b) => document.querySelector('[data-testid=item]')?.getAttribute('data-item-id') !== b,
      before,
    );
  }
}

async function waitPending(page, n) {
  await page.locator('[data-testid=pending]').filter({ hasText: new RegExp(`^${n} waiting`) }).waitFor({ timeout: 30_000 });
}

test('scenario 1: pull a batch, label 10 items by keyboard, the server holds 10', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page } = browser;
    const task = await classificationTask(server.url);
    await signIn(page, server.url, TOKEN);
    await page.waitForSelector('[data-testid=task-row]');
    await shot(page, 'my-tasks');
    await page.goto(`${server.url}/tasks/${task.id}/annotate`);
    await page.locator('[data-testid=item]').waitFor();
    await shot(page, 'annotate');
    await labelByKeyboard(page, 10);
    await waitPending(page, 0);
    assert.equal(await done(server.url, task.id), 10);
  } finally {
    await browser.close();
    server.stop();
  }
});

test('scenario 2: offline labeling survives a reload and syncs exactly once', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page, context } = browser;
    const task = await classificationTask(server.url);
    // A short lease so that it ends while the browser is offline.
    await api(server.url, 'demo-manager', 'PATCH', `/tasks/${task.id}`, { lease_seconds: 20 });
    await signIn(page, server.url, TOKEN);
    await page.goto(`${server.url}/tasks/${task.id}/annotate`);
    // The app keeps 20 items leased ahead; wait for the stock before the network goes.
    await page.locator('[data-testid=queue-count]').filter({ hasText: /^(2\d|[3-9]\d) in queue/ }).waitFor({ timeout: 30_000 });
    await page.evaluate(async () => { await navigator.serviceWorker.ready; });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    const before = await done(server.url, task.id);
    // Every leased item goes in the 20 labels below, so read the lease while an item shows; the
    // stock came in batches a moment apart, hence the margin.
    const leaseLeft = await page.locator('[data-testid=lease]').textContent();
    const match = leaseLeft.match(/(\d+):(\d+) left/);
    assert.ok(match, `a live lease is shown: ${leaseLeft}`);
    const leaseEnds = Date.now() + (Number(match[1]) * 60 + Number(match[2]) + 5) * 1000;

    await context.setOffline(true);
    await page.locator('[data-testid=connectivity]').filter({ hasText: 'offline' }).waitFor();
    await labelByKeyboard(page, 12);
    await page.reload();
    await page.locator('[data-testid=item]').waitFor();
    await labelByKeyboard(page, 8);
    await waitPending(page, 20);
    await shot(page, 'offline');

    await page.waitForTimeout(Math.max(0, leaseEnds - Date.now()));
    await context.setOffline(false);
    await waitPending(page, 0);
    await page.locator('[data-testid=sync-note]').filter({ hasText: 'synced' }).waitFor();
    assert.match(await page.locator('[data-testid=sync-note]').textContent(), /after the lease ended \(kept, flagged late\)/);
    await shot(page, 'synced');
    assert.equal(await done(server.url, task.id), before + 20);
  } finally {
    await browser.close();
    server.stop();
  }
});
