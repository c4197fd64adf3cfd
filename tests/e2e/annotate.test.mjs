//! Annotator scenarios against a real `quorum serve --demo`: (1) label 10 items by keyboard and
//! the server holds 10 labels; (2) go offline, label the 10 items of the batch held (one batch
//! ahead at most), reload offline in between, come back after the lease ended: exactly those 10
//! labels arrive (late-flagged), none lost or duplicated.
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
    // Plain words, a title per screen, and a sync indicator that screen readers announce.
    const rows = await page.locator('[data-testid=task-row]').allTextContents();
    assert.ok(rows.some((r) => r.includes('Bounding boxes')), rows.join(' | '));
    assert.ok(rows.every((r) => !/bounding_box|in_progress/.test(r)), rows.join(' | '));
    assert.equal(await page.title(), 'My tasks · Quorum');
    assert.equal(await page.locator('[data-testid=pending]').getAttribute('aria-live'), 'polite');
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
    // The app holds one batch (10 items) ahead; wait for it before the network goes.
    await page.locator('[data-testid=queue-count]').filter({ hasText: /^10 in queue/ }).waitFor({ timeout: 30_000 });
    await page.evaluate(async () => { await navigator.serviceWorker.ready; });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    const before = await done(server.url, task.id);
    // Every leased item goes in the 10 labels below, so read the lease while an item shows; the
    // stock came in batches a moment apart, hence the margin.
    const leaseLeft = await page.locator('[data-testid=lease]').textContent();
    const match = leaseLeft.match(/(\d+):(\d+) left/);
    assert.ok(match, `a live lease is shown: ${leaseLeft}`);
    const leaseEnds = Date.now() + (Number(match[1]) * 60 + Number(match[2]) + 5) * 1000;

    await context.setOffline(true);
    await page.locator('[data-testid=connectivity]').filter({ hasText: 'offline' }).waitFor();
    await labelByKeyboard(page, 6);
    await page.reload();
    await page.locator('[data-testid=item]').waitFor();
    await labelByKeyboard(page, 3);
    // The last one: the queue is empty after it, so wait for the screen to say so.
    await page.keyboard.press('1');
    await page.locator('[data-testid=empty]').waitFor();
    await waitPending(page, 10);
    await shot(page, 'offline');

    await page.waitForTimeout(Math.max(0, leaseEnds - Date.now()));
    await context.setOffline(false);
    await waitPending(page, 0);
    await page.locator('[data-testid=sync-note]').filter({ hasText: 'synced' }).waitFor();
    assert.match(await page.locator('[data-testid=sync-note]').textContent(), /after the lease ended \(kept, flagged late\)/);
    await shot(page, 'synced');
    assert.equal(await done(server.url, task.id), before + 10);
  } finally {
    await browser.close();
    server.stop();
  }
});

test('going back to an item labeled in this session and changing its answer leaves one active answer', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page } = browser;
    const task = await classificationTask(server.url);
    await signIn(page, server.url, TOKEN);
    await page.goto(`${server.url}/tasks/${task.id}/annotate`);
    const ids = [];
    for (let i = 0; i < 3; i++) {
      await page.locator('[data-testid=item]').waitFor();
      ids.push(Number(await page.locator('[data-testid=item]').getAttribute('data-item-id')));
      await labelByKeyboard(page, 1); // "positive"
    }
    await waitPending(page, 0);
    // B twice: the second of the three, with the answer given.
    await page.keyboard.press('b');
    await page.keyboard.press('b');
    await page.locator(`[data-testid=item][data-item-id="${ids[1]}"]`).waitFor();
    assert.equal(await page.locator('[data-testid=previous-answer]').textContent(), 'positive');
    await shot(page, 'going-back');
    await page.keyboard.press('3'); // "negative"
    // On to the next answer of the session, then Esc returns to the queue.
    await page.locator(`[data-testid=item][data-item-id="${ids[2]}"]`).waitFor();
    await page.keyboard.press('Escape');
    await page.waitForFunction((seen) => !seen.includes(Number(document.querySelector('[data-testid=item]')?.getAttribute('data-item-id'))), ids);
    assert.equal(await page.locator('[data-testid=back-banner]').count(), 0);
    await waitPending(page, 0);
    const detail = await api(server.url, 'demo-manager', 'GET', `/items/${ids[1]}`);
    const me = await api(server.url, TOKEN, 'GET', '/me');
    const mine = detail.answers.filter((x) => x.task_id === task.id && x.worker_id === me.id);
    const active = mine.filter((x) => x.active);
    assert.equal(active.length, 1, JSON.stringify(mine));
    assert.deepEqual(active[0].value, { type: 'classification', concept: 'negative' });
    assert.equal(mine.length, 2, 'the server keeps the history');
    assert.equal(await done(server.url, task.id), 3, 'still three labels');
  } finally {
    await browser.close();
    server.stop();
  }
});

test('My tasks says "at least" for a task over more open items than it counts', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const url = server.url;
  const browser = await launch();
  try {
    const MANAGER = 'demo-manager';
    const me = await api(url, MANAGER, 'GET', '/me');
    const project = me.projects[0].id;
    const { members } = await api(url, MANAGER, 'GET', `/projects/${project}/members`);
    const annotator = members.find((m) => m.name === TOKEN).user_id;
    const dataset = await api(url, MANAGER, 'POST', `/projects/${project}/datasets`, { name: 'many' });
    const rows = Array.from({ length: 10_050 }, (_, i) => ({ external_id: `many-${i}`, data: { text: `row ${i}` } }));
    const upload = await api(url, MANAGER, 'POST', `/datasets/${dataset.id}/items`, rows);
    for (let tries = 0; upload.job_id; tries++) {
      const job = await api(url, MANAGER, 'GET', `/jobs/${upload.job_id}`);
      if (job.status === 'complete') break;
      assert.ok(['in_progress', 'queued'].includes(job.status) && tries < 600, `the upload job: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await api(url, MANAGER, 'POST', `/projects/${project}/tasks`, {
      name: 'Many rows', kind: 'labeling', review_strategy: { type: 'none' }, assignees: [annotator],
      schema: { annotation_type: 'classification', concepts: ['yes', 'no'] },
      input: { type: 'dataset', dataset_id: dataset.id },
      worker_strategy: { type: 'pull', batch_size: 10, workers_per_input: 1 },
    });
    const { page } = browser;
    await signIn(page, url, TOKEN);
    const row = page.locator('[data-testid=task-row]', { hasText: 'Many rows' });
    await row.waitFor();
    assert.match(await row.textContent(), /0 done · 0 leased · 10000\+ available/);
    // Smaller tasks are counted exactly: no "+".
    const others = await page.locator('[data-testid=task-row]', { hasNotText: 'Many rows' }).allTextContents();
    assert.ok(others.length > 0 && others.every((r) => /\d+ available/.test(r) && !/\+ available/.test(r)), others.join(' | '));
  } finally {
    await browser.close();
    server.stop();
  }
});
