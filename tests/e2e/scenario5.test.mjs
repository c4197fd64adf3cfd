//! Scenario 5 against a real `quorum serve --demo`: a box and a polygon drawn with the mouse
//! arrive at the server with the right image coordinates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer, toScreen } from './helpers.mjs';

const TOKEN = 'demo-annotator-1';

/** Every label value of `type` found anywhere in a JSON document. */
function values(doc, type, out = []) {
  if (Array.isArray(doc)) doc.forEach((d) => values(d, type, out));
  else if (doc && typeof doc === 'object') {
    if (doc.type === type) out.push(doc);
    Object.values(doc).forEach((d) => values(d, type, out));
  }
  return out;
}


test('scenario 5: a box and a polygon drawn with the mouse reach the server', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page } = browser;
    const body = await api(server.url, TOKEN, 'GET', '/me/tasks');
    const tasks = Array.isArray(body) ? body : body.tasks;
    const boxTask = tasks.find((x) => x.schema?.annotation_type === 'bounding_box');
    const polyTask = tasks.find((x) => x.schema?.annotation_type === 'polygon');
    assert.ok(boxTask && polyTask, 'the demo seeds a box task and a polygon task');
    await signIn(page, server.url, TOKEN);

    for (const [task, type] of [[boxTask, 'bounding_box'], [polyTask, 'polygon']]) {
      await page.goto(`${server.url}/tasks/${task.id}/annotate`);
      await page.locator('[data-testid=canvas]').waitFor();
      await page.waitForFunction(() => document.querySelector('.editor img')?.naturalWidth > 0);
      const itemId = Number(await page.locator('[data-testid=item]').getAttribute('data-item-id'));
      const tol = await page.evaluate(() => {
        const img = document.querySelector('.editor img');
        return (img.naturalWidth / img.getBoundingClientRect().width) * 1.5;
      });
      let want;
      if (type === 'bounding_box') {
        await page.mouse.move(...(await toScreen(page, 30, 40)));
        await page.mouse.down();
        await page.mouse.move(...(await toScreen(page, 130, 100)), { steps: 5 });
        await page.mouse.up();
        want = [30, 40, 100, 60];
      } else {
        want = [[20, 20], [120, 30], [100, 110]];
        for (const p of want) await page.mouse.click(...(await toScreen(page, ...p)));
        await page.keyboard.press('Enter');
      }
      await shot(page, `scenario5-${type}`);
      await page.keyboard.press('Enter');
      await page.locator('[data-testid=pending]').filter({ hasText: /^0 waiting/ }).waitFor({ timeout: 30_000 });
      await page.locator('[data-testid=sync-note]').filter({ hasText: 'synced' }).waitFor();
      const item = await api(server.url, 'demo-manager', 'GET', `/items/${itemId}`);
      const [value] = values(item, type);
      assert.ok(value, `item ${itemId} holds a ${type} answer: ${JSON.stringify(item)}`);
      if (type === 'bounding_box') {
        const b = value.boxes[0];
        [b.x, b.y, b.w, b.h].forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 2 * tol, JSON.stringify(b)));
      } else {
        const pts = value.polygons[0].points;
        assert.equal(pts.length, 3);
        pts.forEach(([x, y], i) => assert.ok(Math.abs(x - want[i][0]) <= tol && Math.abs(y - want[i][1]) <= tol, JSON.stringify(pts)));
      }
    }
  } finally {
    await browser.close();
    server.stop();
  }
});
