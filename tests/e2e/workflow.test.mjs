//! A multi-step workflow in the browser against a real `quorum serve --demo`: label → review → QA.
//! The annotator and the reviewer work through the API; the QA assignee, a reviewer named only
//! in the QA step, finds the task on My tasks with the items waiting in QA, opens the review
//! screen (which names the step), approves one item and rejects the other with a comment, which
//! goes back to the annotator as rework. Every step is checked in the server's own state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer } from './helpers.mjs';

const ADMIN = 'demo-admin';
const MANAGER = 'demo-manager';
const A1 = 'demo-annotator-1';
const REVIEWER = 'demo-reviewer';
const COMMENT = 'QA: this one is not positive.';

async function stateOf(url, taskId, itemId) {
  const { results } = await api(url, MANAGER, 'GET', `/tasks/${taskId}/results`);
  return results.find((r) => r.item_id === itemId);
}

test('the QA assignee sees and decides the items waiting in QA', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const url = server.url;
  const qaBrowser = await launch();
  try {
    const me = await api(url, MANAGER, 'GET', '/me');
    const project = me.projects[0].id;
    const { members } = await api(url, MANAGER, 'GET', `/projects/${project}/members`);
    const id = (name) => members.find((m) => m.name === name).user_id;
    // A reviewer of the project who is only the QA step's assignee.
    const qa = await api(url, ADMIN, 'POST', '/users', { name: 'demo-qa' });
    await api(url, ADMIN, 'PUT', `/projects/${project}/members/${qa.user.id}`, { roles: ['reviewer'] });
    const { items } = await api(url, MANAGER, 'GET', `/projects/${project}/items?limit=2`);
    const task = await api(url, MANAGER, 'POST', `/projects/${project}/tasks`, {
      name: 'Workflow: label, review, QA',
      schema: { annotation_type: 'classification', concepts: ['positive', 'neutral', 'negative'] },
      input: { type: 'item_ids', item_ids: items.map((i) => i.id) },
      worker_strategy: { type: 'pull', batch_size: 10, workers_per_input: 1 },
      assignees: [id(A1)],
      reviewers: [id(REVIEWER)],
      steps: [
        { name: 'label', kind: 'label' },
        { name: 'review', kind: 'review', assignees: [id(REVIEWER)] },
        { name: 'QA', kind: 'qa', assignees: [qa.user.id] },
      ],
      seed: 5,
    });

    // The annotator labels both items; the reviewer approves both: they wait in QA.
    const batch = await api(url, A1, 'POST', `/tasks/${task.id}/batches`, {});
    const ops = batch.items.map((it, n) => ({
      client_op_id: `wf-a1-${n}`,
      action: { type: 'submit', task_id: task.id, item_id: it.item_id, lease_id: batch.lease_id,
        value: { type: 'classification', concept: 'positive' } },
    }));
    await api(url, A1, 'POST', '/sync', { ops });
    for (const it of batch.items) {
      const d = await api(url, REVIEWER, 'POST', `/tasks/${task.id}/items/${it.item_id}/review`, { decision: 'approve' });
      assert.deepEqual([d.state, d.step_name], ['needs_review', 'QA']);
    }

    // The QA assignee finds the task on My tasks, with the two items waiting in QA.
    const q = qaBrowser.page;
    await signIn(q, url, qa.token);
    await q.goto(`${url}/tasks`);
    const row = q.locator('[data-testid=task-row]', { hasText: 'Workflow: label, review, QA' });
    await row.locator('[data-testid=step-waiting]').filter({ hasText: '2 waiting in QA' }).waitFor();
    await shot(q, 'workflow-my-tasks');
    await row.locator('button', { hasText: 'Review' }).click();
    await q.locator('[data-testid=review-count]').filter({ hasText: /of 2 to review/ }).waitFor();
    assert.equal(await q.locator('[data-testid=step-name]').textContent(), 'QA');
    await shot(q, 'workflow-qa-review');

    // Approve the first item shown with A: it is final.
    const first = Number(await q.locator('[data-testid=review-item]').getAttribute('data-item-id'));
    await q.keyboard.press('a');
    await q.locator('[data-testid=review-count]').filter({ hasText: /of 1 to review/ }).waitFor();
    // Reject the other with a comment: it goes back to the annotator.
    const second = Number(await q.locator('[data-testid=review-item]').getAttribute('data-item-id'));
    assert.notEqual(first, second);
    await q.keyboard.press('c');
    await q.keyboard.type(COMMENT);
    await q.keyboard.press('Control+Enter');
    await q.locator('[data-testid=empty]').waitFor();
    await q.locator('[data-testid=pending]').filter({ hasText: /^0 waiting/ }).waitFor({ timeout: 30_000 });

    const done = await stateOf(url, task.id, first);
    assert.deepEqual([done.state, done.step, done.step_name], ['approved', 3, null]);
    const back = await stateOf(url, task.id, second);
    assert.deepEqual([back.state, back.step], ['rejected', 0]);
    const rework = await api(url, A1, 'POST', `/tasks/${task.id}/batches`, {});
    assert.deepEqual(rework.items.map((i) => i.item_id), [second]);
    assert.equal(rework.items[0].rework.comment, COMMENT);
    assert.equal(rework.items[0].rework.reviewer, 'demo-qa');
  } finally {
    await qaBrowser.close();
    server.stop();
  }
});
