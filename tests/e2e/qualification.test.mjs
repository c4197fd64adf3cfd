//! Qualification gates for annotators against a real `quorum serve --demo`: a task gated by a
//! qualification task shows the gate on "My tasks" (which qualification, how it stands, a link to
//! take it) instead of a Label button, the annotate screen shows the server's own refusal, and
//! once the qualification is passed the task opens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer } from './helpers.mjs';

const MANAGER = 'demo-manager';
const A1 = 'demo-annotator-1';
const SCHEMA = { annotation_type: 'classification', concepts: ['positive', 'neutral', 'negative'] };

test('qualification: the gate on My tasks, the refusal on the annotate screen, then work', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const url = server.url;
  const browser = await launch();
  try {
    const me = await api(url, MANAGER, 'GET', '/me');
    const project = me.projects[0].id;
    const { members } = await api(url, MANAGER, 'GET', `/projects/${project}/members`);
    const a1 = members.find((m) => m.name === A1).user_id;
    const datasets = await api(url, MANAGER, 'GET', `/projects/${project}/datasets`);
    const dataset = (datasets.datasets || datasets)[0].id;
    await api(url, MANAGER, 'POST', `/datasets/${dataset}/items`, [
      { external_id: 'gold-1', data: { text: 'Gold: I love it' }, gold: { type: 'classification', concept: 'positive' } },
      { external_id: 'gold-2', data: { text: 'Gold: I hate it' }, gold: { type: 'classification', concept: 'negative' } },
    ]);
    const { items } = await api(url, MANAGER, 'GET', `/projects/${project}/items?limit=500`);
    const gold = items.filter((i) => /^gold-/.test(i.external_id || '')).map((i) => i.id);
    assert.equal(gold.length, 2);
    const plain = items.filter((i) => !gold.includes(i.id)).slice(0, 3).map((i) => i.id);
    const base = {
      kind: 'labeling', schema: SCHEMA, review_strategy: { type: 'none' }, assignees: [a1], seed: 9,
      worker_strategy: { type: 'pull', batch_size: 10, workers_per_input: 1 },
    };
    const qual = await api(url, MANAGER, 'POST', `/projects/${project}/tasks`, {
      ...base, name: 'Sentiment test', kind: 'qualification', input: { type: 'item_ids', item_ids: gold },
      pass_gate: { pass_mark: 1, min_answers: 2 },
    });
    const gated = await api(url, MANAGER, 'POST', `/projects/${project}/tasks`, {
      ...base, name: 'Gated sentiment', input: { type: 'item_ids', item_ids: plain },
      qualifications: [{ task_id: qual.id }],
    });

    // My tasks: the gated task names its qualification and offers it instead of labeling.
    const { page } = browser;
    await signIn(page, url, A1);
    const row = page.locator('[data-testid=task-row]', { hasText: 'Gated sentiment' });
    const gate = row.locator('[data-testid=qualification-gate]');
    await gate.locator(`[data-testid=qualification][data-task-id="${qual.id}"]`).waitFor();
    assert.match(await gate.textContent(), /Qualify first:.*Sentiment test.*0 of 0 gold answers right so far, 2 needed/);
    assert.equal(await row.locator('button', { hasText: 'Label' }).count(), 0);
    await shot(page, 'my-tasks-gate');

    // The annotate screen says why, in the server's words.
    await page.goto(`${url}/tasks/${gated.id}/annotate`);
    const note = page.locator('[data-testid=annotate-note]');
    await note.filter({ hasText: 'Not qualified yet' }).waitFor();
    assert.match(await note.textContent(), new RegExp(`qualification task ${qual.id} "Sentiment test" is not finished`));
    assert.doesNotMatch(await note.textContent(), /HTTP 403/);

    // "Take it" opens the qualification task; answering both gold items right passes it.
    await page.goto(`${url}/tasks`);
    await gate.locator('a', { hasText: 'Take it' }).click();
    await page.waitForURL(`${url}/tasks/${qual.id}/annotate`);
    const truth = { [gold[0]]: '1', [gold[1]]: '3' };
    for (let n = 0; n < 2; n++) {
      const item = page.locator('[data-testid=item]');
      await item.waitFor();
      const id = await item.getAttribute('data-item-id');
      await page.keyboard.press(truth[id]);
      await page.waitForFunction((b) => document.querySelector('[data-testid=item]')?.getAttribute('data-item-id') !== b, id);
    }
    await page.locator('[data-testid=pending]').filter({ hasText: /^0 waiting/ }).waitFor({ timeout: 30_000 });
    const mine = (await api(url, A1, 'GET', '/me/tasks')).tasks.find((x) => x.id === gated.id);
    assert.equal(mine.my_qualification.qualified, true, JSON.stringify(mine.my_qualification));

    // Now the gated task offers labeling and the gate is gone.
    await page.goto(`${url}/tasks`);
    await row.locator('button', { hasText: 'Label' }).waitFor();
    assert.equal(await gate.textContent(), '');
  } finally {
    await browser.close();
    server.stop();
  }
});
