//! The manager's sidebar against a real `quorum serve --demo`: Reservations (release one lease,
//! then all of a user's), Uploads (per-row errors), Jobs (an export started from the task page
//! runs to completion), Archive (a task archived from its page shows in the history) and
//! the item viewer (every answer on an item). Each action is checked in the server's state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { api, launch, shot, signIn, startServer, withDemo } from './helpers.mjs';

const MANAGER = 'demo-manager';
const A1 = 'demo-annotator-1';

async function demoTask(url, type) {
  const { tasks } = await api(url, A1, 'GET', '/me/tasks');
  return tasks.find((t) => t.schema.annotation_type === type);
}

test('manager console: reservations, uploads, jobs, archive, item viewer', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const url = server.url;
  const browser = await launch();
  try {
    const { page } = browser;
    // Wide and destructive actions ask first; the questions are kept to check their words.
    let accept = true;
    const asked = [];
    page.on('dialog', async (d) => { asked.push(d.message()); await (accept ? d.accept() : d.dismiss()); });
    // The app's own files go out compressed (files sent in ranges, media and exports, do not).
    const index = await fetch(`${url}/`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(index.headers.get('content-encoding'), 'gzip', 'the web app is served compressed');
    const me = await api(url, MANAGER, 'GET', '/me');
    const project = me.projects[0].id;
    const { members } = await api(url, MANAGER, 'GET', `/projects/${project}/members`);
    const a1 = members.find((m) => m.name === A1).user_id;
    const text = await demoTask(url, 'classification');
    const boxes = await demoTask(url, 'bounding_box');

    // Annotator 1 holds two leases; the first item of one gets a label.
    const first = await api(url, A1, 'POST', `/tasks/${text.id}/batches`, { size: 3 });
    const second = await api(url, A1, 'POST', `/tasks/${boxes.id}/batches`, { size: 2 });
    const labeled = first.items[0].item_id;
    await api(url, A1, 'POST', '/sync', {
      ops: [{ client_op_id: 'console-1', action: { type: 'submit', task_id: text.id, item_id: labeled, lease_id: first.lease_id, value: { type: 'classification', concept: 'positive' } } }],
    });
    const leases = async () => (await api(url, MANAGER, 'GET', `/projects/${project}/reservations`)).reservations;
    assert.equal((await leases()).length, 2);

    await signIn(page, url, MANAGER);
    await page.click('[data-nav="Reservations"]');
    await page.locator(`[data-testid=reservation-user][data-user="${a1}"]`).filter({ hasText: '4 items held' }).waitFor();
    // Leases say which task they hold, by name.
    await page.locator(`[data-testid=reservation][data-lease="${second.lease_id}"]`).filter({ hasText: boxes.name }).waitFor();
    await shot(page, 'reservations');
    await page.click(`[data-testid=reservation][data-lease="${second.lease_id}"] [data-testid=release-lease]`);
    await page.locator('[data-testid=reservations-note]').filter({ hasText: `lease ${second.lease_id} released` }).waitFor();
    assert.deepEqual((await leases()).map((l) => l.lease_id), [first.lease_id]);
    await page.click(`[data-testid=reservation-user][data-user="${a1}"] [data-testid=release-user]`);
    await page.locator('[data-testid=empty]').waitFor();
    assert.match(asked.at(-1), new RegExp(`^Release all \\d+ items ${A1} holds\\?`));
    assert.equal((await leases()).length, 0);

    // An upload with one good row and one bad row; the history shows the bad row's reason.
    const { datasets } = await api(url, MANAGER, 'GET', `/projects/${project}/datasets`);
    const upload = await api(url, MANAGER, 'POST', `/datasets/${datasets[0].id}/items`, [
      { external_id: 'console-ok', data: { text: 'Fine.' } },
      { external_id: 'console-bad' },
    ]);
    assert.equal(upload.failed, 1);
    await page.click('[data-nav="Uploads"]');
    await page.locator('[data-testid=upload]').first().waitFor();
    // Counted in words, the dataset by name, the format by its name.
    await page.locator('details summary').filter({ hasText: /^1 row error$/ }).first().click();
    const uploadRow = await page.locator('[data-testid=upload]').first().textContent();
    assert.ok(uploadRow.includes(datasets[0].name), uploadRow);
    assert.doesNotMatch(uploadRow, /dataset \d|\(s\)/);
    const rowError = await page.locator('[data-testid=row-error]').first().textContent();
    assert.match(rowError, new RegExp(`^row ${upload.errors[0].row}: `));
    assert.ok(rowError.includes(upload.errors[0].message));
    await shot(page, 'uploads');

    // An export started from the task page appears in Jobs and completes with a result.
    await page.goto(`${url}/manage/tasks/${text.id}`);
    await page.waitForFunction((name) => document.title === `${name} · Quorum`, text.name);
    await page.click('[data-testid=export]');
    const note = await page.locator('[data-testid=task-note]').filter({ hasText: 'export started as job' });
    await note.waitFor();
    const jobId = Number((await note.textContent()).match(/job (\d+)/)[1]);
    await page.click('[data-nav="Jobs"]');
    await page.locator(`[data-testid=job][data-job="${jobId}"][data-status=complete]`).waitFor({ timeout: 30_000 });
    const job = await api(url, MANAGER, 'GET', `/jobs/${jobId}`);
    assert.equal(job.status, 'complete');
    assert.equal(job.has_result, true);
    await page.locator(`[data-testid=job][data-job="${jobId}"] [data-testid=download-job]`).waitFor();
    await page.locator(`[data-testid=job][data-job="${jobId}"]`).filter({ hasText: `Export of \u201c${text.name}\u201d as JSON` }).waitFor();
    // The browser downloads the file itself (to disk, resumable), not the page's script: a
    // fetch would hold a big export in the page's memory.
    const scripted = [];
    const watch = (r) => { if (r.url().includes(`/jobs/${jobId}/result`) && ['fetch', 'xhr'].includes(r.resourceType())) scripted.push(r.url()); };
    page.on('request', watch);
    const [file] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid=job][data-job="${jobId}"] [data-testid=download-job]`)]);
    page.off('request', watch);
    assert.deepEqual(scripted, [], 'the page fetched the file itself');
    assert.equal(file.suggestedFilename(), job.file_name);
    const saved = JSON.parse(await readFile(await file.path(), 'utf8'));
    assert.deepEqual(saved, await api(url, MANAGER, 'GET', `/jobs/${jobId}/result`));
    assert.match(job.file_name, new RegExp(`-task-${text.id}\\.json$`));
    await shot(page, 'jobs');
    // A job started elsewhere shows up while Jobs stays open, without a refresh.
    const { job_id: elsewhere } = await api(url, MANAGER, 'POST', `/tasks/${text.id}/exports`, { format: 'csv' });
    await page.locator(`[data-testid=job][data-job="${elsewhere}"]`).waitFor({ timeout: 15_000 });

    // The item viewer, opened from the task page, shows the label given above.
    await page.goto(`${url}/manage/tasks/${text.id}`);
    await page.fill('[data-testid=open-item]', String(labeled));
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/manage/items/${labeled}$`));
    await page.locator('[data-testid=item-answer]').filter({ hasText: A1 }).filter({ hasText: 'positive' }).waitFor();
    assert.doesNotMatch(await page.locator('h2').first().textContent(), /\(s\)/);
    await shot(page, 'item');

    // Archiving from the task page: the task is archived and the history lists it.
    await page.goto(`${url}/manage/tasks/${boxes.id}`);
    // Asked first with the task named; cancelled, nothing changes.
    accept = false;
    await page.click('[data-testid=archive]');
    await page.waitForTimeout(300);
    assert.match(asked.at(-1), new RegExp(`^Archive \u201c${boxes.name.replace(/[()]/g, '\\$&')}\u201d\\?`));
    assert.notEqual((await api(url, MANAGER, 'GET', `/tasks/${boxes.id}`)).status, 'archived');
    accept = true;
    await page.click('[data-testid=archive]');
    await page.locator('[data-testid=task-note]').filter({ hasText: 'archived' }).waitFor();
    assert.equal((await api(url, MANAGER, 'GET', `/tasks/${boxes.id}`)).status, 'archived');
    const { archives } = await api(url, MANAGER, 'GET', `/projects/${project}/archives`);
    assert.equal(archives.length, 1);
    assert.equal(archives[0].ready, true, 'the archive\'s file is written before the answer');
    await page.click('[data-nav="Archive"]');
    const row = page.locator(`[data-testid=archive][data-archive="${archives[0].id}"]`);
    await row.filter({ hasText: MANAGER }).filter({ hasText: boxes.name }).waitFor();
    await row.locator('[data-testid=download-archive]').waitFor();
    await shot(page, 'archive');

    // A missing task: plain words, a way back, and no actions.
    await page.goto(`${url}/manage/tasks/999`);
    await page.locator('[data-testid=no-task]').filter({ hasText: 'There is no task 999 (or it was deleted).' }).waitFor();
    await page.click('[data-testid=no-task] a');
    await page.waitForURL(/\/manage\/tasks$/);
    await page.goto(`${url}/manage/tasks/999`);
    await page.locator('[data-testid=no-task]').waitFor();
    for (const id of ['export', 'archive', 'set-priority', 'open-item']) {
      assert.equal(await page.locator(`[data-testid=${id}]`).isVisible(), false, id);
    }
    // The server's message, never its code and status.
    await page.goto(`${url}/manage/items/999999`);
    const refused = page.locator('.error').first();
    await refused.waitFor();
    assert.doesNotMatch(await refused.textContent(), /not_found|HTTP 404/);
  } finally {
    await browser.close();
    server.stop();
  }
});

test('an annotator on the console screens is told they are for managers and offered nothing', (t) =>
  withDemo(t, async ({ url, page }) => {
    const task = await demoTask(url, 'classification');
    await signIn(page, url, A1);
    for (const path of ['/manage/tasks', '/manage/tasks/new', `/manage/tasks/${task.id}`, '/manage/uploads', '/manage/jobs']) {
      await page.goto(`${url}${path}`);
      await page.locator('[data-testid=managers-only]').filter({ hasText: "for the project's managers" }).waitFor();
      for (const id of ['bulk-bar', 'new-task', 'export', 'create']) {
        assert.equal(await page.locator(`[data-testid=${id}]`).count(), 0, `${path}: ${id}`);
      }
    }
    await page.click('[data-testid=managers-only] a');
    await page.waitForURL(/\/tasks$/);
  }));
