//! Accessibility of every console screen: axe-core (from npm) finds no serious or critical
//! violation, each screen has its own window title, nothing is wider than a 1024 px window, and
//! the sidebar leads to each screen by keyboard alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { api, shot, signIn, withDemo } from './helpers.mjs';

const MANAGER = 'demo-manager';
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Serious and critical violations on the page, one line each (axe runs through the debugger,
 *  which the page's Content-Security-Policy does not govern). */
async function violations(page) {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations);
  return found
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
}

test('axe: no serious or critical violation on any console screen, at 1024 px', async (t) => {
  await withDemo(t, async ({ url, page }) => {
    await page.setViewportSize({ width: 1024, height: 768 });
    const { tasks } = await api(url, MANAGER, 'GET', '/tasks?limit=100');
    const task = tasks.find((x) => x.status !== 'archived');
    const { results } = await api(url, MANAGER, 'GET', `/tasks/${task.id}/results`);
    await signIn(page, url, MANAGER);

    // [screen, how to get there, what shows it loaded, title]
    const screens = [
      ['My tasks', '/tasks', '[data-testid=who]', /^My tasks · Quorum$/],
      ['All tasks', '/manage/tasks', '[data-testid=all-task-row]', /^All tasks · Quorum$/],
      ['New task', '/manage/tasks/new', 'form.task-form [name=assignee]', /^New task · Quorum$/],
      ['Task page', `/manage/tasks/${task.id}`, '[data-testid=progress-chart]', /· Quorum$/],
      ['Compare', `/manage/tasks/${task.id}/compare`, 'section.page h1', /^Compare/],
      ['Item', `/manage/items/${results[0].item_id}`, 'section.page h1', /^Item/],
      ['Reservations', '/manage/reservations', 'section.page h1', /^Reservations · Quorum$/],
      ['Uploads', '/manage/uploads', '[data-testid=upload-form]', /^Uploads · Quorum$/],
      ['Jobs', '/manage/jobs', 'section.page h1', /^Jobs · Quorum$/],
      ['Archive', '/manage/archive', 'section.page h1', /^Archive · Quorum$/],
    ];
    const problems = [];
    const titles = new Set();
    for (const [name, path, ready, title] of screens) {
      await page.goto(`${url}${path}`);
      await page.locator(ready).first().waitFor();
      await page.waitForTimeout(300);
      const shown = await page.title();
      assert.match(shown, title, name);
      titles.add(shown);
      for (const v of await violations(page)) problems.push(`${name}: ${v}`);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (wide > 0) problems.push(`${name}: ${wide}px wider than the 1024 px window`);
      await shot(page, `a11y-${name.toLowerCase().replace(/ /g, '-')}`);
    }
    assert.equal(titles.size, screens.length, [...titles].join(', '));
    assert.deepEqual(problems, []);

    // Keyboard alone: Tab reaches the sidebar's Uploads link and Enter opens the screen.
    await page.goto(`${url}/tasks`);
    await page.locator('[data-nav="Uploads"]').waitFor();
    let reached = false;
    for (let i = 0; i < 30 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.dataset?.nav === 'Uploads');
    }
    assert.ok(reached, 'Tab reaches the Uploads link');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=upload-form]').waitFor();
  });
});
