import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BROWSER_HOOK_TIMEOUT_MS, launchChromium } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HISTOGRAM_PLUGIN, publishDir, REPO, rng, startTestHost, TEST_TOKEN } from '../helpers/host.js';
import { startTestNats } from '../helpers/nats.js';
import { tempDir, untilWallClock, waitFor } from '../helpers/tmp.js';

const run = promisify(execFile);
/** Debian's chromium (`make chromium`): playwright-core drives it and downloads no browser. */
/** Where the test writes a screenshot of each page (git-ignored; `make screenshots` copies them to docs/screenshots). */
const SHOTS = join(REPO, 'test/ui/screenshots');
/** A feature name that is an HTML payload: the dashboard must show it as text. */
const XSS = '<img src=x onerror="window.__xss=1">';

/**
 * The web dashboard (`/ui`) in a real Chromium against a real host with real traffic: a drifting
 * endpoint and a calm one analysed by histogram-data-drift, and an app that fails every window
 * until it is quarantined.
 */
describe('web dashboard', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let browser: Browser;
  let base: string;
  const PERIOD = 1000;
  const features = ['a', 'b', XSS];
  const r = rng(11);
  const normalRow = () => [r.normal(0, 1), r.normal(10, 2), r.uniform()];
  // every feature drifts, b the farthest: it is the most drifted feature of the drifted window
  const driftRow = () => [r.normal(3, 1), r.normal(30, 2), r.uniform() ** 4];
  const consoleErrors: string[] = [];
  let lastWindow = 0;
  let firstWindow = 0;

  const send = async (endpoint: string, ws: number, gen: () => number[]) => {
    await untilWallClock(ws);
    const events = Array.from({ length: 200 }, (_, i) => ({ when: ws + (i * (PERIOD - 10)) / 200, inputs: [gen()], outputs: [r.uniform()] }));
    expect(await env.client.sendEvents(endpoint, events)).toMatchObject({ accepted: 200 });
  };

  /** A signed-in page (the admin token unless another is given), its console errors collected. */
  const signedIn = async (token = TEST_TOKEN, opts: { bypassCSP?: boolean } = {}): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...opts });
    const page = await context.newPage();
    page.on('console', (m) => {
      // a window without a stored profile answers 404 (the page then draws from the results): not an error of the page
      if (m.type() === 'error' && !/status of 404/.test(m.text())) consoleErrors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
    await page.goto(`${base}/ui/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'main' }).waitFor();
    return { context, page };
  };
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });

  beforeAll(async () => {
    // the dashboard as `npm run build` makes it
    await run(process.execPath, [join(REPO, 'host/scripts/build-ui.mjs')], { timeout: 120_000 });
    await mkdir(SHOTS, { recursive: true });
    dir = await tempDir('mw-ui-');
    nats = await startTestNats();
    // an alert rule of the --alerts file: the evaluator has it from its start
    const alertsFile = join(dir.path, 'alerts.json');
    await writeFile(
      alertsFile,
      JSON.stringify({ rules: [{ name: 'drift-detected', endpoints: { names: ['drifting'] }, when: { status: 'detected' }, severity: 'high' }] }),
    );
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 200, windowAttempts: 1, quarantineAfter: 2, alertsFile });
    base = env.host.apiUrl.replace(/\/$/, '');
    await publishDir(env.client, HISTOGRAM_PLUGIN);
    // an app that throws on every window (but the smoke run's, at the epoch): quarantined after two
    const failing = join(dir.path, 'always-fails');
    await mkdir(join(failing, 'src'), { recursive: true });
    await writeFile(
      join(failing, 'plugin.json'),
      JSON.stringify({ name: 'always-fails', version: '1.0.0', description: 'Throws on every window.', entry: 'src/index.ts', runOnEmptyWindows: true }),
    );
    await writeFile(
      join(failing, 'src/index.ts'),
      "import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';\nexport default class F extends MonitoringApplication {\n  doTracking(ctx: MonitoringContext) {\n    if (ctx.windowStart.getTime() === 0) return [];\n    throw new Error('always <b>fails</b>');\n  }\n}\n",
    );
    // an app that fails on the endpoint 'flaky' only (once: not quarantined), and finds nothing elsewhere
    const flakyApp = join(dir.path, 'fails-on-flaky');
    await mkdir(join(flakyApp, 'src'), { recursive: true });
    await writeFile(
      join(flakyApp, 'plugin.json'),
      JSON.stringify({ name: 'fails-on-flaky', version: '1.0.0', description: "Fails on the endpoint 'flaky'.", entry: 'src/index.ts' }),
    );
    await writeFile(
      join(flakyApp, 'src/index.ts'),
      "import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';\nexport default class F extends MonitoringApplication {\n  doTracking(ctx: MonitoringContext) {\n    if (ctx.endpoint.name === 'flaky') throw new Error('flaky');\n    return [];\n  }\n}\n",
    );
    await publishDir(env.client, flakyApp);
    for (const name of ['drifting', 'calm', 'flaky']) {
      await env.client.createEndpoint({
        name,
        featureNames: features,
        labelNames: ['y'],
        tags: { team: { calm: 'blue', drifting: 'red', flaky: 'green' }[name]! },
      });
      const reference = Array.from({ length: 2000 }, () => Object.fromEntries([...normalRow().map((v, i) => [features[i]!, v]), ['y', 0]]));
      await env.client.setReference(name, JSON.stringify(reference), 'json');
    }
    await publishDir(env.client, failing);
    const start = Math.ceil(Date.now() / PERIOD) * PERIOD;
    await send('calm', start, normalRow);
    await send('drifting', start, normalRow);
    await send('calm', start + PERIOD, normalRow);
    await send('drifting', start + PERIOD, driftRow);
    await send('flaky', start + PERIOD, normalRow);
    lastWindow = start + PERIOD;
    firstWindow = start;
    await waitFor(
      'the drifted window and the calm ones analysed, the failing app quarantined',
      async () => {
        const w = await env.client.results({ endpoint: 'drifting', app: 'histogram-data-drift' });
        const c = await env.client.results({ endpoint: 'calm', app: 'histogram-data-drift' });
        const p = await env.client.getPlugin('always-fails');
        const f = await env.client.results({ endpoint: 'flaky', app: 'fails-on-flaky' });
        return w.some((x) => x.windowStart === lastWindow && x.outcome === 'ok') &&
          c.some((x) => x.windowStart === lastWindow) &&
          f.some((x) => x.outcome === 'error') &&
          p.status === 'quarantined'
          ? true
          : undefined;
      },
      60_000,
    );
    browser = await launchChromium();
  }, 120_000 + BROWSER_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('signs in with a token: an HttpOnly, SameSite=Strict session cookie; a cookie change needs an Origin; sign-out ends it', async () => {
    const bad = await fetch(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'nope' }) });
    expect(bad.status).toBe(401);
    const res = await fetch(`${base}/ui/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TEST_TOKEN }),
    });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^mw_session=[A-Za-z0-9_-]{40,}; /);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toMatch(/Max-Age=\d+/);
    expect(cookie).not.toContain('Secure'); // served over plain HTTP here; over HTTPS it is Secure
    expect(cookie).not.toContain(TEST_TOKEN);
    const session = cookie.split(';')[0]!;
    // reads by cookie
    const list = await fetch(`${base}/api/v1/endpoints`, { headers: { cookie: session } });
    expect(list.status).toBe(200);
    // a change by cookie without an Origin is refused; with a foreign Origin the web guard refuses it; with its own it passes
    const change = (headers: Record<string, string>) =>
      fetch(`${base}/api/v1/endpoints/calm`, {
        method: 'PATCH',
        headers: { cookie: session, 'content-type': 'application/json', ...headers },
        body: '{"tags":{"x":"1"}}',
      });
    expect((await change({})).status).toBe(403);
    expect((await change({ origin: 'http://evil.example' })).status).toBe(403);
    expect((await change({ origin: base })).status).toBe(200);
    // sign out: the cookie is cleared and the session no longer works
    const out = await fetch(`${base}/ui/session`, { method: 'DELETE', headers: { cookie: session, origin: base } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
    expect((await fetch(`${base}/api/v1/endpoints`, { headers: { cookie: session } })).status).toBe(401);

    // in the browser: the cookie as the browser keeps it
    const { context, page } = await signedIn();
    const [c] = await context.cookies();
    expect(c).toMatchObject({ name: 'mw_session', httpOnly: true, sameSite: 'Strict', secure: false });
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe('');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    await shot(page, 'sign-in');
    await context.close();
  });

  it('lists every endpoint with the worst latest status of its apps', async () => {
    const { context, page } = await signedIn();
    await page.locator('tr[data-endpoint="drifting"]').waitFor();
    expect(await page.locator('tr[data-endpoint="drifting"]').getAttribute('data-status')).toBe('detected');
    // the calm endpoint's histogram drift finds nothing, but the failing app on it is quarantined
    const calm = page.locator('tr[data-endpoint="calm"]');
    expect(await calm.locator('[data-app="histogram-data-drift"]').getAttribute('data-status')).toBe('no detection');
    expect(await calm.getAttribute('data-status')).toBe('quarantined');
    await shot(page, 'overview');
    // filtered by label, in a URL that can be shared
    await page.goto(`${base}/ui/#/?q=team%3Dblue`);
    await page.locator('[data-testid="count"]', { hasText: '1 of 3' }).waitFor();
    expect(await page.locator('tr[data-endpoint]').count()).toBe(1);
    await context.close();
  });

  it('shows the windows analysed of each endpoint (GET /api/v1/endpoints stats.windowsAnalysed), and an app whose newest window failed in the failed colour', async () => {
    // the count the writer keeps: the distinct windows with rows stored of the endpoint (calm and flaky get no more traffic)
    const distinct = async (endpoint: string) => new Set((await env.client.results({ endpoint })).filter((w) => w.rows > 0).map((w) => w.windowStart)).size;
    const calm = await distinct('calm');
    expect(calm).toBe(2);
    expect(await distinct('flaky')).toBe(1);
    const { context, page } = await signedIn();
    await page.goto(`${base}/ui/#/?sort=name`);
    await page.locator('tr[data-endpoint="calm"] [data-testid="analysed"]', { hasText: new RegExp(`^${calm}$`) }).waitFor();
    expect(await page.locator('tr[data-endpoint="flaky"] [data-testid="analysed"]').textContent()).toBe('1');
    // flaky: its histogram finds nothing, fails-on-flaky failed its newest window: the row is failed, above the quarantined app
    const flaky = page.locator('tr[data-endpoint="flaky"]');
    expect(await flaky.locator('[data-app="fails-on-flaky"]').getAttribute('data-status')).toBe('failed');
    expect(await flaky.locator('[data-app="always-fails"]').getAttribute('data-status')).toBe('quarantined');
    expect(await flaky.getAttribute('data-status')).toBe('failed');
    expect(
      await flaky
        .locator('.badge.lvl-failed')
        .evaluate((e) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(e).backgroundColor),
    ).toBe('rgb(74, 20, 140)');
    // fails-on-flaky ran fine on calm: no failed chip there
    expect(await page.locator('tr[data-endpoint="calm"] [data-app="fails-on-flaky"]').count()).toBe(0);
    // worst first: detected, failed, quarantined
    await page.goto(`${base}/ui/#/?sort=status`);
    await page.locator('tr[data-endpoint]').first().waitFor();
    expect(await page.locator('tr[data-endpoint]').evaluateAll((els) => els.map((e) => e.getAttribute('data-endpoint')))).toEqual([
      'drifting',
      'flaky',
      'calm',
    ]);
    await context.close();
  });

  it("opens any stored window through GET /api/v1/endpoints/:name/windows/:windowStart (every app's output and the profile), never through the newest-results list", async () => {
    const get = (path: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    const res = await get(`/api/v1/endpoints/drifting/windows/${firstWindow}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      endpoint: string;
      windowStart: number;
      windows: Array<{ app: string; outcome: string }>;
      profile: { features: object } | null;
    };
    expect(body).toMatchObject({ endpoint: 'drifting', windowStart: firstWindow });
    expect(body.windows.map((w) => w.app)).toEqual(expect.arrayContaining(['always-fails', 'fails-on-flaky', 'histogram-data-drift']));
    expect(Object.keys(body.profile!.features)).toEqual(expect.arrayContaining(['a', 'b', XSS]));
    // windows start on the period: none starts 1 ms after one
    const none = await get(`/api/v1/endpoints/drifting/windows/${firstWindow + 1}`);
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { message: string } }).error.message).toContain('has no stored window starting at');
    expect((await get('/api/v1/endpoints/drifting/windows/yesterday')).status).toBe(400);

    // the oldest window of the endpoint, in the browser: asked of the single-window route alone
    const { context, page } = await signedIn();
    const asked: string[] = [];
    page.on('request', (r) => asked.push(new URL(r.url()).pathname));
    await page.goto(`${base}/ui/#/endpoints/drifting/windows/histogram-data-drift/${firstWindow}`);
    await page.locator('li.feature').first().waitFor();
    expect(asked).toContain(`/api/v1/endpoints/drifting/windows/${firstWindow}`);
    expect(asked.filter((p) => p.startsWith('/api/v1/results'))).toEqual([]);
    expect(await page.locator('table.results tr[data-app="histogram-data-drift"]').count()).toBeGreaterThan(0);
    // the failed app's output of the same window is listed with its outcome
    await page.goto(`${base}/ui/#/endpoints/flaky/windows/histogram-data-drift/${lastWindow}`);
    await page.locator('table.results tr[data-app="fails-on-flaky"][data-outcome="error"]').waitFor();
    await context.close();
  });

  it('lists active alerts with their rule, endpoint, result and windows; counts them in the header and the row; Acknowledge changes the alert', async () => {
    const alert = await waitFor('the drift-detected alert fires', async () => (await env.client.listAlerts()).find((a) => a.rule === 'drift-detected'), 60_000);
    // fired by the drifted window, and still firing: the windows after it had no rows
    expect(alert).toMatchObject({ endpoint: 'drifting', state: 'firing', windows: [lastWindow] });
    const { context, page } = await signedIn();
    await page.locator('[data-testid="active-alerts"]').waitFor();
    expect(Number(await page.locator('[data-testid="active-alerts"]').textContent())).toBeGreaterThanOrEqual(1);
    await page.locator('tr[data-endpoint="drifting"] [data-testid="endpoint-alerts"]').waitFor();
    expect(await page.locator('tr[data-endpoint="calm"] [data-testid="endpoint-alerts"]').count()).toBe(0);
    await page.getByRole('link', { name: /^Alerts/ }).click();
    const row = page.locator(`tr[data-alert="${alert.id}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-state')).toBe('firing');
    expect(await row.textContent()).toContain('drifting');
    expect(await row.textContent()).toContain(alert.result!);
    expect(await row.locator('a.window-link').count()).toBe(alert.windows.length);
    await shot(page, 'alerts');
    await row.getByRole('button', { name: 'Acknowledge' }).click();
    await page.locator(`tr[data-alert="${alert.id}"][data-state="acknowledged"]`).waitFor();
    expect(await env.client.getAlert(alert.id)).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'admin' });
    expect(await row.getByRole('button', { name: 'Acknowledge' }).count()).toBe(0);
    await context.close();

    // a read-only token sees the alert, and no buttons
    const reader = await env.client.createToken({ name: 'alerts-reader', scopes: ['read'] });
    const ro = await signedIn(reader.token);
    await ro.page.goto(`${base}/ui/#/alerts`);
    await ro.page.locator(`tr[data-alert="${alert.id}"]`).waitFor();
    expect(await ro.page.getByRole('button', { name: /Acknowledge|Resolve/ }).count()).toBe(0);
    await ro.context.close();
  });

  it('marks the drifted window on the chart, and its page shows the drifted feature first, with an HTML feature name as text', async () => {
    const { context, page } = await signedIn();
    await page.goto(`${base}/ui/#/endpoints/drifting`);
    const chart = page.locator('[data-series="histogram-data-drift.result.general_drift"] .chart');
    await chart.waitFor();
    expect(Number(await chart.getAttribute('data-detected'))).toBeGreaterThanOrEqual(1);
    await page.waitForSelector('[data-series="histogram-data-drift.result.general_drift"] .detected-window');
    // the app's thresholds (histogram-data-drift's defaults) are drawn
    await page.waitForSelector('[data-series="histogram-data-drift.result.general_drift"] .chart[data-thresholds="0.5,0.7"]');
    await shot(page, 'endpoint');
    await page.locator('.detected-window').first().click();
    await page.locator('li.feature').first().waitFor();
    expect(page.url()).toContain(`#/endpoints/drifting/windows/histogram-data-drift/${lastWindow}`);
    const order = await page.locator('li.feature').evaluateAll((els) => els.map((e) => e.getAttribute('data-feature')));
    expect(order[0]).toBe('b');
    expect(await page.locator('li.feature').first().getAttribute('data-verdict')).toBe('detected');
    expect(order).toContain(XSS);
    // the payload is text: no element made of it, no script run
    expect(await page.locator('li.feature[data-feature^="<img"] .fname').textContent()).toBe(XSS);
    expect(await page.locator('.features img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as Record<string, unknown>).__xss)).toBeUndefined();
    await shot(page, 'window');
    await context.close();
  });

  it('updates a chart when a new window is stored, without reloading', async () => {
    const { context, page } = await signedIn();
    await page.goto(`${base}/ui/#/endpoints/drifting`);
    const chart = page.locator('[data-series="histogram-data-drift.result.general_drift"] .chart');
    await chart.waitFor();
    const before = Number(await chart.getAttribute('data-points'));
    await page.evaluate(() => ((globalThis as Record<string, unknown>).__marker = 1));
    const ws = Math.ceil(Date.now() / PERIOD) * PERIOD;
    await send('drifting', ws, normalRow);
    await page.waitForFunction(
      (n) =>
        Number(
          (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(a: string): string | null } | null } }).document
            .querySelector('[data-series="histogram-data-drift.result.general_drift"] .chart')
            ?.getAttribute('data-points'),
        ) > n,
      before,
      { timeout: 60_000 },
    );
    // the same document: it was not reloaded
    expect(await page.evaluate(() => (globalThis as Record<string, unknown>).__marker)).toBe(1);
    await context.close();
  });

  it('shows a quarantined app with its reason and last error; a read-only token sees no lifecycle buttons', async () => {
    const { context, page } = await signedIn();
    await page.goto(`${base}/ui/#/apps`);
    const app = page.locator('article.app[data-app="always-fails"]');
    await app.waitFor();
    expect(await app.getAttribute('data-status')).toBe('quarantined');
    expect((await app.locator('.status-reason').textContent())!.length).toBeGreaterThan(0);
    expect(await app.locator('.error-text').textContent()).toContain('always <b>fails</b>');
    expect(await app.locator('b', { hasText: 'fails' }).count()).toBe(0);
    expect(await app.getByRole('button', { name: 'Enable' }).count()).toBe(1);
    await shot(page, 'apps');
    await page.goto(`${base}/ui/#/serving/drifting`);
    await page.locator('h1', { hasText: 'Serving of' }).waitFor();
    await shot(page, 'serving');
    await page.goto(`${base}/ui/#/dlq`);
    await page.locator('h1', { hasText: 'Dead letters' }).waitFor();
    await shot(page, 'dead-letters');
    await context.close();

    const reader = await env.client.createToken({ name: 'ui-reader', scopes: ['read'] });
    const ro = await signedIn(reader.token);
    await ro.page.goto(`${base}/ui/#/apps`);
    await ro.page.locator('article.app[data-app="always-fails"]').waitFor();
    expect(await ro.page.getByRole('button', { name: 'Enable' }).count()).toBe(0);
    expect(await ro.page.getByRole('button', { name: 'Recent logs' }).count()).toBeGreaterThan(0);
    await ro.context.close();
  });

  it('serves a result over a range, downsampled on the server (GET /api/v1/endpoints/:name/series), and names what is wrong with a query', async () => {
    const get = async (q: string) => {
      const res = await fetch(`${base}/api/v1/endpoints/drifting/series?${q}`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
      return {
        status: res.status,
        body: (await res.json()) as { total: number; downsampled: boolean; points: Array<[number, number, number]>; error?: { message: string } },
      };
    };
    const all = await get('app=histogram-data-drift&result=general_drift&points=10');
    expect(all.status).toBe(200);
    expect(all.body.total).toBeGreaterThanOrEqual(2);
    expect(all.body.points.find((p) => p[0] === lastWindow)).toEqual([lastWindow, expect.any(Number), 2]);
    const from = await get(`name=histogram-data-drift.result.general_drift&from=${lastWindow}&to=${lastWindow + PERIOD}`);
    expect(from.body.points.map((p) => p[0])).toEqual([lastWindow]);
    const bad = await get('app=histogram-data-drift&result=general_drift&points=5');
    expect(bad.status).toBe(400);
    expect(bad.body.error!.message).toContain('points: expected a whole number from 10 to 20000');
    expect((await get('result=general_drift')).status).toBe(400);
  });

  it('answers the overview in one request (GET /api/v1/overview): endpoints with stats as listed, latest values, plugins', async () => {
    const get = async (path: string) => (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } })).json();
    const o = (await get('/api/v1/overview')) as {
      endpoints: Array<{ name: string; id: string; tags: Record<string, string>; stats?: { requests: number } }>;
      latest: Array<{ endpointName: string; app: string; name: string; status: number; windowStart: number; extraData?: unknown }>;
      plugins: Array<{ name: string; status: string }>;
    };
    const listed = (await get('/api/v1/endpoints')) as { endpoints: Array<{ name: string; id: string; tags: Record<string, string>; stats?: unknown }> };
    expect(o.endpoints.map((e) => e.name)).toEqual(['calm', 'drifting', 'flaky']);
    expect(o.endpoints.map(({ stats: _s, ...e }) => e)).toEqual(listed.endpoints.map(({ stats: _s, ...e }) => e));
    expect(o.endpoints.every((e) => typeof e.stats?.requests === 'number')).toBe(true);
    // the same results as GET /api/v1/results/latest (their values move on as windows are stored), without extraData
    const latest = (await get('/api/v1/results/latest')) as { latest: Array<{ endpointName: string; app: string; name: string }> };
    const keys = (ls: Array<{ endpointName: string; app: string; name: string }>) => ls.map((l) => `${l.endpointName}/${l.app}/${l.name}`).sort();
    expect(keys(o.latest)).toEqual(keys(latest.latest));
    expect(keys(o.latest)).toContain('drifting/histogram-data-drift/general_drift');
    expect(o.latest.every((l) => l.extraData === undefined && typeof l.status === 'number' && l.windowStart > 0)).toBe(true);
    expect(o.plugins.find((p) => p.name === 'always-fails')?.status).toBe('quarantined');
  });

  it('has no serious accessibility violations (axe-core) on any page, and no console errors', async () => {
    const axe = await readFile(join(REPO, 'node_modules/axe-core/axe.min.js'), 'utf8');
    // axe is injected as an inline script, which the dashboard's CSP forbids: this context bypasses it
    const { context, page } = await signedIn(TEST_TOKEN, { bypassCSP: true });
    const pages: Array<[string, string]> = [
      ['#/', 'tr[data-endpoint]'],
      ['#/endpoints/drifting', '.chart'],
      [`#/endpoints/drifting/windows/histogram-data-drift/${lastWindow}`, 'li.feature'],
      ['#/serving/drifting', 'h1'],
      ['#/apps', 'article.app'],
      ['#/dlq', 'h1'],
      ['#/alerts', 'h1'],
    ];
    const found: string[] = [];
    for (const [hash, ready] of pages) {
      await page.goto(`${base}/ui/${hash}`);
      await page.locator(ready).first().waitFor();
      await page.addScriptTag({ content: axe });
      const violations = await page.evaluate<string[]>(`axe.run({ resultTypes: ['violations'] }).then((res) =>
        res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id + ': ' + v.help + ' ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`);
      found.push(...violations.map((v) => `${hash} ${v}`));
    }
    await context.close();
    expect(found).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
