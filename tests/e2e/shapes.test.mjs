//! Drawing with the mouse gives the right image coordinates, checked in the outbox the app keeps
//! in IndexedDB. The app runs offline from its stored task and queue (as after a reload without
//! network), so no server is needed; the round trip to a real server is scenario 5.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, shot, startStaticServer, toScreen } from './helpers.mjs';

/** Stores a task and one leased image item the way the app does, then opens the task. */
async function openStoredTask(page, url, id, annotationType) {
  await page.goto(`${url}/`);
  await page.waitForSelector('#token');
  await page.evaluate(async ({ id, annotationType }) => {
    localStorage.setItem('quorum.token', 'offline-test');
    localStorage.setItem('quorum.user', '1');
    const db = await new Promise((ok, err) => {
      const r = indexedDB.open('quorum', 1);
      r.onupgradeneeded = () => r.result.createObjectStore('kv');
      r.onsuccess = () => ok(r.result);
      r.onerror = () => err(r.error);
    });
    const task = { id, name: `Draw ${annotationType}`, status: 'open', my_progress: null,
      schema: { annotation_type: annotationType, concepts: ['rocket', 'cloud'] } };
    const queue = [{ lease_id: 1, expires_at: Date.now() + 600000,
      item: { item_id: 100 + id, data: '/demo/rocket.jpg', metadata: null, rework: null } }];
    await new Promise((ok, err) => {
      const tx = db.transaction('kv', 'readwrite');
      tx.objectStore('kv').put(JSON.stringify(task), `task:${id}`);
      tx.objectStore('kv').put(JSON.stringify(queue), `queue:1:${id}`); // user 1's queue
      tx.oncomplete = ok;
      tx.onerror = () => err(tx.error);
    });
    db.close();
  }, { id, annotationType });
  await page.goto(`${url}/tasks/${id}/annotate`);
  await page.locator('[data-testid=canvas]').waitFor();
  await page.waitForFunction(() => document.querySelector('.editor img')?.naturalWidth > 0);
  await page.waitForTimeout(200);
}


async function outbox(page) {
  return page.evaluate(async () => {
    const db = await new Promise((ok) => { const r = indexedDB.open('quorum', 1); r.onsuccess = () => ok(r.result); });
    const v = await new Promise((ok) => { const g = db.transaction('kv').objectStore('kv').get('outbox'); g.onsuccess = () => ok(g.result); });
    db.close();
    return JSON.parse(v);
  });
}

const close = (a, b, tol) => Math.abs(a - b) <= tol;

test('a box drawn, moved and resized with the mouse is queued with image coordinates', async () => {
  const server = await startStaticServer();
  const browser = await launch();
  try {
    const { page } = browser;
    await openStoredTask(page, server.url, 7, 'bounding_box');
    const tol = await page.evaluate(() => {
      const img = document.querySelector('.editor img');
      return (img.naturalWidth / img.getBoundingClientRect().width) * 1.5;
    });
    // Draw a throwaway box, delete it, draw another and undo it: only the third stays.
    const m = page.mouse;
    const drag = async (a, b) => {
      const p = await toScreen(page, ...a); const q = await toScreen(page, ...b);
      await m.move(...p); await m.down(); await m.move(...q, { steps: 5 }); await m.up();
    };
    await drag([10, 10], [40, 40]);
    await page.keyboard.press('Delete');
    await drag([20, 20], [50, 50]);
    await page.keyboard.press('z');
    await page.keyboard.press('2'); // draw with the second concept
    await drag([30, 40], [130, 100]);
    // Move it by (+20, +10) and resize its corner to (170, 140).
    await drag([80, 70], [100, 80]);
    const handle = await page.locator('[data-role=handle][data-h="8"]').boundingBox();
    await m.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
    await m.down();
    await m.move(...(await toScreen(page, 170, 140)), { steps: 5 });
    await m.up();
    await shot(page, 'boxes');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=pending]').filter({ hasText: /^1 waiting/ }).waitFor();
    const ops = (await outbox(page)).pending.map((p) => p.op.action);
    assert.equal(ops.length, 1);
    assert.equal(ops[0].type, 'submit');
    assert.equal(ops[0].value.type, 'bounding_box');
    const boxes = ops[0].value.boxes;
    assert.equal(boxes.length, 1);
    const b = boxes[0];
    assert.equal(b.concept, 'cloud');
    assert.ok(close(b.x, 50, tol) && close(b.y, 50, tol), JSON.stringify(b));
    assert.ok(close(b.w, 120, 2 * tol) && close(b.h, 90, 2 * tol), JSON.stringify(b));
  } finally {
    await browser.close();
    server.stop();
  }
});

