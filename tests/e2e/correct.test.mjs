//! The reviewer against a real `quorum serve --demo` (issue 11): My tasks says how many items wait
//! for review; E corrects a box in place with the labeling screen's editor and the server's
//! result is the corrected box; 1 takes annotator 1's answer as the result with one key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer, toScreen, waitSynced } from './helpers.mjs';

const MANAGER = 'demo-manager';
const A1 = 'demo-annotator-1';
const REVIEWER = 'demo-reviewer';
const BOX = { concept: 'object', x: 10, y: 10, w: 50, h: 40 };

/** A box task over two photos, one annotator, every item reviewed; both labeled by the API. */
async function labeledBoxTask(url) {
  const me = await api(url, MANAGER, 'GET', '/me');
  const project = me.projects[0].id;
  const { members } = await api(url, MANAGER, 'GET', `/projects/${project}/members`);
  const id = (name) => members.find((m) => m.name === name).user_id;
  const { items } = await api(url, MANAGER, 'GET', `/projects/${project}/items?directory=/photos&limit=2`);
  const photos = items.map((i) => i.id);
  assert.equal(photos.length, 2, 'the demo has photos');
  const task = await api(url, MANAGER, 'POST', `/projects/${project}/tasks`, {
    name: 'Boxes to correct',
    kind: 'labeling',
    schema: { annotation_type: 'bounding_box', concepts: ['object', 'animal', 'vehicle'] },
    input: { type: 'item_ids', item_ids: photos },
    worker_strategy: { type: 'pull', batch_size: 10, workers_per_input: 1 },
    review_strategy: { type: 'manual', sample_percentage: 100 },
    assignees: [id(A1)],
    reviewers: [id(REVIEWER)],
    seed: 11,
  });
  const batch = await api(url, A1, 'POST', `/tasks/${task.id}/batches`, {});
  const ops = batch.items.map((it, n) => ({
    client_op_id: `correct-${n}`,
    action: { type: 'submit', task_id: task.id, item_id: it.item_id, lease_id: batch.lease_id,
      value: { type: 'bounding_box', boxes: [BOX] } },
  }));
  const { results } = await api(url, A1, 'POST', '/sync', { ops });
  assert.ok(results.every((r) => r.status === 'applied'), JSON.stringify(results));
  return task;
}

async function resultOf(url, taskId, itemId) {
  const { results } = await api(url, MANAGER, 'GET', `/tasks/${taskId}/results`);
  return results.find((r) => r.item_id === itemId);
}



test('the reviewer corrects a box in place and takes an answer with one key', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const url = server.url;
  const browser = await launch();
  try {
    const { page } = browser;
    const task = await labeledBoxTask(url);
    await signIn(page, url, REVIEWER);
    // My tasks: the two items waiting for this reviewer.
    const row = page.locator('[data-testid=task-row]').filter({ hasText: 'Boxes to correct' });
    await row.locator('[data-testid=to-review]').filter({ hasText: '2 to review' }).waitFor();

    await page.goto(`${url}/tasks/${task.id}/review`);
    const item = page.locator('[data-testid=review-item]');
    await item.waitFor();
    const first = Number(await item.getAttribute('data-item-id'));
    // E: the answer in the editor, its box selected from the side list, re-classed, resized
    // by its bottom-right handle and nudged by a pixel.
    await page.keyboard.press('e');
    await page.locator('[data-testid=correcting] [data-testid=canvas]').waitFor();
    await page.waitForFunction(() => document.querySelector('.editor img')?.naturalWidth > 0);
    await page.waitForTimeout(200);
    await page.locator('[data-testid=object]').first().click();
    await page.locator('[data-testid=object-class]').first().selectOption('vehicle');
    const se = await page.locator('[data-role=handle][data-h="8"]').boundingBox();
    await page.mouse.move(se.x + se.width / 2, se.y + se.height / 2);
    await page.mouse.down();
    await page.mouse.move(...(await toScreen(page, 90, 80)), { steps: 5 });
    await page.mouse.up();
    await page.keyboard.press('ArrowRight');
    const [x, y, w, h] = await page.evaluate(() => ['x', 'y', 'width', 'height']
      .map((a) => Number(document.querySelector('[data-role=box]').getAttribute(a))));
    assert.deepEqual([x, y], [11, 10], 'moved one pixel right');
    assert.ok(w > 60 && h > 50, `resized: ${w}×${h}`);
    await shot(page, 'review-correcting');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=review-note]').filter({ hasText: 'corrected' }).waitFor();

    // The next item: key 1 takes annotator 1's answer as it is.
    await page.locator(`[data-testid=review-item]:not([data-item-id="${first}"])`).waitFor();
    const second = Number(await item.getAttribute('data-item-id'));
    await page.keyboard.press('1');
    await page.locator('[data-testid=empty]').waitFor();
    await waitSynced(page);

    const fixed = await resultOf(url, task.id, first);
    assert.equal(fixed.state, 'approved', JSON.stringify(fixed));
    assert.deepEqual(fixed.value, { type: 'bounding_box', boxes: [{ concept: 'vehicle', x, y, w, h }] });
    const taken = await resultOf(url, task.id, second);
    assert.equal(taken.state, 'approved', JSON.stringify(taken));
    assert.deepEqual(taken.value, { type: 'bounding_box', boxes: [BOX] });
  } finally {
    await browser.close();
    server.stop();
  }
});
