//! The app under the real server's security headers: the Content-Security-Policy is sent, and
//! loading the app (Trunk's inline loader, the wasm, the service worker), signing in and showing
//! the manager's pages (inline style attributes, images) break none of its rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, shot, signIn, startServer } from './helpers.mjs';

test('content security policy: the app works and nothing is refused', async (t) => {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    const { page, context } = browser;
    const refused = [];
    // Every violation, as the page sees it and as the console reports it.
    await context.addInitScript(() => {
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) =>
        window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text()); });

    const res = await page.goto(`${server.url}/`);
    const csp = res.headers()['content-security-policy'] || '';
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval' 'sha256-/, csp);
    assert.match(csp, /frame-ancestors 'none'/, csp);
    assert.equal(res.headers()['x-content-type-options'], 'nosniff');

    await signIn(page, server.url, 'demo-manager');
    await page.goto(`${server.url}/tasks`);
    await page.waitForSelector('[data-testid=who]');
    await page.evaluate(async () => { await navigator.serviceWorker.ready; });
    // An item image from another origin (item URLs can be anywhere) and a data: image.
    await page.evaluate(async () => {
      for (const src of ['http://localhost:59999/item.png', 'data:image/gif;base64,R0lGODlhAQABAAAAACw=']) {
        const img = document.createElement('img');
        img.src = src;
        document.body.append(img);
        await new Promise((done) => { img.onload = done; img.onerror = done; });
      }
    });
    await page.waitForTimeout(300);
    await shot(page, 'csp-tasks');
    const violations = await page.evaluate(() => window.__violations);
    assert.deepEqual([...violations, ...refused], [], 'no CSP violations');
  } finally {
    await browser.close();
    server.stop();
  }
});
