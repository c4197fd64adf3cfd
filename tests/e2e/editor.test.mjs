//! The shape editor against a real `quorum serve --demo` (issue 11): the side list of the item's
//! objects re-classes, hides and deletes shapes, and the server stores what the list says; a
//! selected box's handles and the arrow keys give exact image pixels while the view is zoomed;
//! a polygon moves whole when dragged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer, toScreen, waitSynced } from './helpers.mjs';

const TOKEN = 'demo-annotator-1';

async function taskOfType(url, type) {
  const { tasks } = await api(url, TOKEN, 'GET', '/me/tasks');
  const task = tasks.find((x) => x.schema?.annotation_type === type);
  assert.ok(task, `the demo seeds a ${type} task`);
  return task;
}

async function openTask(page, url, task) {
  await page.goto(`${url}/tasks/${task.id}/annotate`);
  await page.locator('[data-testid=canvas]').waitFor();
  await page.waitForFunction(() => document.querySelector('.editor img')?.naturalWidth > 0);
  await page.waitForTimeout(200);
  return Number(await page.locator('[data-testid=item]').getAttribute('data-item-id'));
}


async function drag(page, a, b) {
  await page.mouse.move(...(await toScreen(page, ...a)));
  await page.mouse.down();
  await page.mouse.move(...(await toScreen(page, ...b)), { steps: 5 });
  await page.mouse.up();
}

/** The boxes on screen, in image pixels, as the SVG draws them. */
async function drawnBoxes(page) {
  return page.evaluate(() => [...document.querySelectorAll('[data-role=box]')].map((r) =>
    ['x', 'y', 'width', 'height'].map((a) => Number(r.getAttribute(a)))));
}

/** The active answers of `TOKEN` on an item, from the server. */
async function answersOn(url, taskId, itemId) {
  const detail = await api(url, 'demo-manager', 'GET', `/items/${itemId}`);
  return detail.answers.filter((x) => x.task_id === taskId && x.active);
}

async function submitAndSync(page) {
  await page.keyboard.press('Enter');
  await waitSynced(page);
}

/** Runs `body` on the first item of the demo's task of `type`, signed in as the annotator. */
async function onDemoItem(t, type, body) {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page } = browser;
    const task = await taskOfType(server.url, type);
    await signIn(page, server.url, TOKEN);
    const itemId = await openTask(page, server.url, task);
    await body({ page, url: server.url, task, itemId });
  } finally {
    await browser.close();
    server.stop();
  }
}

test('the side list re-classes, hides and deletes shapes, and the server stores the new class', (t) => onDemoItem(t, 'bounding_box', async ({ page, url, task, itemId }) => {
  await drag(page, [20, 20], [80, 70]);
  await drag(page, [100, 30], [150, 90]);
  const rows = page.locator('[data-testid=object]');
  assert.equal(await rows.count(), 2);
  // The first box becomes a vehicle through its row's class list.
  await rows.nth(0).locator('[data-testid=object-class]').selectOption('vehicle');
  await page.locator('[data-shape="0"] [data-role=name]').filter({ hasText: 'vehicle' }).waitFor();
  // Hidden, a shape leaves the picture but stays in the answer; shown again it is back.
  await rows.nth(0).locator('[data-testid=object-hide]').click();
  assert.equal((await drawnBoxes(page)).length, 1);
  await rows.nth(0).locator('[data-testid=object-hide]').click();
  assert.equal((await drawnBoxes(page)).length, 2);
  // The second is deleted from the list.
  await rows.nth(1).locator('[data-testid=object-delete]').click();
  assert.equal(await rows.count(), 1);
  await shot(page, 'editor-side-list');
  // The list's controls gave the keys back: Enter submits (one op, one answer).
  await submitAndSync(page);
  const answers = await answersOn(url, task.id, itemId);
  assert.equal(answers.length, 1, JSON.stringify(answers));
  const boxes = answers[0].value.boxes;
  assert.equal(boxes.length, 1, JSON.stringify(boxes));
  assert.equal(boxes[0].concept, 'vehicle');
}));

