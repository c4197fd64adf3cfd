//! Video frames in the browser: a clip uploaded as a file, a task sampling one frame a second,
//! and a box drawn on a frame reaches the server in the video's pixels, on the frame's item.
//! Tracks: boxes on key frames carry a track id, a frame between two key frames of the same
//! track opens with the interpolated box, and C copies the previous frame's boxes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, launch, ROOT, shot, signIn, startServer } from './helpers.mjs';

const ADMIN = 'demo-admin';

/** Uploads files into a dataset as multipart; returns the upload summary. */
async function uploadFiles(url, dataset, files) {
  const form = new FormData();
  for (const [name, bytes] of files) form.append('file', new Blob([bytes]), name);
  const res = await fetch(`${url}/api/v1/datasets/${dataset}/media`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: form,
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

/** Screen position of a video pixel. */
async function toScreen(page, x, y) {
  return page.evaluate(([x, y]) => {
    const v = document.querySelector('.editor video');
    const r = document.querySelector('[data-testid=canvas]').getBoundingClientRect();
    return [r.left + (x * r.width) / v.videoWidth, r.top + (y * r.height) / v.videoHeight];
  }, [x, y]);
}

/** A project with the fixture clip, an annotator and a box task sampling it every `sampleMs`. */
async function clipTask(url, sampleMs, batchSize) {
  const project = await api(url, ADMIN, 'POST', '/projects', { name: 'Video' });
  const dataset = await api(url, ADMIN, 'POST', `/projects/${project.id}/datasets`, { name: 'clips' });
  const clip = readFileSync(join(ROOT, 'crates/core/tests/fixtures/chelsea-pan.webm'));
  const up = await uploadFiles(url, dataset.id, [['pan.webm', clip]]);
  assert.equal(up.inserted, 1);
  const user = await api(url, ADMIN, 'POST', '/users', { name: `frame-labeler-${sampleMs}` });
  await api(url, ADMIN, 'PUT', `/projects/${project.id}/members/${user.user.id}`, { roles: ['annotator'] });
  const task = await api(url, ADMIN, 'POST', `/projects/${project.id}/tasks`, {
    name: 'Cat in the clip', sample_ms: sampleMs,
    schema: { annotation_type: 'bounding_box', concepts: ['cat'] },
    input: { type: 'dataset', dataset_id: dataset.id },
    worker_strategy: { type: 'pull', batch_size: batchSize, workers_per_input: 1 },
    assignees: [user.user.id],
  });
  return { task, token: user.token };
}

/** Waits for a frame other than `previous` to be on screen and painted; returns its item id
 *  and its time in the video (from the server). */
async function nextFrame(page, url, previous) {
  await page.waitForFunction((prev) => {
    const el = document.querySelector('[data-testid=item]');
    const v = document.querySelector('.editor video');
    return el && el.getAttribute('data-item-id') !== String(prev) && v && v.readyState >= 2 && v.videoWidth === 320;
  }, previous, { timeout: 30_000 });
  // The editor learns the picture's size from the same event: let its handler run.
  await page.waitForTimeout(100);
  const id = Number(await page.locator('[data-testid=item]').getAttribute('data-item-id'));
  const frame = await api(url, ADMIN, 'GET', `/items/${id}`);
  return { id, time: frame.data.time_ms };
}

async function drawBox(page, [x0, y0], [x1, y1]) {
  await page.mouse.move(...(await toScreen(page, x0, y0)));
  await page.mouse.down();
  await page.mouse.move(...(await toScreen(page, x1, y1)), { steps: 5 });
  await page.mouse.up();
}

/** The boxes on screen, in video pixels, as the SVG draws them. */
async function drawnBoxes(page) {
  return page.evaluate(() => [...document.querySelectorAll('[data-role=box]')].map((r) =>
    ['x', 'y', 'width', 'height'].map((a) => Number(r.getAttribute(a)))));
}

async function tracksListed(page) {
  return page.locator('[data-testid=object-track]').evaluateAll((els) => els.map((e) => e.value));
}

/** The one box of the active answer on an item. */
async function answeredBox(url, taskId, itemId) {
  const detail = await api(url, ADMIN, 'GET', `/items/${itemId}`);
  const mine = detail.answers.filter((a) => a.task_id === taskId && a.active);
  assert.equal(mine.length, 1, JSON.stringify(detail.answers));
  assert.equal(mine[0].value.boxes.length, 1, JSON.stringify(mine[0].value));
  return { box: mine[0].value.boxes[0], time: detail.data.time_ms };
}

test('key frames first: the frame between two key frames opens with the interpolated box, C copies the previous frame', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page } = browser;
    const { task, token } = await clipTask(server.url, 1000, 4);
    await signIn(page, server.url, token);
    await page.goto(`${server.url}/tasks/${task.id}/annotate`);

    // Frames come in time order; a new box on a video frame starts a track.
    const f0 = await nextFrame(page, server.url, null);
    assert.equal(f0.time, 0);
    assert.match(await page.locator('[data-testid=frame-at]').innerText(), /video \d+ · 0 s/);
    await drawBox(page, [40, 30], [200, 150]);
    assert.deepEqual(await tracksListed(page), ['1']);
    await page.keyboard.press('Enter');

    // The next frame is put off (L): the key frame after it comes first.
    const f1 = await nextFrame(page, server.url, f0.id);
    assert.equal(f1.time, 1000);
    await page.keyboard.press('l');
    const f2 = await nextFrame(page, server.url, f1.id);
    assert.equal(f2.time, 2000);
    // No key frame on both sides yet: nothing is pre-filled.
    assert.equal((await drawnBoxes(page)).length, 0);
    await drawBox(page, [100, 40], [240, 170]);
    assert.deepEqual(await tracksListed(page), ['2'], 'a new box gets the next free track');
    // The same cat: the side list puts the box on track 1.
    await page.locator('[data-testid=object-track]').fill('1');
    // Enter in the field sets it and gives the keys back to the shortcuts (it submits nothing).
    await page.locator('[data-testid=object-track]').press('Enter');
    assert.deepEqual(await tracksListed(page), ['1']);
    // Enter in the field with its value unchanged lets go as well: the next key is the page's.
    await page.locator('[data-testid=object-track]').click();
    await page.locator('[data-testid=object-track]').press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset?.testid ?? null), null);
    await shot(page, 'video-key-frame-2');
    await page.keyboard.press('Enter');

    // Frame 3 has only earlier frames: C copies frame 2's boxes, track included.
    const f3 = await nextFrame(page, server.url, f2.id);
    assert.equal(f3.time, 3000);
    assert.equal((await drawnBoxes(page)).length, 0);
    await page.keyboard.press('c');
    assert.deepEqual(await tracksListed(page), ['1']);
    await page.keyboard.press('Enter');

    // Back to the frame put off: between key frames 0 and 2, its box is interpolated.
    const back = await nextFrame(page, server.url, f3.id);
    assert.equal(back.id, f1.id);
    assert.deepEqual(await tracksListed(page), ['1']);
    assert.equal((await drawnBoxes(page)).length, 1);
    await shot(page, 'video-interpolated-frame-1');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=pending]').filter({ hasText: /^0 waiting/ }).waitFor({ timeout: 30_000 });
    await page.locator('[data-testid=sync-note]').filter({ hasText: 'synced' }).waitFor();

    const [a0, a1, a2, a3] = await Promise.all([f0, f1, f2, f3].map((f) => answeredBox(server.url, task.id, f.id)));
    assert.deepEqual([a0.time, a1.time, a2.time, a3.time], [0, 1000, 2000, 3000]);
    for (const a of [a0, a1, a2, a3]) assert.equal(a.box.track, 1, JSON.stringify(a.box));
    assert.notEqual(a0.box.x, a2.box.x, 'the key frames differ');
    for (const k of ['x', 'y', 'w', 'h']) {
      const mid = a0.box[k] + (a2.box[k] - a0.box[k]) / 2;
      assert.ok(Math.abs(a1.box[k] - mid) < 1e-6, `${k}: ${a1.box[k]} is not ${mid}`);
      assert.equal(a3.box[k], a2.box[k], `frame 3 copies frame 2 (${k})`);
    }
  } finally {
    await browser.close();
    server.stop();
  }
});

