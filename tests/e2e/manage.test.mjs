//! Scenario 4 against a real `quorum serve --demo`: the manager fills the create-task form (its
//! own checks and the server's refusals shown next to the fields), creates a weighted partitioned
//! task, and follows the plan's progress on the task page while an annotator works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer } from './helpers.mjs';

const MANAGER = 'demo-manager';
const A1 = 'demo-annotator-1';
const A2 = 'demo-annotator-2';

async function myProgress(url, token, taskId) {
  const { tasks } = await api(url, token, 'GET', '/me/tasks');
  return tasks.find((t) => t.id === taskId)?.my_progress;
}

test('scenario 4: a weighted partitioned task created through the form, its plan followed', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const url = server.url;
  const browser = await launch();
  try {
    const { page } = browser;
    const me = await api(url, MANAGER, 'GET', '/me');
    const project = me.projects[0].id;
    const { members } = await api(url, MANAGER, 'GET', `/projects/${project}/members`);
    const userId = (name) => members.find((m) => m.name === name).user_id;
    const { items } = await api(url, MANAGER, 'GET', `/projects/${project}/items?limit=12`);
    const ids = items.map((i) => i.id);
    const before = (await api(url, MANAGER, 'GET', '/tasks?limit=500')).tasks.length;

    const asked = [];
    let accept = true;
    page.on('dialog', async (d) => { asked.push(d.message()); await (accept ? d.accept() : d.dismiss()); });

    await signIn(page, url, MANAGER);
    await page.click('[data-nav="New task"]');
    await page.waitForSelector('form.task-form');
    // Wait for the members and datasets the form offers.
    await page.locator(`[name=assignee][data-user="${userId(A1)}"]`).waitFor();
    assert.equal(await page.title(), 'New task · Quorum');
    // People by name; managers are not offered as annotators.
    assert.equal(await page.locator(`[name=assignee][data-user="${userId(MANAGER)}"]`).count(), 0);
    assert.equal((await page.locator('[data-testid=assignees] label').first().textContent()).trim().includes('#'), false);

    // A form with problems: no name, no concepts, three workers per item among two assignees.
    await page.selectOption('[name=strategy]', 'partitioned');
    await page.selectOption('[name=partition]', 'weighted');
    await page.fill('[name=overlap]', '3');
    await page.check(`[name=assignee][data-user="${userId(A1)}"]`);
    await page.check(`[name=assignee][data-user="${userId(A2)}"]`);
    await page.click('[data-testid=create]');
    for (const field of ['name', 'schema', 'worker_strategy.workers_per_input']) {
      await page.locator(`.field-error[data-field="${field}"]`).first().waitFor();
    }
    // The invalid field is marked and tied to its message, in the form's own words.
    const overlap = page.locator('[name=overlap]');
    assert.equal(await overlap.getAttribute('aria-invalid'), 'true');
    const described = await page.locator(`[id="${await overlap.getAttribute('aria-describedby')}"]`).textContent();
    assert.match(described, /workers per item/);
    assert.doesNotMatch(described, /overlap|assignee/);
    assert.equal(await page.locator('[name=name]').getAttribute('aria-invalid'), 'true');
    assert.notEqual(await page.locator('[name=overlap]').evaluate((e) => getComputedStyle(e).borderTopColor), await page.locator('[name=lease_seconds]').evaluate((e) => getComputedStyle(e).borderTopColor));
    // Messages follow the typing once shown.
    await page.fill('[name=weight][data-user="' + userId(A2) + '"]', 'x');
    await page.locator('.field-error[data-field="worker_strategy.partition"]').waitFor();
    await shot(page, 'new-task-errors');

    // Fix what the client can see; the server still refuses items outside the project.
    await page.fill('[name=name]', 'Scenario 4: weighted plan');
    await page.fill('[name=concepts]', 'positive, neutral, negative');
    await page.fill('[name=overlap]', '1');
    await page.fill(`[name=weight][data-user="${userId(A1)}"]`, '3');
    await page.fill(`[name=weight][data-user="${userId(A2)}"]`, '1');
    await page.selectOption('[name=input]', 'item_ids');
    await page.fill('[name=item_ids]', '999999');
    assert.equal(await page.locator('.field-error').count(), 0);
    await page.click('[data-testid=create]');
    // The server names the field: its message shows next to the item ids.
    await page.locator('.field-error[data-field="input.item_ids"]').filter({ hasText: 'not in this project' }).waitFor();
    assert.match(await page.locator('[data-testid=form-error]').textContent(), /refused some fields/);
    assert.equal((await api(url, MANAGER, 'GET', '/tasks?limit=500')).tasks.length, before, 'nothing was created');

    // Slips are warned about before creation; declining creates nothing.
    await page.fill('[name=item_ids]', `${ids[0]}-${ids[ids.length - 1]}`);
    await page.fill(`[name=weight][data-user="${userId(A2)}"]`, '0');
    await page.fill('[name=due_date]', '2020-01-01T10:00');
    accept = false;
    await page.click('[data-testid=create]');
    await page.waitForTimeout(500);
    assert.match(asked.at(-1), /The due date is in the past\.\n.*demo-annotator-2 has weight 0 and gets no items\.\n\nCreate the task anyway\?$/s);
    assert.equal((await api(url, MANAGER, 'GET', '/tasks?limit=500')).tasks.length, before, 'nothing was created');
    accept = true;
    await page.fill(`[name=weight][data-user="${userId(A2)}"]`, '1');
    await page.fill('[name=due_date]', '');

    // The real thing: twelve items, shares 3:1.
    const questions = asked.length;
    await page.click('[data-testid=create]');
    await page.waitForURL(/\/manage\/tasks\/\d+$/);
    const taskId = Number(page.url().split('/').pop());
    assert.equal(asked.length, questions, 'nothing to warn about, nothing asked');

    const task = await api(url, MANAGER, 'GET', `/tasks/${taskId}`);
    assert.equal(task.name, 'Scenario 4: weighted plan');
    assert.deepEqual(task.schema, { annotation_type: 'classification', concepts: ['positive', 'neutral', 'negative'] });
    assert.deepEqual(task.worker_strategy, {
      type: 'partitioned',
      partition: { type: 'weighted', weights: [{ worker: userId(A1), weight: 3 }, { worker: userId(A2), weight: 1 }] },
      workers_per_input: 1,
    });
    assert.equal(task.counts.items, 12);
    // The server planned 9 and 3 seats; each annotator sees their share.
    assert.equal((await myProgress(url, A1, taskId)).available, 9);
    assert.equal((await myProgress(url, A2, taskId)).available, 3);

    const bar = (name) => page.locator(`[data-testid=plan-chart] [data-testid=bar][data-label="${name}"]`);
    await bar(A1).filter({ hasText: '0 / 9 planned' }).waitFor();
    await bar(A2).filter({ hasText: '0 / 3 planned' }).waitFor();
    assert.match(await page.locator('[data-testid=strategy]').textContent(), /partitioned by weight \(3:1\)/);

    // Annotator 1 labels four of their items; the page follows by itself.
    const batch = await api(url, A1, 'POST', `/tasks/${taskId}/batches`, { size: 4 });
    assert.equal(batch.items.length, 4);
    const { results } = await api(url, A1, 'POST', '/sync', {
      ops: batch.items.map((it, n) => ({
        client_op_id: `s4-${n}`,
        action: { type: 'submit', task_id: taskId, item_id: it.item_id, lease_id: batch.lease_id, value: { type: 'classification', concept: 'positive' } },
      })),
    });
    assert.ok(results.every((r) => r.status === 'applied'));
    await bar(A1).filter({ hasText: '4 / 9 planned' }).waitFor({ timeout: 15_000 });
    assert.equal(await bar(A1).getAttribute('data-value'), '4');
    const progress = await api(url, MANAGER, 'GET', `/tasks/${taskId}/progress`);
    assert.equal(progress.labeled, 4);
    await page.locator('[data-testid=progress-chart] [data-testid=bar][data-label=labeled]').filter({ hasText: '4 / 12' }).waitFor();
    await page.locator('[data-testid=task-status]').filter({ hasText: 'In progress' }).waitFor();
    await shot(page, 'task-page');

    // All tasks lists it with its progress, and leads back to its page.
    await page.click('[data-nav="All tasks"]');
    const row = page.locator('[data-testid=all-task-row]').filter({ hasText: 'Scenario 4: weighted plan' });
    await row.filter({ hasText: '4/12 labeled' }).waitFor();
    await shot(page, 'all-tasks');
    await row.locator('a').click();
    await page.waitForURL(new RegExp(`/manage/tasks/${taskId}$`));

    // Bulk priority on two items, then a status move, both reflected by the server.
    await page.fill('[data-testid=priority-items]', `${ids[10]}, ${ids[11]}`);
    await page.fill('[data-testid=priority-value]', '7');
    await page.click('[data-testid=set-priority]');
    await page.locator('[data-testid=task-note]').filter({ hasText: 'priority 7 set on 2 items' }).waitFor();
    assert.match(asked.at(-1), /^Set priority 7 on 2 items of \u201c/);
    // The status move says what it does in words, and asks first.
    const move = page.locator('[data-testid=status-move][data-to=completed]');
    assert.equal(await move.textContent(), 'Mark completed');
    await move.click();
    await page.locator('[data-testid=task-status]').filter({ hasText: 'Completed' }).waitFor();
    assert.match(asked.at(-1), /^Mark \u201cScenario 4: weighted plan.*\u201d completed\?$/);
    assert.equal((await api(url, MANAGER, 'GET', `/tasks/${taskId}`)).status, 'completed');
  } finally {
    await browser.close();
    server.stop();
  }
});
