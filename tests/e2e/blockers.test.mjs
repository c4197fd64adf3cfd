//! The three ways the labeling screen stored wrong data (issue 11), each replayed in Chromium:
//! (1) a mouse click on Submit followed by Enter made two ops, the second an empty answer for
//! the next item; (2) labels queued by one annotator were sent with the next annotator's token;
//! (3) one annotator held every item of a task, and a new session did not get its items back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer, startStaticServer } from './helpers.mjs';

/** The app's IndexedDB store as {key: parsed value}. */
async function stored(page) {
  return page.evaluate(async () => {
    const db = await new Promise((ok) => { const r = indexedDB.open('quorum', 1); r.onsuccess = () => ok(r.result); });
    const all = await new Promise((ok) => {
      const out = {};
      const c = db.transaction('kv').objectStore('kv').openCursor();
      c.onsuccess = () => { const cur = c.result; if (!cur) return ok(out); out[cur.key] = JSON.parse(cur.value); cur.continue(); };
    });
    db.close();
    return all;
  });
}

async function myTask(url, token, id) {
  const body = await api(url, token, 'GET', '/me/tasks');
  return (Array.isArray(body) ? body : body.tasks).find((t) => t.id === id);
}

async function taskNamed(url, token, pattern) {
  const body = await api(url, token, 'GET', '/me/tasks');
  const task = (Array.isArray(body) ? body : body.tasks).find((t) => pattern.test(t.name));
  assert.ok(task, `the demo has a task matching ${pattern}`);
  return task;
}

async function waitPending(page, n) {
  await page.locator('[data-testid=pending]').filter({ hasText: new RegExp(`^${n} waiting`) }).waitFor({ timeout: 30_000 });
}

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

/** Signs out through the sidebar; with work queued, keeps it for the next sign-in. */
async function signOutKeeping(page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  const keep = page.locator('[data-testid=signout-keep]');
  if (await keep.waitFor({ timeout: 2000 }).then(() => true, () => false)) await keep.click();
  await page.locator('#token').waitFor({ timeout: 15_000 });
}

test('blocker 1: Submit clicked, then Enter, makes one op; an empty answer needs N', async () => {
  const server = await startStaticServer();
  const browser = await launch();
  try {
    const { page } = browser;
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#token');
    await page.evaluate(async () => {
      localStorage.setItem('quorum.token', 'offline-test');
      localStorage.setItem('quorum.user', '1');
      const db = await new Promise((ok, err) => {
        const r = indexedDB.open('quorum', 1);
        r.onupgradeneeded = () => r.result.createObjectStore('kv');
        r.onsuccess = () => ok(r.result);
        r.onerror = () => err(r.error);
      });
      const task = { id: 9, name: 'Boxes', status: 'open', my_progress: null,
        schema: { annotation_type: 'bounding_box', concepts: ['rocket', 'cloud'] } };
      const seat = (n) => ({ lease_id: 1, expires_at: Date.now() + 600000,
        item: { item_id: n, data: '/demo/rocket.jpg', metadata: null, rework: null } });
      const queue = JSON.stringify([seat(201), seat(202), seat(203)]);
      await new Promise((ok, err) => {
        const tx = db.transaction('kv', 'readwrite');
        tx.objectStore('kv').put(JSON.stringify(task), 'task:9');
        tx.objectStore('kv').put(queue, 'queue:1:9'); // per user
        tx.objectStore('kv').put(queue, 'queue:9'); // where older builds kept it
        tx.oncomplete = ok;
        tx.onerror = () => err(tx.error);
      });
      db.close();
    });
    await page.goto(`${server.url}/tasks/9/annotate`);
    await page.locator('[data-testid=canvas]').waitFor();
    await page.waitForFunction(() => document.querySelector('.editor img')?.naturalWidth > 0);
    assert.equal(await page.title(), 'Label · Boxes · Quorum');
    const box = await page.locator('[data-testid=canvas]').boundingBox();
    await page.mouse.move(box.x + 20, box.y + 20);
    await page.mouse.down();
    await page.mouse.move(box.x + 80, box.y + 70, { steps: 5 });
    await page.mouse.up();

    // The user's one action: click Submit. Then Enter, as people do to go on.
    await page.click('[data-testid=submit]');
    await page.keyboard.press('Enter');
    await page.waitForTimeout(500);
    let ops = (await stored(page)).outbox.pending.map((p) => p.op.action);
    assert.equal(ops.length, 1, `one op for one submit: ${JSON.stringify(ops)}`);
    assert.equal(ops[0].item_id, 201);
    assert.equal(ops[0].value.boxes.length, 1);
    await page.locator('[data-testid=annotate-note]').filter({ hasText: /press N if there is nothing to mark/ }).waitFor();
    assert.equal(await page.locator('[data-testid=item]').getAttribute('data-item-id'), '202');
    await shot(page, 'enter-with-nothing-drawn');

    // "Nothing to mark" is its own key.
    await page.keyboard.press('n');
    await page.waitForFunction(() => document.querySelector('[data-testid=item]')?.getAttribute('data-item-id') === '203');
    await page.waitForTimeout(300);
    ops = (await stored(page)).outbox.pending.map((p) => p.op.action);
    assert.equal(ops.length, 2);
    assert.deepEqual([ops[1].item_id, ops[1].value.boxes], [202, []]);
  } finally {
    await browser.close();
    server.stop();
  }
});

