import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BROWSER_HOOK_TIMEOUT_MS, launchChromium } from './helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WindowRecord } from '@modelwatch/protocol';
import type { Report } from '../host/src/report/index.js';
import { authHeaders, HISTOGRAM_PLUGIN, publishDir, REPO, rng, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { CLI } from './helpers/processes.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const run = promisify(execFile);
/** Debian's chromium (`make system-deps`): playwright drives it, it downloads no browser. */
const DATA_DRIFT_PLUGIN = join(REPO, 'plugins/data-drift');
/** A feature name that is markup: the report must show it as text. */
const XSS = '<img src=x onerror=alert(1)>';

/**
 * Reports (`modelwatch report`, `GET /api/v1/endpoints/:name/report`) of a real host with real
 * traffic: two windows like the reference, then two where feature `b` moved, analysed by
 * data-drift (a verdict per feature) and histogram-data-drift.
 */
describe('reports: one self-contained HTML file, or its JSON', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const PERIOD = 1000;
  const features = ['a', 'b', XSS];
  const r = rng(11);
  const normalRow = () => [r.normal(0, 1), r.normal(10, 2), r.normal(5, 1)];
  const driftRow = () => [r.normal(0, 1), r.normal(20, 2), r.normal(5, 1)];
  let from = 0;
  let to = 0;
  let driftWindows: number[] = [];
  let stored: WindowRecord[] = [];
  const cli = async (...args: string[]) =>
    (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', env.host.apiUrl, ...args], { timeout: 60_000 })).stdout;
  const get = (query: string) => fetch(`${env.host.apiUrl}/api/v1/endpoints/rep/report?${query}`, { headers: authHeaders() });
  const range = () => `from=${from}&to=${to}`;
  const ofRange = (w: WindowRecord[]) => w.filter((x) => x.windowStart >= from && x.windowStart < to);

  beforeAll(async () => {
    dir = await tempDir('mw-report-');
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 200 });
    await publishDir(env.client, HISTOGRAM_PLUGIN);
    await publishDir(env.client, DATA_DRIFT_PLUGIN);
    await env.client.createEndpoint({ name: 'rep', featureNames: features, labelNames: ['y'] });
    const reference = [[...features, 'y'].join(','), ...Array.from({ length: 1000 }, () => [...normalRow(), 0].join(','))].join('\n');
    await env.client.setReference('rep', reference, 'csv');

    const start = Math.floor(Date.now() / PERIOD) * PERIOD + PERIOD;
    const starts = [start, start + PERIOD, start + 2 * PERIOD, start + 3 * PERIOD];
    driftWindows = starts.slice(2);
    from = start;
    to = start + 4 * PERIOD;
    for (const ws of starts) {
      const gen = driftWindows.includes(ws) ? driftRow : normalRow;
      await untilWallClock(ws);
      const events = Array.from({ length: 300 }, (_, i) => ({ when: ws + (i * (PERIOD - 10)) / 300, inputs: [gen()], outputs: [0] }));
      expect(await env.client.sendEvents('rep', events)).toEqual({ accepted: 300, rejected: [] });
    }
    stored = await waitFor(
      'four windows analysed by both apps',
      async () => {
        const w = ofRange(await env.client.results({ endpoint: 'rep' }));
        return w.filter((x) => x.outcome === 'ok').length === 8 ? w : undefined;
      },
      60_000,
    );
  });

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('JSON: the stored results of the range, the drifted feature first, the statuses', async () => {
    const res = await get(`${range()}&format=json`);
    expect(res.status).toBe(200);
    const report = (await res.json()) as Report;
    expect(report.v).toBe(1);
    expect(report.endpoint).toMatchObject({ name: 'rep', featureNames: features, referenceRows: 1000 });
    const byKey = (w: WindowRecord) => `${w.windowStart}/${w.app}`;
    expect(report.windows.map(byKey)).toEqual([...stored].sort((a, b) => a.windowStart - b.windowStart || a.app.localeCompare(b.app)).map(byKey));
    for (const w of report.windows) expect(w).toEqual(stored.find((s) => byKey(s) === byKey(w)));
    expect(report.range).toEqual({ windows: 8, from, to });

    // the detailed window is a drifted one; `b` is drifted there and first in the table
    expect(driftWindows).toContain(report.summary.detail!.windowStart);
    expect(report.features[0]!.name).toBe('b');
    expect(report.features[0]!.drifted).toBe(true);
    expect(report.summary.driftedFeatures[0]).toBe('b');
    expect(report.features[0]!.driftedWindows).toBe(2);
    expect(report.features[0]!.comparedWindows).toBe(4);
    const ks = report.features[0]!.tests.find((t) => t.app === 'data-drift')!;
    expect(ks).toMatchObject({ result: 'drift_b', drifted: true });
    expect(ks.pValue).toBeLessThan(0.001);
    expect(report.features[0]!.tests.find((t) => t.app === 'histogram-data-drift')!.distance).toBeGreaterThan(0.5);
    // reference statistics and its histogram, and the window's from its stored profile, on the same bins
    const f = report.features[0]!;
    expect(f.reference).toMatchObject({ type: 'numeric', count: 1000 });
    expect(f.histogram!.reference).toHaveLength(22);
    expect(report.summary.detail!.profile).toBe(true);
    expect(f.histogram!.current).toHaveLength(22);
    expect(f.current!.count).toBeGreaterThan(0);
    expect(f.histogram!.current!.reduce((a, b) => a + b, 0)).toBe(f.current!.count);

    // the statuses are the stored ones: data-drift's dataset result and general_drift, per window
    const worstOf = (app: string, ws: number) =>
      stored.find((w) => w.app === app && w.windowStart === ws)!.results.filter((x) => x.extraData?.column === undefined)[0]!.status;
    const dd = report.series.find((s) => s.app === 'data-drift' && s.name === 'data_drift')!;
    expect(dd.points.map((p) => p.windowStart)).toEqual([from, from + PERIOD, from + 2 * PERIOD, from + 3 * PERIOD]);
    expect(dd.points.map((p) => p.value)).toEqual(
      dd.points.map((p) => stored.find((w) => w.app === 'data-drift' && w.windowStart === p.windowStart)!.results.find((x) => x.name === 'data_drift')!.value),
    );
    expect(dd.thresholds).toEqual({ potential: 0.25, detected: 0.5 });
    const gd = report.series.find((s) => s.name === 'general_drift')!;
    expect(gd.thresholds).toEqual({ potential: 0.5, detected: 0.7 });
    const apps = Object.fromEntries(report.summary.apps.map((a) => [a.app, a]));
    expect(Object.keys(apps).sort()).toEqual(['data-drift', 'histogram-data-drift']);
    expect(apps['data-drift']!.windows).toBe(4);
    expect(apps['data-drift']!.statuses.potential_detection + apps['data-drift']!.statuses.detected).toBe(2);
    expect(worstOf('data-drift', driftWindows[1]!)).toBeGreaterThanOrEqual(1);
    expect(report.summary.status).toMatch(/^(potential_detection|detected)$/);
  });

  it('HTML: a download with a strict CSP, no outside reference, the drifted feature first, names escaped', async () => {
    const res = await get(range());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="modelwatch-report-rep-[\dT-]+Z\.html"$/);
    expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; img-src data:;.* sandbox$/);
    const page = await res.text();
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;');
    expect(page).not.toMatch(/\s(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(page).not.toMatch(/<link|<script|<iframe|@import|url\(/i);
    // the features table: b first; the statuses shown
    const rows = [...page.matchAll(/<tr data-feature="([^"]*)"/g)].map((m) => m[1]);
    expect(rows[0]).toBe('b');
    expect(rows).toHaveLength(3);
    expect(page).toMatch(/badge b-(potential_detection|detected)/);
    expect(page).toContain('badge b-no_detection');
    expect(page).toContain('<h3>histogram-data-drift · general_drift');
    // the feature name that is markup is text, everywhere
    expect(page).not.toContain(XSS);
    expect(page).not.toMatch(/<img/i);
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(rows).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('refuses a bad query naming what is wrong, and a request without a token', async () => {
    const bad = await get('format=pdf');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/format: use html or json/);
    const range = await get(`window=${from}&from=${from}`);
    expect(range.status).toBe(400);
    const none = await fetch(`${env.host.apiUrl}/api/v1/endpoints/nope/report?format=json`, { headers: authHeaders() });
    expect(none.status).toBe(404);
    const anon = await fetch(`${env.host.apiUrl}/api/v1/endpoints/rep/report`);
    expect(anon.status).toBe(401);
  });

  it('modelwatch report -o writes the HTML file; --format json prints the same report; --window and --app pick windows', async () => {
    const file = join(dir.path, 'report.html');
    const out = await cli('report', '--endpoint', 'rep', '--from', String(from), '--to', String(to), '-o', file);
    expect(out).toMatch(/report of rep written to .*report\.html: 8 window\(s\), status (potential_detection|detected), drifted: b/);
    const page = await readFile(file, 'utf8');
    expect([...page.matchAll(/<tr data-feature="([^"]*)"/g)][0]![1]).toBe('b');
    expect(page).not.toMatch(/<script|<link/i);

    const json = JSON.parse(
      await cli('report', '--endpoint', 'rep', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--format', 'json'),
    ) as Report;
    expect(json.v).toBe(1);
    expect(json.windows).toHaveLength(8);
    expect(json.features[0]!.name).toBe('b');

    const one = JSON.parse(await cli('report', '--endpoint', 'rep', '--window', String(driftWindows[0]), '--app', 'data-drift', '--json')) as Report;
    expect(one.windows.map((w) => [w.app, w.windowStart])).toEqual([['data-drift', driftWindows[0]]]);
    expect(one.summary.detail!.windowStart).toBe(driftWindows[0]);
    expect(one.features[0]!.name).toBe('b');

    const jsonFile = join(dir.path, 'report.json');
    await cli('report', '--endpoint', 'rep', '--window', String(driftWindows[1]), '--format', 'json', '--output', jsonFile);
    expect((JSON.parse(await readFile(jsonFile, 'utf8')) as Report).range.windows).toBe(2);
  });

  it('batch send prints the report of its batch; modelwatch report --batch reports its windows', async () => {
    const past = Math.floor(Date.now() / PERIOD) * PERIOD - 3_600_000;
    const file = join(dir.path, 'batch.jsonl');
    const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ when: past + (i * (2 * PERIOD - 20)) / 200, inputs: [driftRow()], outputs: [0] }));
    await writeFile(file, `${lines.join('\n')}\n`);
    const sent = await cli('batch', 'send', '--endpoint', 'rep', '--id', 'b1', file);
    expect(sent).toContain('report: modelwatch report --endpoint rep --batch b1 -o report-b1.html (API: /api/v1/endpoints/rep/report?batch=b1)');
    await waitFor(
      'the batch analysed by both apps',
      async () => ((await env.client.results({ endpoint: 'rep', batch: 'b1' })).length === 4 ? true : undefined),
      60_000,
    );
    const report = JSON.parse(await cli('report', '--endpoint', 'rep', '--batch', 'b1', '--format', 'json')) as Report;
    expect(report.query).toEqual({ endpoint: 'rep', batch: 'b1' });
    expect(report.windows.map((w) => w.windowStart)).toEqual([past, past, past + PERIOD, past + PERIOD]);
    expect(report.features[0]!.name).toBe('b');
    const res = await get('batch=b1');
    expect(await res.text()).toContain('batch b1');
  });

  it('an endpoint or a batch that does not exist is an error naming it, not an empty report', async () => {
    const file = join(dir.path, 'none.html');
    const failure = (...args: string[]) =>
      run(process.execPath, ['--no-node-snapshot', CLI, '--host', env.host.apiUrl, ...args], { timeout: 60_000 }).then(
        () => undefined,
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
    expect(await failure('report', '--endpoint', 'rep', '--batch', 'nosuch', '-o', file)).toEqual({
      code: 1,
      stderr: "error [NOT_FOUND]: no batch 'nosuch' of endpoint rep (see modelwatch batch list rep; a batch is listed once its events are ingested)\n",
    });
    expect(await failure('report', '--endpoint', 'nope', '-o', file)).toEqual({ code: 1, stderr: "error [NOT_FOUND]: no endpoint named 'nope'\n" });
    expect(existsSync(file)).toBe(false);
    // the route says the same
    const res = await get('batch=nosuch&format=json');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringMatching(/^no batch 'nosuch' of endpoint rep /) } });
  });

  it(
    'opens in Chromium from a file with no console error and no request, every chart drawn',
    async () => {
      const file = join(dir.path, 'browser.html');
      await writeFile(file, await (await get(range())).text());
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        const problems: string[] = [];
        const requests: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
        });
        page.on('pageerror', (e) => problems.push(e.message));
        page.on('request', (q) => requests.push(q.url()));
        await page.goto(`file://${file}`, { waitUntil: 'load' });
        expect(await page.title()).toBe('modelwatch report: rep');
        // the stylesheet applied (its CSP hash matched): the status badge has its colour
        expect(
          await page
            .locator('.badge')
            .first()
            .evaluate((e) => (globalThis as unknown as { getComputedStyle(x: unknown): { color: string } }).getComputedStyle(e).color),
        ).toBe('rgb(255, 255, 255)');
        expect(await page.locator('#features tbody tr').first().locator('td').first().textContent()).toBe('b');
        expect(await page.locator('#features tbody tr').nth(1).locator('td').first().textContent()).not.toBe('b');
        expect(await page.getByText(XSS, { exact: true }).first().isVisible()).toBe(true);
        expect(await page.locator('svg').count()).toBeGreaterThanOrEqual(3 + 2);
        if (process.env.MW_REPORT_SCREENSHOT) await page.screenshot({ path: process.env.MW_REPORT_SCREENSHOT, fullPage: true });
        expect(problems).toEqual([]);
        expect(requests).toEqual([`file://${file}`]);
      } finally {
        await browser.close();
      }
    },
    BROWSER_HOOK_TIMEOUT_MS,
  );
});
