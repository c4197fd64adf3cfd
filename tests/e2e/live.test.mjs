//! The manager's task page follows the task live: a label an annotator submits shows on the open
//! page without a reload (well under a second on a quiet machine; the bound here leaves room for
//! a busy CI box, and polling is ruled out by the idle check), and the page asks the API nothing
//! while nothing happens (the server's event stream says when to look).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer } from './helpers.mjs';

const MANAGER = 'demo-manager';
const A1 = 'demo-annotator-1';

test('a label appears on the manager\'s open task page without a reload', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const url = server.url;
  const browser = await launch();
  try {
    const { page } = browser;
    const { tasks } = await api(url, A1, 'GET', '/me/tasks');
    const task = tasks.find((x) => x.schema.annotation_type === 'classification');
    const before = await api(url, MANAGER, 'GET', `/tasks/${task.id}/progress`);

    await signIn(page, url, MANAGER);
    await page.goto(`${url}/manage/tasks/${task.id}`);
    const chart = page.locator('[data-testid=progress-chart]');
    await chart.filter({ hasText: `${before.labeled} / ${before.items}` }).waitFor();

    // Idle: the open page fetches nothing (the event stream was opened before).
    await page.waitForTimeout(1500);
    const asked = [];
    page.on('request', (r) => { if (r.url().includes('/api/v1/')) asked.push(r.url()); });
    await page.waitForTimeout(6000);
    assert.deepEqual(asked, [], 'no API request while nothing happens');

    const batch = await api(url, A1, 'POST', `/tasks/${task.id}/batches`, { size: 1 });
    await api(url, A1, 'POST', '/sync', {
      ops: [{ client_op_id: 'live-1', action: { type: 'submit', task_id: task.id, item_id: batch.items[0].item_id, lease_id: batch.lease_id, value: { type: 'classification', concept: task.schema.concepts[0] } } }],
    });
    const labelled = Date.now();
    const after = await api(url, MANAGER, 'GET', `/tasks/${task.id}/progress`);
    assert.equal(after.labeled, before.labeled + 1);
    await chart.filter({ hasText: `${after.labeled} / ${after.items}` }).waitFor({ timeout: 3000 });
    assert.ok(Date.now() - labelled <= 3000, `shown after ${Date.now() - labelled} ms`);
    await shot(page, 'live-task-page');
  } finally {
    await browser.close();
    server.stop();
  }
});
