//! The client half of scenario 2 without a server: with a stored task and leased queue, label by
//! keyboard while offline, reload offline, label more — every label is in the IndexedDB outbox
//! exactly once, in order, and the queue shrank by as many.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, shot, startStaticServer } from './helpers.mjs';

test('offline labels survive a reload in the outbox, once each and in order', async () => {
  const server = await startStaticServer();
  const browser = await launch();
  try {
    const { page, context } = browser;
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#token');
    await page.evaluate(async () => { await navigator.serviceWorker.ready; });
    await page.reload();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    await page.evaluate(async () => {
      localStorage.setItem('quorum.token', 'offline-test');
      localStorage.setItem('quorum.user', '1');
      const db = await new Promise((ok) => { const r = indexedDB.open('quorum', 1); r.onupgradeneeded = () => r.result.createObjectStore('kv'); r.onsuccess = () => ok(r.result); });
      const task = { id: 3, name: 'Sentiment', status: 'open', my_progress: null,
        schema: { annotation_type: 'classification', concepts: ['positive', 'negative', 'neutral'] } };
      const queue = Array.from({ length: 25 }, (_, i) => ({ lease_id: 9, expires_at: Date.now() + 1000,
        item: { item_id: 1000 + i, data: `review number ${i}`, metadata: null, rework: i === 0 ? { comment: 'please look again', reviewer: null } : null } }));
      await new Promise((ok) => { const tx = db.transaction('kv', 'readwrite'); tx.objectStore('kv').put(JSON.stringify(task), 'task:3'); tx.objectStore('kv').put(JSON.stringify(queue), 'queue:1:3'); tx.oncomplete = ok; });
      db.close();
    });
    await context.setOffline(true);
    await page.goto(`${server.url}/tasks/3/annotate`);
    await page.locator('[data-testid=rework]').filter({ hasText: 'please look again' }).waitFor();
    const labelN = async (n, key) => {
      for (let i = 0; i < n; i++) {
        const before = await page.locator('[data-testid=item]').getAttribute('data-item-id');
        await page.keyboard.press(key);
        await page.waitForFunction((b) => document.querySelector('[data-testid=item]')?.getAttribute('data-item-id') !== b, before);
      }
    };
    await labelN(12, '1');
    await page.keyboard.press('s');
    await page.reload();
    await page.locator('[data-testid=item]').waitFor();
    await labelN(7, '2');
    await page.locator('[data-testid=pending]').filter({ hasText: /^20 waiting/ }).waitFor();
    await page.locator('[data-testid=lease]').filter({ hasText: 'flagged late' }).waitFor();
    await page.keyboard.press('?');
    await page.locator('[data-testid=help]').waitFor();
    await shot(page, 'offline-queue');
    assert.match(await page.locator('[data-testid=connectivity]').textContent(), /offline/);
    const { outbox, queue } = await page.evaluate(async () => {
      const db = await new Promise((ok) => { const r = indexedDB.open('quorum', 1); r.onsuccess = () => ok(r.result); });
      const get = (k) => new Promise((ok) => { const g = db.transaction('kv').objectStore('kv').get(k); g.onsuccess = () => ok(JSON.parse(g.result)); });
      const out = { outbox: await get('outbox'), queue: await get('queue:1:3') };
      db.close();
      return out;
    });
    const actions = outbox.pending.map((p) => p.op.action);
    assert.equal(actions.length, 20);
    assert.deepEqual(actions.map((a) => a.item_id), Array.from({ length: 20 }, (_, i) => 1000 + i));
    assert.equal(actions.filter((a) => a.type === 'skip').length, 1);
    assert.equal(new Set(outbox.pending.map((p) => p.op.client_op_id)).size, 20);
    assert.equal(actions[0].value.concept, 'positive');
    assert.equal(actions[19].value.concept, 'negative');
    assert.equal(queue.length, 5);
  } finally {
    await browser.close();
    server.stop();
  }
});