test('the demo has a video task whose frames the annotator labels', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page } = browser;
    const TOKEN = 'demo-annotator-1';
    const { tasks } = await api(server.url, TOKEN, 'GET', '/me/tasks');
    const video = tasks.find((x) => /video/i.test(x.name));
    assert.ok(video, tasks.map((x) => x.name).join(', '));
    assert.equal(video.schema.annotation_type, 'bounding_box');
    // The demo's other box task is still the first one of its type.
    assert.match(tasks.find((x) => x.schema.annotation_type === 'bounding_box').name, /boxes/);
    const full = await api(server.url, 'demo-manager', 'GET', `/tasks/${video.id}`);
    assert.equal(full.counts.items, 8, 'a 4 s clip every 500 ms');
    await signIn(page, server.url, TOKEN);
    await page.goto(`${server.url}/tasks/${video.id}/annotate`);
    const f0 = await nextFrame(page, server.url, null);
    assert.equal(f0.time, 0);
  } finally {
    await browser.close();
    server.stop();
  }
});

test('a box drawn on a sampled video frame reaches the server in video pixels', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page } = browser;
    const project = await api(server.url, ADMIN, 'POST', '/projects', { name: 'Video' });
    const dataset = await api(server.url, ADMIN, 'POST', `/projects/${project.id}/datasets`, { name: 'clips' });
    const clip = readFileSync(join(ROOT, 'crates/core/tests/fixtures/chelsea-pan.webm'));
    const up = await uploadFiles(server.url, dataset.id, [['pan.webm', clip]]);
    assert.equal(up.inserted, 1);
    const user = await api(server.url, ADMIN, 'POST', '/users', { name: 'frame-labeler' });
    await api(server.url, ADMIN, 'PUT', `/projects/${project.id}/members/${user.user.id}`, { roles: ['annotator'] });
    const task = await api(server.url, ADMIN, 'POST', `/projects/${project.id}/tasks`, {
      name: 'Cat in the clip', sample_ms: 1000,
      schema: { annotation_type: 'bounding_box', concepts: ['cat'] },
      input: { type: 'dataset', dataset_id: dataset.id },
      worker_strategy: { type: 'pull', batch_size: 4, workers_per_input: 1 },
      assignees: [user.user.id],
    });

    await signIn(page, server.url, user.token);
    await page.goto(`${server.url}/tasks/${task.id}/annotate`);
    await page.locator('[data-testid=canvas]').waitFor();
    // The frame shows once the video can paint it, paused at the frame's time.
    await page.waitForFunction(() => {
      const v = document.querySelector('.editor video');
      return v && v.readyState >= 2 && v.videoWidth === 320;
    }, null, { timeout: 30_000 });
    const itemId = Number(await page.locator('[data-testid=item]').getAttribute('data-item-id'));
    const frame = await api(server.url, ADMIN, 'GET', `/items/${itemId}`);
    const timeMs = frame.data.time_ms;
    assert.ok([0, 1000, 2000, 3000].includes(timeMs), JSON.stringify(frame.data));
    const shown = await page.evaluate(() => document.querySelector('.editor video').currentTime);
    assert.ok(Math.abs(shown - timeMs / 1000) < 0.05, `video at ${shown}s for the ${timeMs} ms frame`);

    const tol = await page.evaluate(() => {
      const v = document.querySelector('.editor video');
      return (v.videoWidth / v.getBoundingClientRect().width) * 1.5;
    });
    await page.mouse.move(...(await toScreen(page, 40, 30)));
    await page.mouse.down();
    await page.mouse.move(...(await toScreen(page, 200, 150)), { steps: 5 });
    await page.mouse.up();
    await shot(page, 'video-frame-box');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=pending]').filter({ hasText: /^0 waiting/ }).waitFor({ timeout: 30_000 });
    await page.locator('[data-testid=sync-note]').filter({ hasText: 'synced' }).waitFor();

    const after = await api(server.url, ADMIN, 'GET', `/items/${itemId}`);
    const text = JSON.stringify(after);
    const box = JSON.parse(text.match(/"boxes":\[(\{[^\]]*?\})\]/)[1]);
    [box.x, box.y, box.w, box.h].forEach((v, i) =>
      assert.ok(Math.abs(v - [40, 30, 160, 120][i]) <= 2 * tol, `box ${JSON.stringify(box)}`));
    assert.equal(after.data.time_ms, timeMs);
  } finally {
    await browser.close();
    server.stop();
  }
});
