//! Bulk actions over the tasks ticked in All tasks: each is asked first with the tasks named, a
//! cancelled one changes nothing, and status and export reach every ticked task on the server.
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
    assert.match(questions[0], /^Archive 2 task\(s\): /);
    for (const x of two) assert.ok(questions[0].includes(`\u201c${x.name}\u201d`), questions[0]);
    for (const x of two) assert.notEqual(await status(x.id), 'archived');

    // Status, accepted: both tasks complete.
    answer = true;
    await page.selectOption('[data-testid=bulk-status]', 'completed');
    await page.click('[data-testid=bulk-set-status]');
    await page.locator('[data-testid=bulk-note]').filter({ hasText: 'status: 2 done' }).waitFor();
    assert.match(questions[1], /^Set status \u201ccompleted\u201d on 2 task\(s\)/);
    for (const x of two) assert.equal(await status(x.id), 'completed');

    // Export (not destructive: not asked) starts one job per task.
    for (const x of two) await page.check(`[data-testid=all-task-row][data-task="${x.id}"] [data-testid=pick-task]`);
    await page.selectOption('[data-testid=bulk-format]', 'csv');
    await page.click('[data-testid=bulk-export]');
    await page.locator('[data-testid=bulk-note]').filter({ hasText: 'export: 2 done' }).waitFor();
    assert.equal(questions.length, 2);
    const { jobs } = await api(url, MANAGER, 'GET', '/jobs');
    for (const x of two) {
      assert.ok(jobs.some((j) => j.kind === 'export' && j.params.task_id === x.id && j.params.format === 'csv'), JSON.stringify(jobs));
    }
    await shot(page, 'bulk-actions');
  } finally {
    await browser.close();
    server.stop();
  }
});
