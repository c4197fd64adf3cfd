//! Video frames in the browser: a clip uploaded as a file, a task sampling one frame a second,
//! and a box drawn on a frame reaches the server in the video's pixels, on the frame's item.
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
