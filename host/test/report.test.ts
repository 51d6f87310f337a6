import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { EndpointRecord, WindowRecord } from '@modelwatch/protocol';
import type { FeatureStats } from '@modelwatch/sdk';
import { html } from '../src/report/html.js';
import { buildReport, REPORT_CSP, renderReportHtml, resolveReportQuery, type ReportProfile, type ReportSource } from '../src/report/index.js';
import { timeOrAgo } from '../src/config/duration.js';

const EDGES = [-Number.MAX_VALUE, ...Array.from({ length: 21 }, (_, i) => i), Number.MAX_VALUE];
const numeric = (counts: number[]): FeatureStats => ({
  type: 'numeric',
  count: counts.reduce((a, b) => a + b, 0),
  missing: 0,
  mean: 10,
  std: 2,
  min: 0,
  max: 20,
  quantiles: { '0.25': 8, '0.5': 10, '0.75': 12 },
  hist: { counts, edges: EDGES },
});
const flat = Array.from({ length: 22 }, (_, i) => (i === 0 || i === 21 ? 0 : 5));
const CAT = '"><svg onload=alert(1)>';

const endpoint: EndpointRecord = {
  id: 'e1',
  name: 'shop',
  featureNames: ['x', 'plan'],
  labelNames: ['y'],
  featureStats: { x: numeric(flat), plan: { type: 'categorical', count: 100, missing: 0, unique: 2, frequencies: { basic: 60, pro: 40 } } },
  referenceRowCount: 100,
  monitoring: true,
  createdAt: 0,
  updatedAt: 0,
};

function window(start: number, results: WindowRecord['results']): WindowRecord {
  return {
    endpointId: 'e1',
    endpointName: 'shop',
    app: 'data-drift',
    version: '1.1.0',
    windowStart: start,
    windowEnd: start + 60_000,
    outcome: 'ok',
    rows: 50,
    results,
    metrics: [],
    durationMs: 1,
    completedAt: start + 61_000,
    runner: 'r',
    attempts: 1,
    storedAt: start + 62_000,
  } as WindowRecord;
}
const perFeature = (column: string, pValue: number, drifted: boolean) => ({
  name: `drift_${column}`,
  value: pValue,
  kind: 0 as const,
  status: drifted ? (2 as const) : (0 as const),
  extraData: { column, method: 'chisquare', statistic: 9, pValue, threshold: 0.05, drifted },
});
const dataset = (status: 0 | 1 | 2, value: number) => ({
  name: 'data_drift',
  value,
  kind: 0 as const,
  status,
  extraData: { driftShare: 0.5, potentialShare: 0.25 },
});

/** What a host would answer: these records, a batch `b1`, and a profile of the drifted window. */
function source(windows: WindowRecord[], profiles: Record<number, ReportProfile>): ReportSource & { asked: unknown[] } {
  const asked: unknown[] = [];
  return {
    asked,
    endpoint: async (name) => (name === 'shop' ? endpoint : undefined),
    hasBatch: async (name, id) => name === 'shop' && id === 'b1',
    windows: async (q) => {
      asked.push(q);
      return windows;
    },
    profile: async (_name, ws) => profiles[ws],
  };
}

