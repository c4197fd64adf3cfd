//! Shared helpers of the browser tests: a real `quorum serve` on port 0 with a fresh SQLite file,
//! a static server for the app shell alone, headless Chromium and screenshots.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve, extname } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
export const DIST = join(ROOT, 'dist');
export const SHOTS = join(ROOT, 'target', 'screenshots');
const QUORUM = process.env.QUORUM_BIN || join(ROOT, 'target', 'debug', 'quorum');

/** Starts `quorum serve --demo` on a fresh database; resolves to {url, stop} or to
 *  {unavailable: reason} when this build of the server cannot serve yet. */
export async function startServer() {
  // Every scenario now runs against the real server; QUORUM_E2E_SCENARIOS=0 leaves them out
  // (e.g. to run only the app-shell tests while the server does not build).
  if (process.env.QUORUM_E2E_SCENARIOS === '0') {
    return { unavailable: 'server scenarios switched off (QUORUM_E2E_SCENARIOS=0)' };
  }
  const dir = mkdtempSync(join(tmpdir(), 'quorum-e2e-'));
  const db = `sqlite://${join(dir, 'e2e.db')}?mode=rwc`;
  const child = spawn(QUORUM, ['serve', '--addr', '127.0.0.1:0', '--database-url', db, '--demo', '--web-dir', DIST], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  return await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error(`quorum serve did not start:\n${out}`)); }, 60_000);
    const onData = (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolvePromise({ url: m[1].replace(/\/$/, ''), stop }); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      stop();
      // Until the server helper lands `serve`, the skeleton refuses; say so instead of failing.
      if (/not implemented|unexpected argument '--addr'/i.test(out)) resolvePromise({ unavailable: `quorum serve is not implemented in this build (${out.trim()})` });
      else reject(new Error(`quorum serve exited with ${code}:\n${out}`));
    });
  });
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.png': 'image/png', '.jpg': 'image/jpeg' };

/** Serves dist/ like `quorum serve` does for non-API paths (index.html fallback); the API is absent. */
export async function startStaticServer() {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path.startsWith('/api/')) { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('no API here'); return; }
    let file = join(DIST, path);
    if (!file.startsWith(DIST) || !existsSync(file) || path === '/') file = join(DIST, 'index.html');
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' });
      res.end(body);
    } catch { res.writeHead(404); res.end(); }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, stop: () => server.close() };
}

/** Headless Debian Chromium with a fresh profile. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'quorum-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1200, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => console.error('page error:', e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 404/.test(m.text())) console.error('console:', m.text()); });
  return { context, page, close: async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); } };
}

/** Saves a screenshot under target/screenshots/. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Signs in through the form. */
export async function signIn(page, url, token) {
  await page.goto(`${url}/`);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=who]');
}

/** Calls the API as `token`. */
export async function api(url, token, method, path, body) {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Screen position of an image pixel of the editor (through the canvas's on-screen box, so
 *  zoom and pan included). */
export async function toScreen(page, x, y) {
  return page.evaluate(([x, y]) => {
    const img = document.querySelector('.editor img');
    const r = document.querySelector('[data-testid=canvas]').getBoundingClientRect();
    return [r.left + (x * r.width) / img.naturalWidth, r.top + (y * r.height) / img.naturalHeight];
  }, [x, y]);
}

/** Waits until the outbox is empty and the last sync succeeded. */
export async function waitSynced(page) {
  await page.locator('[data-testid=pending]').filter({ hasText: /^0 waiting/ }).waitFor({ timeout: 30_000 });
  await page.locator('[data-testid=sync-note]').filter({ hasText: 'synced' }).waitFor();
}

/** Runs `body({url, page})` against a fresh demo server in a fresh browser, and closes both
 *  after; skips the test when this build of the server cannot serve. */
export async function withDemo(t, body) {
  const server = await startServer();
  if (server.unavailable) return t.skip(server.unavailable);
  const browser = await launch();
  try {
    await body({ url: server.url, page: browser.page });
  } finally {
    await browser.close();
    server.stop();
  }
}