test('a polygon clicked point by point, closed and edited is queued with image coordinates', async () => {
  const server = await startStaticServer();
  const browser = await launch();
  try {
    const { page } = browser;
    await openStoredTask(page, server.url, 8, 'polygon');
    const tol = await page.evaluate(() => {
      const img = document.querySelector('.editor img');
      return (img.naturalWidth / img.getBoundingClientRect().width) * 1.5;
    });
    for (const [x, y] of [[20, 20], [120, 30], [100, 110], [30, 90]]) {
      await page.mouse.click(...(await toScreen(page, x, y)));
    }
    await page.mouse.click(...(await toScreen(page, 20, 20))); // the first point closes it
    // Drag the third vertex to (140, 130).
    const v = await page.locator('[data-role=vertex][data-vertex="2"]').boundingBox();
    await page.mouse.move(v.x + v.width / 2, v.y + v.height / 2);
    await page.mouse.down();
    await page.mouse.move(...(await toScreen(page, 140, 130)), { steps: 5 });
    await page.mouse.up();
    await shot(page, 'polygon');
    await page.click('[data-testid=submit]');
    await page.locator('[data-testid=pending]').filter({ hasText: /^1 waiting/ }).waitFor();
    const [op] = (await outbox(page)).pending.map((p) => p.op.action);
    assert.equal(op.value.type, 'polygon');
    assert.equal(op.value.polygons.length, 1);
    const pts = op.value.polygons[0].points;
    const want = [[20, 20], [120, 30], [140, 130], [30, 90]];
    assert.equal(pts.length, 4, JSON.stringify(pts));
    pts.forEach(([x, y], i) => assert.ok(close(x, want[i][0], tol) && close(y, want[i][1], tol), JSON.stringify(pts)));
  } finally {
    await browser.close();
    server.stop();
  }
});

test('zoomed and panned, a box keeps exact image coordinates and shows its class', async () => {
  const server = await startStaticServer();
  const browser = await launch();
  try {
    const { page } = browser;
    await openStoredTask(page, server.url, 11, 'bounding_box');
    // Zoom in twice around the centre, then pan with Space held.
    await page.keyboard.press('+');
    await page.keyboard.press('+');
    await page.waitForFunction(() => /scale\(1\.5625\)/.test(document.querySelector('.editor').getAttribute('style')));
    const vp = await page.locator('[data-testid=viewport]').boundingBox();
    await page.keyboard.down('Space');
    await page.mouse.move(vp.x + vp.width / 2, vp.y + vp.height / 2);
    await page.mouse.down();
    await page.mouse.move(vp.x + vp.width / 2 - 30, vp.y + vp.height / 2 - 20, { steps: 4 });
    await page.mouse.up();
    await page.keyboard.up('Space');
    // The image point now at the viewport's centre, and the tolerance of one screen pixel.
    const [cx, cy, tol] = await page.evaluate(([sx, sy]) => {
      const img = document.querySelector('.editor img');
      const r = document.querySelector('[data-testid=canvas]').getBoundingClientRect();
      const k = img.naturalWidth / r.width;
      return [(sx - r.left) * k, (sy - r.top) * ((img.naturalHeight) / r.height), k * 1.5];
    }, [vp.x + vp.width / 2, vp.y + vp.height / 2]);
    const shown = await page.locator('[data-testid=canvas]').boundingBox();
    assert.ok(shown.width > vp.width * 1.5, `zoomed in: the image is wider than its viewport (${shown.width} > ${vp.width})`);
    await page.keyboard.press('2');
    const a = [cx - 20, cy - 15];
    const b = [cx + 20, cy + 15];
    await page.mouse.move(...(await toScreen(page, ...a)));
    await page.mouse.down();
    await page.mouse.move(...(await toScreen(page, ...b)), { steps: 5 });
    await page.mouse.up();
    // Drawn with the class picked (key 2), shown with its name in its class's colour.
    assert.equal(await page.locator('[data-role=name]').textContent(), 'cloud');
    await shot(page, 'zoomed-box');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=pending]').filter({ hasText: /^1 waiting/ }).waitFor();
    const [op] = (await outbox(page)).pending.map((p) => p.op.action);
    const box = op.value.boxes[0];
    assert.equal(box.concept, 'cloud');
    assert.ok(close(box.x, a[0], tol) && close(box.y, a[1], tol), JSON.stringify({ box, a, tol }));
    assert.ok(close(box.w, 40, 2 * tol) && close(box.h, 30, 2 * tol), JSON.stringify({ box, tol }));
  } finally {
    await browser.close();
    server.stop();
  }
});