test('zoomed in, a handle and the arrow keys resize and move a box by exact image pixels', (t) => onDemoItem(t, 'bounding_box', async ({ page, url, task, itemId }) => {
  const width = () => page.evaluate(() => document.querySelector('[data-testid=canvas]').getBoundingClientRect().width);
  const before = await width();
  await page.keyboard.press('+');
  await page.keyboard.press('+');
  await page.waitForFunction((w) => document.querySelector('[data-testid=canvas]').getBoundingClientRect().width > w * 1.5, before);
  // Zoomed around the centre, so everything happens near the image's centre (in view).
  const [cx, cy, tol] = await page.evaluate(() => {
    const img = document.querySelector('.editor img');
    const k = img.naturalWidth / document.querySelector('[data-testid=canvas]').getBoundingClientRect().width;
    return [Math.round(img.naturalWidth / 2), Math.round(img.naturalHeight / 2), k * 1.5];
  });
  await drag(page, [cx - 30, cy - 25], [cx + 20, cy + 15]);
  const [[x, y, w, h]] = await drawnBoxes(page);
  // The top-left handle of the selected box: the bottom-right corner stays where it was.
  const nw = page.locator('[data-role=handle][data-h="0"]');
  assert.equal(await page.locator('[data-role=handle]').count(), 8, 'a selected box has 8 handles');
  const hb = await nw.boundingBox();
  await page.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
  await page.mouse.down();
  await page.mouse.move(...(await toScreen(page, cx - 40, cy - 35)), { steps: 5 });
  await page.mouse.up();
  const [[x2, y2, w2, h2]] = await drawnBoxes(page);
  assert.ok(Math.abs(x2 - (cx - 40)) <= tol && Math.abs(y2 - (cy - 35)) <= tol, `${x2},${y2}`);
  assert.ok(Math.abs(x2 + w2 - (x + w)) < 0.05 && Math.abs(y2 + h2 - (y + h)) < 0.05, 'the opposite corner stays');
  // Arrows nudge by whole pixels: Shift+→ is 10 px, ↓ is 1 px.
  await page.keyboard.press('Shift+ArrowRight');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  const [[x3, y3, w3, h3]] = await drawnBoxes(page);
  assert.deepEqual([x3, y3, w3, h3].map((v) => Math.round(v * 10)), [x2 + 10, y2 + 2, w2, h2].map((v) => Math.round(v * 10)));
  await shot(page, 'editor-resize-nudge-zoomed');
  await submitAndSync(page);
  const [answer] = await answersOn(url, task.id, itemId);
  const b = answer.value.boxes[0];
  assert.deepEqual([b.x, b.y, b.w, b.h], [x3, y3, w3, h3], 'the server holds the pixels on screen');
}));

test('a polygon dragged by its inside moves whole', (t) => onDemoItem(t, 'polygon', async ({ page, url, task, itemId }) => {
  const tol = await page.evaluate(() => {
    const img = document.querySelector('.editor img');
    return (img.naturalWidth / img.getBoundingClientRect().width) * 1.5;
  });
  for (const p of [[20, 20], [120, 30], [100, 110]]) await page.mouse.click(...(await toScreen(page, ...p)));
  await page.keyboard.press('Enter');
  const points = () => page.evaluate(() => document.querySelector('[data-role=poly]').getAttribute('points')
    .split(' ').map((p) => p.split(',').map(Number)));
  const was = await points();
  await drag(page, [80, 50], [110, 70]);
  const now = await points();
  const [dx, dy] = [now[0][0] - was[0][0], now[0][1] - was[0][1]];
  assert.ok(Math.abs(dx - 30) <= tol && Math.abs(dy - 20) <= tol, `moved by ${dx},${dy}`);
  now.forEach((p, i) => assert.ok(Math.abs(p[0] - was[i][0] - dx) < 0.05 && Math.abs(p[1] - was[i][1] - dy) < 0.05, 'every point moves alike'));
  await submitAndSync(page);
  const [answer] = await answersOn(url, task.id, itemId);
  assert.deepEqual(answer.value.polygons[0].points, now);
}));
