//! The compare screen against a real `quorum serve --demo`: two annotators label the same items
//! differently (one item only by the first), a model's predictions are imported; the manager
//! opens the screen from the task page and sees exactly what `GET /tasks/{id}/compare` answers —
//! the summary, then every item with both answers, disagreements first — filters to
//! disagreements, and compares the first annotator with the model by typing its name. On a box
//! task, "Draw" shows the item's picture with both annotators' boxes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer } from './helpers.mjs';

const MANAGER = 'demo-manager';
const A1 = 'demo-annotator-1';
const A2 = 'demo-annotator-2';

/** Labels, through the API, the items of `token`'s next batch that `pick` answers (others stay
 *  leased); `pick` gives a concept, or a whole value. */
async function label(url, token, taskId, pick, prefix) {
  const batch = await api(url, token, 'POST', `/tasks/${taskId}/batches`, {});
  const ops = batch.items
    .filter((it) => pick(it.item_id))
    .map((it, n) => ({
      client_op_id: `${prefix}-${n}`,
      action: {
        type: 'submit', task_id: taskId, item_id: it.item_id, lease_id: batch.lease_id,
        value: typeof pick(it.item_id) === 'string' ? { type: 'classification', concept: pick(it.item_id) } : pick(it.item_id),
      },
    }));
  const { results } = await api(url, token, 'POST', '/sync', { ops });
  assert.ok(results.every((r) => r.status === 'applied'), JSON.stringify(results));
}

/** The server's order on screen: disagreements (least agreement first), one-sided, agreements. */
const rank = (i) => (i.agreement === null ? [1, 0] : i.agreement < 1 ? [0, i.agreement] : [2, 0]);
function ordered(items) {
  return [...items].sort((x, y) => rank(x)[0] - rank(y)[0] || rank(x)[1] - rank(y)[1] || x.item_id - y.item_id);
}

/** What the screen shows: the summary's numbers and each row. */
async function onScreen(page) {
  const num = async (id) => {
    const v = await page.locator(`[data-testid=${id}]`).getAttribute('data-value');
    return v === null ? null : Number(v);
  };
  return {
    shared: Number(await page.locator('[data-testid=shared]').textContent()),
    agreement: await num('mean-agreement'),
    kappa: await num('kappa'),
    rows: await page.locator('[data-testid=compare-row]').evaluateAll((rows) => rows.map((r) => ({
      item_id: Number(r.dataset.itemId),
      agreement: r.dataset.agreement === undefined ? null : Number(r.dataset.agreement),
      a: r.querySelector('[data-testid=answer-a]').textContent,
      b: r.querySelector('[data-testid=answer-b]').textContent,
    }))),
  };
}

const text = (v) => (v ? v.concept : 'no answer');

function expectSame(shown, expected) {
  assert.equal(shown.shared, expected.shared);
  assert.ok(Math.abs(shown.agreement - expected.agreement) < 1e-9, `agreement ${shown.agreement} vs ${expected.agreement}`);
  if (expected.kappa === null) assert.equal(shown.kappa, null);
  else assert.ok(Math.abs(shown.kappa - expected.kappa) < 1e-9, `kappa ${shown.kappa} vs ${expected.kappa}`);
  assert.deepEqual(shown.rows, ordered(expected.items).map((i) => ({
    item_id: i.item_id, agreement: i.agreement, a: text(i.a), b: text(i.b),
  })));
}