test('blocker 2: labels queued by one annotator are never sent as another', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page, context } = browser;
    const task = await taskNamed(server.url, 'demo-annotator-1', /sentiment/i);
    const before = (await myTask(server.url, 'demo-annotator-1', task.id)).my_progress.done;
    await signIn(page, server.url, 'demo-annotator-1');
    await page.goto(`${server.url}/tasks/${task.id}/annotate`);
    await page.locator('[data-testid=item]').waitFor();
    await page.waitForTimeout(1000);
    await context.setOffline(true);
    await page.locator('[data-testid=connectivity]').filter({ hasText: 'offline' }).waitFor();
    await labelByKeyboard(page, 3);
    await waitPending(page, 3);
    await signOutKeeping(page);

    // Another annotator signs in on this browser, online: annotator 1's labels stay put.
    await context.setOffline(false);
    await signIn(page, server.url, 'demo-annotator-2');
    await page.waitForTimeout(4000);
    await shot(page, 'second-user');
    assert.match(await page.locator('[data-testid=pending]').textContent(), /^0 waiting/);
    assert.equal(await page.locator('[data-testid=refused]').count(), 0, 'annotator 2 sees nothing of annotator 1');
    assert.equal((await myTask(server.url, 'demo-annotator-2', task.id)).my_progress.done, 0);
    assert.equal((await myTask(server.url, 'demo-annotator-1', task.id)).my_progress.done, before);
    await signOutKeeping(page);

    // Annotator 1 comes back: the labels go, as theirs.
    await signIn(page, server.url, 'demo-annotator-1');
    await waitPending(page, 0);
    await page.waitForTimeout(500);
    assert.equal((await myTask(server.url, 'demo-annotator-1', task.id)).my_progress.done, before + 3);
    assert.equal((await myTask(server.url, 'demo-annotator-2', task.id)).my_progress.done, 0);
  } finally {
    await browser.close();
    server.stop();
  }
});

test('blocker 3: one batch held at most, resumed by a new session, released on leaving', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const a = await launch();
  let b = null;
  try {
    const task = await taskNamed(server.url, 'demo-annotator-1', /boxes/i);
    const me = await api(server.url, 'demo-annotator-1', 'GET', '/me');
    const leased = async () => (await myTask(server.url, 'demo-annotator-1', task.id)).my_progress.leased;
    await signIn(a.page, server.url, 'demo-annotator-1');
    await a.page.goto(`${server.url}/tasks/${task.id}/annotate`);
    await a.page.locator('[data-testid=item]').waitFor();
    await a.page.waitForTimeout(3000); // any top-ups happen now
    assert.equal(await leased(), 10, 'one batch (the task holds 30 photos, batch size 10)');
    const queue = (await stored(a.page))[`queue:${me.id}:${task.id}`];
    assert.ok(queue, 'the queue is kept per user');
    const held = queue.map((s) => s.item.item_id);
    assert.equal(held.length, 10);

    // The next annotator finds a full batch.
    const other = await api(server.url, 'demo-annotator-2', 'POST', `/tasks/${task.id}/batches`);
    assert.equal(other.items.length, 10);

    // A new browser session of the same annotator resumes the held items.
    b = await launch();
    await signIn(b.page, server.url, 'demo-annotator-1');
    await b.page.goto(`${server.url}/tasks/${task.id}/annotate`);
    await b.page.locator('[data-testid=item]').waitFor();
    await b.page.waitForTimeout(2000);
    const shown = Number(await b.page.locator('[data-testid=item]').getAttribute('data-item-id'));
    assert.ok(held.includes(shown), `item ${shown} is one of the held ${held}`);
    assert.match(await b.page.locator('[data-testid=queue-count]').textContent(), /^10 in queue/);
    assert.equal(await leased(), 10);
    await b.close();
    b = null;

    // Leaving the task gives the items back.
    await a.page.click('[data-nav="My tasks"]');
    for (let i = 0; i < 40 && (await leased()) !== 0; i++) await a.page.waitForTimeout(250);
    assert.equal(await leased(), 0);
  } finally {
    if (b) await b.close();
    await a.close();
    server.stop();
  }
});
