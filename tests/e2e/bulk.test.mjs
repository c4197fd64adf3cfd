//! Bulk actions over the tasks ticked in All tasks: each is asked first with the tasks named, a
//! cancelled one changes nothing, and status, priority and export reach every ticked task on the
//! server. An archived task's page offers nothing the server would refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, shot, signIn, startServer } from './helpers.mjs';

const MANAGER = 'demo-manager';

test('bulk status and export over two ticked tasks; a cancelled archive changes nothing', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const url = server.url;
  const browser = await launch();
  try {
    const { page } = browser;
    const { tasks } = await api(url, MANAGER, 'GET', '/tasks?limit=100');
    const two = tasks.filter((x) => x.status !== 'archived').slice(0, 2);
    assert.equal(two.length, 2);
    for (const x of two) {
      if (x.status === 'open') await api(url, MANAGER, 'POST', `/tasks/${x.id}/status`, { status: 'in_progress' });
    }
    const status = async (id) => (await api(url, MANAGER, 'GET', `/tasks/${id}`)).status;
    const questions = [];
    let answer = false;
    page.on('dialog', async (d) => { questions.push(d.message()); await (answer ? d.accept() : d.dismiss()); });

    await signIn(page, url, MANAGER);
    await page.click('[data-nav="All tasks"]');
    // Nothing ticked, nothing offered.
    await page.locator('[data-testid=pick-task]').first().waitFor();
    assert.equal(await page.locator('[data-testid=bulk-bar]').isVisible(), false);
    for (const x of two) await page.check(`[data-testid=all-task-row][data-task="${x.id}"] [data-testid=pick-task]`);
    await page.locator('[data-testid=bulk-bar]').filter({ hasText: '2 selected' }).waitFor();

    // Archive, cancelled: asked with both names, and nothing is archived.
    await page.click('[data-testid=bulk-archive]');
    await page.waitForTimeout(500);
    assert.equal(questions.length, 1);
    assert.match(questions[0], /^Archive 2 tasks \(.*\)\? This cannot be undone\.$/);
    for (const x of two) assert.ok(questions[0].includes(`\u201c${x.name}\u201d`), questions[0]);
    for (const x of two) assert.notEqual(await status(x.id), 'archived');

    // Status, accepted: both tasks complete (both in progress: completing is offered, reopening not).
    answer = true;
    assert.equal(await page.locator('[data-testid=bulk-move][data-to=open]').count(), 0);
    await page.click('[data-testid=bulk-move][data-to=completed]');
    await page.locator('[data-testid=bulk-note]').filter({ hasText: 'status: 2 done' }).waitFor();
    assert.match(questions[1], /^Mark 2 tasks \(.*\) as completed\?$/);
    for (const x of two) assert.equal(await status(x.id), 'completed');

    // Priority of every item of both tasks: asked with the number of items, cancelled first.
    const items = (await Promise.all(two.map(async (x) => (await api(url, MANAGER, 'GET', `/tasks/${x.id}/results`)).results.length)))
      .reduce((a, b) => a + b, 0);
    for (const x of two) await page.check(`[data-testid=all-task-row][data-task="${x.id}"] [data-testid=pick-task]`);
    // The box starts empty; empty or out of range is refused with the task page's words, unasked.
    assert.equal(await page.inputValue('[data-testid=bulk-priority]'), '');
    for (const bad of ['', '99999999999']) {
      await page.fill('[data-testid=bulk-priority]', bad);
      await page.click('[data-testid=bulk-set-priority]');
      await page.waitForTimeout(300);
      assert.equal(await page.innerText('[data-testid=bulk-note]'), 'the priority is a whole number');
      assert.equal(questions.length, 2);
    }
    await page.fill('[data-testid=bulk-priority]', '5');
    answer = false;
    await page.click('[data-testid=bulk-set-priority]');
    await page.waitForTimeout(300);
    assert.equal(questions[2], `Set priority 5 on all ${items} items of 2 tasks (${two.map((x) => `\u201c${x.name}\u201d`).join(', ')})?`);
    answer = true;
    await page.click('[data-testid=bulk-set-priority]');
    await page.locator('[data-testid=bulk-note]').filter({ hasText: `priority: 2 done, ${items} items changed` }).waitFor();

    // Only moves valid for every ticked task are offered: an open and a completed task can only
    // go in progress together (open → completed is refused by the server).
    const open = tasks.find((x) => x.status === 'open' && !two.some((y) => y.id === x.id));
    if (open) {
      await page.check(`[data-testid=all-task-row][data-task="${open.id}"] [data-testid=pick-task]`);
      await page.check(`[data-testid=all-task-row][data-task="${two[0].id}"] [data-testid=pick-task]`);
      await page.locator('[data-testid=bulk-move][data-to=in_progress]').waitFor();
      assert.equal(await page.locator('[data-testid=bulk-move][data-to=completed]').count(), 0);
      await page.uncheck(`[data-testid=all-task-row][data-task="${open.id}"] [data-testid=pick-task]`);
      await page.uncheck(`[data-testid=all-task-row][data-task="${two[0].id}"] [data-testid=pick-task]`);
    }

    // Export: asked first with the tasks and the format; cancelled, no job starts; then one job
    // per task, said as started, with the way to Jobs.
    for (const x of two) await page.check(`[data-testid=all-task-row][data-task="${x.id}"] [data-testid=pick-task]`);
    await page.selectOption('[data-testid=bulk-format]', 'csv');
    answer = false;
    await page.click('[data-testid=bulk-export]');
    await page.waitForTimeout(300);
    assert.equal(questions[4], `Export 2 tasks (${two.map((x) => `“${x.name}”`).join(', ')}) as CSV?`);
    assert.equal((await api(url, MANAGER, 'GET', '/jobs')).jobs.filter((j) => j.kind === 'export').length, 0);
    answer = true;
    await page.click('[data-testid=bulk-export]');
    await page.locator('[data-testid=bulk-note]').filter({ hasText: '2 export jobs started — see Jobs' }).waitFor();
    assert.equal(questions.length, 6);
    const { jobs } = await api(url, MANAGER, 'GET', '/jobs');
    for (const x of two) {
      assert.ok(jobs.some((j) => j.kind === 'export' && j.params.task_id === x.id && j.params.format === 'csv'), JSON.stringify(jobs));
    }
    await shot(page, 'bulk-actions');
    await page.click('[data-testid=bulk-note] a');
    await page.waitForURL(/\/manage\/jobs$/);

    // Archived: its page offers no archive and no priority, and All tasks cannot tick it.
    await api(url, MANAGER, 'POST', '/tasks/archive', { ids: [two[0].id] });
    await page.goto(`${url}/manage/tasks/${two[0].id}`);
    await page.locator('[data-testid=task-status]').filter({ hasText: 'Archived' }).waitFor();
    assert.equal(await page.locator('[data-testid=archive]').isVisible(), false);
    assert.equal(await page.locator('[data-testid=set-priority]').isVisible(), false);
    assert.equal(await page.locator('[data-testid=status-move]').count(), 0);
    // A status move cancelled on a live task changes nothing.
    await page.goto(`${url}/manage/tasks/${two[1].id}`);
    answer = false;
    await page.click('[data-testid=status-move][data-to=in_progress]');
    await page.waitForTimeout(500);
    assert.match(questions.at(-1), /^Mark \u201c.*\u201d in progress\?$/);
    assert.equal(await status(two[1].id), 'completed');
  } finally {
    await browser.close();
    server.stop();
  }
});