describe('the report model', () => {
  const windows = [
    window(0, [dataset(0, 0), perFeature('x', 0.5, false), perFeature('plan', 0.4, false)]),
    window(60_000, [dataset(2, 0.5), perFeature('x', 0.3, false), perFeature('plan', 1e-9, true)]),
    window(120_000, [dataset(0, 0), perFeature('x', 0.6, false), perFeature('plan', 0.2, false)]),
  ];
  const profile: ReportProfile = {
    windowStart: 60_000,
    windowEnd: 120_000,
    rows: 50,
    features: {
      x: numeric(flat.map((c, i) => (i > 10 ? c * 2 : c))),
      plan: { type: 'categorical', count: 50, missing: 0, unique: 3, frequencies: { basic: 10, pro: 10, [CAT]: 30 } },
    },
  };

  it('details the newest window of the worst status, with its profile; drifted features first; thresholds from extraData', async () => {
    const src = source(windows, { 60_000: profile });
    const r = await buildReport(src, { endpoint: 'shop', from: 0, to: 180_000 }, Date.UTC(2026, 0, 1));
    expect(src.asked).toEqual([{ endpoint: 'shop', since: 0 }]);
    expect(r.generatedAt).toBe('2026-01-01T00:00:00.000Z');
    expect(r.summary.status).toBe('detected');
    expect(r.summary.detail).toEqual({ windowStart: 60_000, windowEnd: 120_000, rows: 50, status: 'detected', profile: true });
    expect(r.features.map((f) => [f.name, f.drifted, f.driftedWindows, f.comparedWindows])).toEqual([
      ['plan', true, 1, 3],
      ['x', false, 0, 3],
    ]);
    const plan = r.features[0]!;
    expect(plan.tests).toEqual([
      {
        app: 'data-drift',
        result: 'drift_plan',
        status: 'detected',
        method: 'chisquare',
        statistic: 9,
        pValue: 1e-9,
        distance: null,
        threshold: 0.05,
        drifted: true,
        details: {},
      },
    ]);
    // categories: the most frequent share first, the one the reference never had marked
    expect(plan.categories![0]).toEqual({ value: CAT, reference: 0, current: 30, unseen: true });
    expect(plan.categories!.map((c) => c.value).sort()).toEqual([CAT, 'basic', 'pro'].sort());
    const x = r.features[1]!;
    expect(x.histogram!.reference).toEqual(flat);
    expect(x.histogram!.current).toEqual(flat.map((c, i) => (i > 10 ? c * 2 : c)));
    expect(x.current).toMatchObject({ type: 'numeric', count: 150 });
    expect(r.series).toEqual([
      {
        app: 'data-drift',
        name: 'data_drift',
        type: 'result',
        kind: 'data_drift',
        thresholds: { potential: 0.25, detected: 0.5 },
        points: [
          { windowStart: 0, windowEnd: 60_000, value: 0, status: 'no_detection' },
          { windowStart: 60_000, windowEnd: 120_000, value: 0.5, status: 'detected' },
          { windowStart: 120_000, windowEnd: 180_000, value: 0, status: 'no_detection' },
        ],
      },
    ]);
    expect(r.summary.apps[0]).toMatchObject({
      app: 'data-drift',
      windows: 3,
      statuses: { detected: 1, no_detection: 2 },
      latest: { windowStart: 120_000, status: 'no_detection' },
    });
  });

  it('one window: only it; a range: [from, to) by window start; an unknown endpoint or batch is NOT_FOUND', async () => {
    const one = await buildReport(source(windows, {}), { endpoint: 'shop', window: 120_000 });
    expect(one.windows.map((w) => w.windowStart)).toEqual([120_000]);
    expect(one.summary.detail).toMatchObject({ windowStart: 120_000, profile: false });
    const some = await buildReport(source(windows, {}), { endpoint: 'shop', from: 60_000, to: 120_000 });
    expect(some.windows.map((w) => w.windowStart)).toEqual([60_000]);
    await expect(buildReport(source(windows, {}), { endpoint: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: "no endpoint named 'nope'" });
    // a batch id that names none: said, not an empty report (nor a query of its windows)
    const src = source(windows, {});
    await expect(buildReport(src, { endpoint: 'shop', batch: 'nosuch' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: "no batch 'nosuch' of endpoint shop (see modelwatch batch list shop; a batch is listed once its events are ingested)",
    });
    expect(src.asked).toEqual([]);
    expect((await buildReport(src, { endpoint: 'shop', batch: 'b1' })).query).toEqual({ endpoint: 'shop', batch: 'b1' });
  });

  it('the HTML: every outside string escaped, the window histogram and categories drawn, nothing outside the file', async () => {
    const r = await buildReport(source(windows, { 60_000: profile }), { endpoint: 'shop', from: 0, to: 180_000 });
    const page = renderReportHtml(r);
    expect(page).not.toContain(CAT);
    expect(page).not.toMatch(/<svg onload/i);
    expect(page).toContain('<title>window &quot;&gt;&lt;svg onload=alert(1)&gt;: 30</title>');
    expect(page).toContain('&quot;&gt;&lt;svg onload=ale… (new)');
    expect(page).toContain('class="unseen"');
    expect(page).toContain('class="cur"');
    expect(page).not.toMatch(/<script|<link|https?:\/\//i);
    // the policy allows the one stylesheet by its hash: the text between the tags, exactly
    const styles = [...page.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect(styles).toHaveLength(1);
    expect(REPORT_CSP).toContain(`style-src 'sha256-${createHash('sha256').update(styles[0]!).digest('base64')}'`);
    expect(page).toContain(`content="${REPORT_CSP.replaceAll("'", '&#39;')}"`);
  });

  it('html`` escapes values, keeps its own markup', () => {
    expect(html`<b title="${'"x\''}">${'<i>'}${html`<i>ok</i>`}${[1, null, false, undefined, 'a&b']}</b>`.text).toBe(
      '<b title="&quot;x&#39;"><i>ok</i>1a&amp;b</b>'.replace('<i>ok', '&lt;i&gt;<i>ok'),
    );
  });

  it('times: ISO, ms, or a duration back from now; the query checked', () => {
    const now = Date.UTC(2026, 0, 2);
    expect(timeOrAgo('2026-01-01T00:00:00Z', 'from', now)).toBe(Date.UTC(2026, 0, 1));
    expect(timeOrAgo('1767225600000', 'from', now)).toBe(1767225600000);
    expect(timeOrAgo('24h', 'from', now)).toBe(Date.UTC(2026, 0, 1));
    // digits are ms, not a year Date.parse guesses at ('-1' was 2001); an ISO time is checked strictly
    expect(timeOrAgo('-1', 'from', now)).toBe(-1);
    expect(() => timeOrAgo('2024-13-45', 'to', now)).toThrow(
      /^to: expected an ISO time, ms since the epoch or a duration back from now \(24h\), got "2024-13-45"/,
    );
    expect(() => timeOrAgo('yesterday', 'from', now)).toThrow(
      /from: expected an ISO time, ms since the epoch or a duration back from now \(24h\), got "yesterday"/,
    );
    expect(resolveReportQuery({ endpoint: 'e' }, now)).toEqual({ endpoint: 'e', from: now - 86_400_000 });
    expect(resolveReportQuery({ endpoint: 'e', batch: 'b1' }, now)).toEqual({ endpoint: 'e', batch: 'b1' });
    expect(() => resolveReportQuery({ endpoint: 'e', window: '1', from: '2' }, now)).toThrow(/window: give one window/);
    expect(() => resolveReportQuery({ endpoint: 'e', from: '5', to: '5' }, now)).toThrow(/to: must be after from/);
  });
});
