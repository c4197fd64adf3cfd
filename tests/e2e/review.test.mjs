//! Scenario 3 against a real `quorum serve --demo`: two annotators label the same items, the
//! reviewer filters to disagreements, rejects one item with a comment from the keyboard, the
//! annotator gets it back with the comment in the annotate screen and relabels it, and the
//! reviewer approves it. Every step is checked in the server's own state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer } from './helpers.mjs';

const MANAGER = 'demo-manager';
const A1 = 'demo-annotator-1';
const A2 = 'demo-annotator-2';
const REVIEWER = 'demo-reviewer';
const COMMENT = 'Read it again: the customer is unhappy.';

/** A task over six text items, two annotators per item, every result reviewed. */
async function createTask(url) {
  const me = await api(url, MANAGER, 'GET', '/me');
  const project = me.projects[0].id;
  const { members } = await api(url, MANAGER, 'GET', `/projects/${project}/members`);
  const id = (name) => members.find((m) => m.name === name).user_id;
  const { items } = await api(url, MANAGER, 'GET', `/projects/${project}/items?limit=6`);
  const task = await api(url, MANAGER, 'POST', `/projects/${project}/tasks`, {
    name: 'Scenario 3: sentiment, reviewed',
    kind: 'labeling',
    schema: { annotation_type: 'classification', concepts: ['positive', 'neutral', 'negative'] },
    input: { type: 'item_ids', item_ids: items.map((i) => i.id) },
    worker_strategy: { type: 'pull', batch_size: 10, workers_per_input: 2 },
    review_strategy: { type: 'manual', sample_percentage: 100 },
    assignees: [id(A1), id(A2)],
    reviewers: [id(REVIEWER)],
    seed: 3,
  });
  return { task, items: items.map((i) => i.id) };
}

/** Labels, through the API, every item `token` gets in its next batch with `pick(itemId)`. */
async function labelByApi(url, token, taskId, pick, prefix) {
  const batch = await api(url, token, 'POST', `/tasks/${taskId}/batches`, {});
  const ops = batch.items.map((it, n) => ({
    client_op_id: `${prefix}-${n}`,
    action: {
      type: 'submit', task_id: taskId, item_id: it.item_id, lease_id: batch.lease_id,
      value: { type: 'classification', concept: pick(it.item_id) },
    },
  }));
  const { results } = await api(url, token, 'POST', '/sync', { ops });
  assert.ok(results.every((r) => r.status === 'applied'), JSON.stringify(results));
  return batch.items;
}

async function stateOf(url, taskId, itemId) {
  const { results } = await api(url, MANAGER, 'GET', `/tasks/${taskId}/results`);
  return results.find((r) => r.item_id === itemId);
}