test('compare: two annotators, then an annotator and a model, side by side', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const url = server.url;
  const browser = await launch();
  try {
    const me = await api(url, MANAGER, 'GET', '/me');
    const project = me.projects[0].id;
    const { members } = await api(url, MANAGER, 'GET', `/projects/${project}/members`);
    const userId = (name) => members.find((m) => m.name === name).user_id;
    const { items } = await api(url, MANAGER, 'GET', `/projects/${project}/items?limit=7`);
    const ids = items.map((i) => i.id);
    const task = await api(url, MANAGER, 'POST', `/projects/${project}/tasks`, {
      name: 'Compare: sentiment',
      kind: 'labeling',
      schema: { annotation_type: 'classification', concepts: ['positive', 'neutral', 'negative'] },
      input: { type: 'item_ids', item_ids: ids },
      worker_strategy: { type: 'pull', batch_size: 10, workers_per_input: 2 },
      review_strategy: { type: 'none' },
      assignees: [userId(A1), userId(A2)],
      seed: 5,
    });

    // A1 says positive everywhere; A2 agrees on three items, differs on three, skips the last.
    await label(url, A1, task.id, () => 'positive', 'a1');
    const a2 = (id) => {
      const n = ids.indexOf(id);
      return n < 3 ? 'positive' : n < 5 ? 'negative' : n === 5 ? 'neutral' : null;
    };
    await label(url, A2, task.id, a2, 'a2');
    // A model's guesses, kept as predictions for comparison.
    await api(url, MANAGER, 'POST', `/tasks/${task.id}/predictions`, {
      model: 'sentiment-v1',
      predictions: ids.slice(0, 4).map((id, n) => ({
        item_id: id, confidence: 0.7, value: { type: 'classification', concept: n % 2 ? 'negative' : 'positive' },
      })),
    });

    const { page } = browser;
    await signIn(page, url, MANAGER);
    await page.goto(`${url}/manage/tasks/${task.id}`);
    await page.click('[data-testid=compare-link]');
    await page.waitForURL(`${url}/manage/tasks/${task.id}/compare`);
    await page.locator('[data-testid=compare-summary]').waitFor();

    // The pickers start on the two annotators.
    const sideA = await page.locator('[data-testid=side-a]').inputValue();
    const sideB = await page.locator('[data-testid=side-b]').inputValue();
    assert.deepEqual([sideA, sideB].sort(), [`worker:${userId(A1)}`, `worker:${userId(A2)}`].sort());
    const expected = await api(url, MANAGER, 'GET', `/tasks/${task.id}/compare?a=${sideA}&b=${sideB}`);
    assert.equal(expected.shared, 6);
    assert.equal(expected.items.length, 7);
    const shown = await onScreen(page);
    expectSame(shown, expected);
    assert.deepEqual(shown.rows.slice(0, 3).map((r) => r.agreement), [0, 0, 0], 'disagreements first');
    assert.equal(shown.rows[3].agreement, null, 'then the item only one side answered');
    assert.match(await page.locator('[data-testid=compare-counts]').textContent(), /7 items, 3 disagreements/);
    await shot(page, 'compare');

    // Disagreements only.
    await page.check('[data-testid=disagreements-only]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=compare-row]').length === 3);
    const only = await onScreen(page);
    assert.deepEqual(only.rows, shown.rows.filter((r) => r.agreement !== null && r.agreement < 1));
    await page.uncheck('[data-testid=disagreements-only]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=compare-row]').length === 7);

    // A1 against the model, by its name.
    await page.selectOption('[data-testid=side-a]', `worker:${userId(A1)}`);
    await page.fill('[data-testid=model]', 'sentiment-v1');
    await page.click('form.actions button[type=submit]');
    await page.locator('[data-testid=shared]').filter({ hasText: /^4$/ }).waitFor();
    const vsModel = await api(url, MANAGER, 'GET', `/tasks/${task.id}/compare?a=worker:${userId(A1)}&b=model:sentiment-v1`);
    expectSame(await onScreen(page), vsModel);
    await shot(page, 'compare-model');

    // An item link opens the item viewer inside the app.
    const first = (await onScreen(page)).rows[0].item_id;
    await page.locator(`[data-testid=compare-row][data-item-id="${first}"] a`).click();
    await page.waitForURL(`${url}/manage/items/${first}`);
    await page.locator('[data-testid=item-answer]').first().waitFor();

    // A box task over two of the demo's pictures: "Draw" puts both sides' boxes on the picture.
    // The photos' box task, not the demo's video task (newer, so first in this list).
    const boxTask = (await api(url, MANAGER, 'GET', '/tasks?limit=500')).tasks.find((x) => x.schema.annotation_type === 'bounding_box' && /\(boxes\)/.test(x.name));
    const pictures = (await api(url, MANAGER, 'GET', `/tasks/${boxTask.id}/results`)).results.slice(0, 2).map((r) => r.item_id);
    const concept = boxTask.schema.concepts[0];
    const boxes = await api(url, MANAGER, 'POST', `/projects/${project}/tasks`, {
      name: 'Compare: boxes',
      kind: 'labeling',
      schema: { annotation_type: 'bounding_box', concepts: boxTask.schema.concepts },
      input: { type: 'item_ids', item_ids: pictures },
      worker_strategy: { type: 'pull', batch_size: 10, workers_per_input: 2 },
      review_strategy: { type: 'none' },
      assignees: [userId(A1), userId(A2)],
      seed: 6,
    });
    const box = (x) => ({ type: 'bounding_box', boxes: [{ concept, x, y: 10, w: 40, h: 30 }] });
    await label(url, A1, boxes.id, () => box(10), 'b1');
    await label(url, A2, boxes.id, () => box(100), 'b2');
    await page.goto(`${url}/manage/tasks/${boxes.id}/compare`);
    const boxRow = page.locator(`[data-testid=compare-row][data-item-id="${pictures[0]}"]`);
    await boxRow.waitFor();
    assert.equal(await boxRow.getAttribute('data-agreement'), '0');
    await boxRow.locator('button', { hasText: 'Draw' }).click();
    await boxRow.locator('svg rect').nth(1).waitFor();
    assert.deepEqual(await boxRow.locator('svg rect').evaluateAll((rs) => rs.map((r) => [r.getAttribute('x'), r.getAttribute('stroke')])),
      [['10', '#e6194b'], ['100', '#3cb44b']]);
    await page.waitForFunction((id) => document.querySelector(`#pic-${id} svg`)?.getAttribute('viewBox'), pictures[0]);
    await shot(page, 'compare-boxes');
  } finally {
    await browser.close();
    server.stop();
  }
});
