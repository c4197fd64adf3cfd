//! Uploads from the browser: a CSV with two bad rows stores the good rows and shows both errors
//! by row; images go in as media items; a file big enough to be stored as a job is followed to
//! its end, with its bad row shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, ROOT, shot, signIn, withDemo } from './helpers.mjs';

const MANAGER = 'demo-manager';

test('a CSV with two bad rows, images, and a big file followed through its job', async (t) => {
  await withDemo(t, async ({ url, page }) => {
    await signIn(page, url, MANAGER);
    await page.click('[data-nav="Uploads"]');
    await page.locator('[data-testid=upload-form]').waitFor();
    assert.equal(await page.title(), 'Uploads · Quorum');
    const dataset = Number(await page.locator('[data-testid=upload-dataset]').inputValue());
    const project = (await api(url, MANAGER, 'GET', '/me')).projects?.[0]?.id;
    const before = (await api(url, MANAGER, 'GET', `/projects/${project}/uploads`)).uploads.length;
    const count = async () => (await api(url, MANAGER, 'GET', `/projects/${project}/datasets`)).datasets.find((d) => d.id === dataset).items;
    const itemsBefore = await count();

    // Rows 2 (a priority that is not a number) and 4 (a missing cell) are bad.
    const csv = 'external_id,data,priority\nup-1,first,1\nup-2,second,high\nup-3,third,2\nup-4\n';
    await page.setInputFiles('[data-testid=upload-file]', { name: 'rows.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.click('[data-testid=upload-send]');
    const outcome = page.locator('[data-testid=upload-outcome]');
    await outcome.filter({ hasText: '2 new · 0 updated · 0 unchanged · 2 failed' }).waitFor();
    const errors = await page.locator('[data-testid=upload-error]').allTextContents();
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.match(errors[0], /^row 2: .*priority/);
    assert.match(errors[1], /^row 4: /);
    // The server stored the good rows, and the history lists the upload with its two errors.
    const history = (await api(url, MANAGER, 'GET', `/projects/${project}/uploads`)).uploads;
    assert.equal(history.length, before + 1);
    const last = history.find((u) => u.failed === 2 && u.inserted === 2);
    assert.ok(last, JSON.stringify(history));
    assert.equal(await count(), itemsBefore + 2);
    await page.locator('[data-testid=upload]').nth(before).waitFor();
    await shot(page, 'upload-csv');

    // Images, picked together, become items of the dataset.
    const png = readFileSync(join(ROOT, 'public/demo/horse.png'));
    const jpg = readFileSync(join(ROOT, 'public/demo/rocket.jpg'));
    await page.setInputFiles('[data-testid=upload-file]', [
      { name: 'horse.png', mimeType: 'image/png', buffer: png },
      { name: 'rocket.jpg', mimeType: 'image/jpeg', buffer: jpg },
    ]);
    await page.click('[data-testid=upload-send]');
    await outcome.filter({ hasText: '2 new · 0 updated · 0 unchanged · 0 failed' }).waitFor();
    assert.equal(await count(), itemsBefore + 4);

    // More rows than the server stores at once: a job, followed until complete, with its bad row.
    const rows = ['external_id,data'];
    for (let i = 0; i < 5003; i++) rows.push(i === 41 ? `big-${i}` : `big-${i},row ${i}`);
    await page.setInputFiles('[data-testid=upload-file]', { name: 'big.csv', mimeType: 'text/csv', buffer: Buffer.from(rows.join('\n') + '\n') });
    await page.click('[data-testid=upload-send]');
    // Followed while it runs, until it is complete.
    let seen = '';
    for (let i = 0; i < 120 && !/as job \d+: complete/.test(seen); i++) {
      await page.waitForTimeout(500);
      seen = await outcome.textContent();
    }
    assert.match(seen, /as job \d+: complete, 100% done/);
    const bigErrors = await page.locator('[data-testid=upload-error]').allTextContents();
    assert.deepEqual(bigErrors.map((e) => e.match(/^row (\d+):/)?.[1]), ['42']);
    await shot(page, 'upload-job');
  });
});