async function waitFor(check, what, timeout = 30_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function waitSynced(page) {
  await page.locator('[data-testid=pending]').filter({ hasText: /^0 waiting/ }).waitFor({ timeout: 30_000 });
}

test('scenario 3: reject with a comment, rework by the annotator, approve', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const url = server.url;
  const annotator = await launch();
  const reviewer = await launch();
  try {
    const { task, items } = await createTask(url);

    // Annotator 1 labels all six "positive" with the keyboard.
    const a = annotator.page;
    await signIn(a, url, A1);
    await a.goto(`${url}/tasks/${task.id}/annotate`);
    for (let n = 0; n < items.length; n++) {
      const item = a.locator('[data-testid=item]');
      await item.waitFor();
      const before = await item.getAttribute('data-item-id');
      await a.keyboard.press('1');
      await a.waitForFunction((b) => document.querySelector('[data-testid=item]')?.getAttribute('data-item-id') !== b, before);
    }
    await waitSynced(a);

    // Annotator 2 agrees on the first three items and disagrees on the last three.
    const disagreeing = items.slice(3);
    await labelByApi(url, A2, task.id, (id) => (disagreeing.includes(id) ? 'negative' : 'positive'), 'a2-first');
    for (const id of items) assert.equal((await stateOf(url, task.id, id)).state, 'needs_review');

    // The reviewer sees every item, then only the disagreements, each with both labels.
    const r = reviewer.page;
    await signIn(r, url, REVIEWER);
    await r.goto(`${url}/tasks/${task.id}/review`);
    await r.locator('[data-testid=review-count]').filter({ hasText: /of 6 to review/ }).waitFor();
    // The filter by mouse this time: the keys below must still reach the shortcuts.
    await r.click('[data-testid=disagreements]');
    await r.locator('[data-testid=review-count]').filter({ hasText: /of 3 to review/ }).waitFor();
    const shown = Number(await r.locator('[data-testid=review-item]').getAttribute('data-item-id'));
    assert.ok(disagreeing.includes(shown), `item ${shown} is one of the disagreements`);
    const values = await r.locator('[data-testid=answer-value]').allTextContents();
    assert.deepEqual(values.sort(), ['negative', 'positive']);
    await r.locator('[data-testid=agreement]').filter({ hasText: 'agreement 50%' }).waitFor();
    // A 1–1 split is no consensus, never a label at 50 %.
    assert.equal(await r.locator('[data-testid=consensus]').textContent(), 'no consensus');
    await shot(r, 'review');

    // J moves to the next disagreement (the checkbox clicked above keeps no keys); the rejected
    // item is the one shown after it.
    await r.keyboard.press('j');
    const target = Number(await r.locator('[data-testid=review-item]').getAttribute('data-item-id'));
    assert.notEqual(target, shown);
    // R without a comment opens the comment box instead of rejecting.
    await r.keyboard.press('r');
    await r.locator('[data-testid=review-note]').filter({ hasText: 'comment' }).waitFor();
    assert.equal(await r.evaluate(() => document.activeElement?.dataset.testid), 'comment');
    await r.keyboard.type(COMMENT);
    await r.keyboard.press('Control+Enter');
    await r.locator('[data-testid=review-count]').filter({ hasText: /of 2 to review/ }).waitFor();
    await waitSynced(r);
    assert.equal((await stateOf(url, task.id, target)).state, 'rejected');

    // Annotator 1 gets the item back, with the comment, and relabels it "negative" (key 3).
    await a.goto(`${url}/tasks/${task.id}/annotate`);
    await a.locator(`[data-testid=item][data-item-id="${target}"]`).waitFor({ timeout: 30_000 });
    assert.equal(await a.locator('[data-testid=rework-comment]').textContent(), COMMENT);
    // Under the comment, the answer that was sent back.
    assert.equal(await a.locator('[data-testid=rework-previous]').textContent(), 'positive');
    await shot(a, 'rework');
    await a.keyboard.press('3');
    await waitSynced(a);
    // Annotator 2 was sent the item back too and now agrees.
    const again = await labelByApi(url, A2, task.id, () => 'negative', 'a2-rework');
    assert.deepEqual(again.map((i) => i.item_id), [target]);
    assert.equal(again[0].rework.comment, COMMENT);
    await waitFor(async () => (await stateOf(url, task.id, target)).state === 'needs_review', 'the relabeled item back in review');

    // The reviewer's queue picks it up again (only it is unanimous now) and approves it with A.
    await r.keyboard.press('d');
    await r.locator('[data-testid=disagreements]').evaluate((el) => { if (el.checked) throw new Error('filter still on'); });
    await r.locator('button', { hasText: 'refresh' }).click();
    await r.locator('[data-testid=review-count]').filter({ hasText: /of 6 to review/ }).waitFor();
    for (let n = 0; n < 6; n++) {
      if (Number(await r.locator('[data-testid=review-item]').getAttribute('data-item-id')) === target) break;
      await r.keyboard.press('j');
    }
    assert.equal(Number(await r.locator('[data-testid=review-item]').getAttribute('data-item-id')), target);
    assert.deepEqual(await r.locator('[data-testid=answer-value]').allTextContents(), ['negative', 'negative']);
    await r.keyboard.press('a');
    await waitSynced(r);
    const result = await stateOf(url, task.id, target);
    assert.equal(result.state, 'approved');
    assert.deepEqual(result.value, { type: 'classification', concept: 'negative' });

    // The item's history keeps the rejected labels, inactive, next to the new ones.
    const detail = await api(url, MANAGER, 'GET', `/items/${target}`);
    const mine = detail.answers.filter((x) => x.task_id === task.id);
    assert.equal(mine.filter((x) => x.active).length, 2);
    assert.equal(mine.filter((x) => !x.active).length, 2);
  } finally {
    await annotator.close();
    await reviewer.close();
    server.stop();
  }
});
