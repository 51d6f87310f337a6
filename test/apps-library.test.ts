import { join } from 'node:path';
import { quantiles } from '@modelwatch/sdk/stats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WindowRecord } from '@modelwatch/protocol';
import { bundlePlugin } from '../host/src/plugins/bundle.js';
import { REPO, rng, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { untilWallClock, waitFor } from './helpers/tmp.js';

/**
 * The apps library end to end: drift, data-drift, prediction-drift, model-performance (labels sent
 * after the window closed) and system-performance published to a real host (nats-server,
 * runner process, LevelDB), one window each, including a string feature with a category the
 * reference never has.
 */
describe('the apps library on a real host', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  const PERIOD = 1000;
  const ROWS = 300;
  const ERROR_ROWS = 20;
  const LABELLED = 240;
  const r = rng(2026);
  let ws = 0;
  const latencies: number[] = [];
  const sent: Array<{ id: string; y: number | null; truth: number }> = [];
  let windows: Map<string, WindowRecord>;

  async function publish(dir: string, change: { config?: Record<string, unknown>; delay?: string } = {}) {
    const b = await bundlePlugin(join(REPO, 'plugins', dir));
    const manifest = { ...b.manifest, ...(change.delay ? { groundTruth: { delay: change.delay } } : {}) };
    return env.client.publishPlugin({ manifest, code: b.code, map: b.map, ...(change.config ? { config: change.config as never } : {}) });
  }

  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 200 });
    // drift's configSchema refuses a bad config at publish, with the schema's message
    await expect(publish('drift', { config: { alpha: 2 } })).rejects.toThrow(/config of drift is not valid:\n {2}- alpha: must be < 0\.5/);
    await publish('drift');
    await publish('data-drift');
    await publish('prediction-drift');
    await publish('model-performance', {
      delay: '1500ms',
      // accuracy and ROC AUC against configured baselines, the others against the reference's own
      // performance: its true target is `truth`, a column of the reference file that is neither a
      // feature nor an output of the endpoint
      config: { task: 'classification', positiveClass: 1, scoreColumn: 'score', baseline: { accuracy: 0.95, roc_auc: 0.9 }, referenceTargetColumn: 'truth' },
    });
    await publish('system-performance', { config: { latencyP99Micros: 20_000, errorRate: 0.05, errorRateWarn: 0.01 } });

    await env.client.createEndpoint({ name: 'lib', featureNames: ['x1', 'x2', 'segment'], labelNames: ['y', 'score'] });
    const segments = ['alpha', 'beta', 'gamma'];
    const row = (shift: number, unseen: boolean) => {
      const x1 = r.normal(shift, 1);
      const x2 = r.uniform() * 10;
      const u = r.uniform();
      const segment = unseen && u < 0.2 ? 'zeta' : segments[u < 0.5 ? 0 : u < 0.8 ? 1 : 2]!;
      const score = 1 / (1 + Math.exp(-(2 * x1 + r.normal(0, 1))));
      return { x1, x2, segment, score, y: score > 0.5 ? 1 : 0 };
    };
    const reference = ['x1,x2,segment,y,score,truth'];
    for (let i = 0; i < 600; i++) {
      const x = row(0, false);
      // the true class: the model's, wrong for 1 row in 10
      reference.push([x.x1, x.x2, x.segment, x.y, x.score, i % 10 === 0 ? 1 - x.y : x.y].join(','));
    }
    await env.client.setReference('lib', reference.join('\n'), 'csv');

    // one window: x1 shifted by 1.5 sigma, 'zeta' a segment the reference never has, 20 failed predictions
    ws = Math.ceil((Date.now() + 500) / PERIOD) * PERIOD;
    const events = Array.from({ length: ROWS }, (_, i) => {
      const x = row(1.5, true);
      const failed = i < ERROR_ROWS;
      const latencyMicros = Math.round(500 + r.uniform() * 4000 + (i % 50 === 0 ? 30_000 : 0));
      latencies.push(latencyMicros);
      const id = `req-${i}`;
      // ground truth: the model's class, wrong for 1 row in 8
      sent.push({ id, y: failed ? null : x.y, truth: i % 8 === 0 ? 1 - x.y : x.y });
      return {
        when: ws + (i * (PERIOD - 20)) / ROWS,
        inputs: [[x.x1, x.x2, x.segment]],
        ...(failed ? {} : { outputs: [[x.y, x.score]] }),
        requestId: id,
        latencyMicros,
      };
    });
    expect(await env.client.sendEvents('lib', events)).toEqual({ accepted: ROWS, rejected: [] });
    // the labels come after the window has closed
    await untilWallClock(ws + PERIOD + 300);
    const labels = sent.slice(ERROR_ROWS, ERROR_ROWS + LABELLED).map((s) => ({ requestId: s.id, labels: { y: s.truth } }));
    expect((await env.client.sendLabels('lib', labels)).accepted).toBe(LABELLED);

    const apps = ['drift', 'data-drift', 'prediction-drift', 'model-performance', 'system-performance'];
    windows = await waitFor(
      'one analysed window of each app',
      async () => {
        const all = await env.client.results({ endpoint: 'lib', limit: 200 });
        const mine = all.filter((w) => w.windowStart === ws);
        return apps.every((a) => mine.some((w) => w.app === a)) ? new Map(mine.map((w) => [w.app, w])) : undefined;
      },
      45_000,
    );
  });

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const results = (app: string) => {
    const w = windows.get(app)!;
    expect(w.outcome, `${app}: ${JSON.stringify(w.error)}`).toBe('ok');
    expect(w.rows).toBe(ROWS);
    return Object.fromEntries(w.results.map((x) => [x.name, x]));
  };

  it('data-drift: KS on x1 detects the shift, chi-square detects the unseen segment, dataset drift detected', () => {
    const res = results('data-drift');
    expect(Object.keys(res).sort()).toEqual(['data_drift', 'drift_segment', 'drift_x1', 'drift_x2']);
    expect(res.drift_x1).toMatchObject({ kind: 0, status: 2, extraData: { method: 'ks', drifted: true, referenceCount: 600, windowCount: ROWS } });
    expect(res.drift_x2!.extraData).toMatchObject({ method: 'ks', type: 'numeric' });
    expect(res.drift_segment).toMatchObject({
      kind: 0,
      status: 2,
      value: 0,
      extraData: { method: 'chisquare', type: 'categorical', unseen: 1, pValue: 0, statistic: null, bins: 4 },
    });
    expect(res.data_drift).toMatchObject({ kind: 0, status: 2 });
    expect(res.data_drift!.value).toBeGreaterThanOrEqual(2 / 3);
    expect(res.data_drift!.extraData).toMatchObject({ compared: 3, referenceRows: 600, rows: ROWS });
  });

  it('drift: the x1 shift detected with one combined p-value; the unseen segment is no p = 0', () => {
    const res = results('drift');
    expect(Object.keys(res)).toEqual(['drift']);
    const extra = res.drift!.extraData as {
      features: Record<string, { test: string; pValue: number; unseen?: number }>;
      drifted: string[];
      mmd: { pValue: number };
    };
    expect(res.drift).toMatchObject({ kind: 0, status: 2 });
    expect(res.drift!.value).toBeLessThan(0.05);
    expect(extra.drifted).toContain('x1');
    expect(extra.features.x1!.test).toBe('ks');
    expect(extra.features.segment).toMatchObject({ test: 'chi2', unseen: 1 });
    expect(extra.features.segment!.pValue).toBeGreaterThan(0);
    expect(extra.mmd.pValue).toBeGreaterThan(0);
  });

  it('prediction-drift: the outputs against the reference outputs, concept drift', () => {
    const res = results('prediction-drift');
    expect(Object.keys(res).sort()).toEqual(['drift_score', 'drift_y', 'prediction_drift']);
    expect(res.drift_y).toMatchObject({ kind: 1, status: 2, extraData: { method: 'z', windowCount: ROWS - ERROR_ROWS } });
    expect(res.drift_score).toMatchObject({ kind: 1, status: 2, extraData: { method: 'ks' } });
    expect(res.prediction_drift).toMatchObject({ kind: 1, value: 1, status: 2 });
  });

  it('model-performance: the labels that arrived after the window, joined by request id', () => {
    const w = windows.get('model-performance')!;
    const res = results('model-performance');
    const labelled = sent.slice(ERROR_ROWS, ERROR_ROWS + LABELLED);
    const correct = labelled.filter((s) => s.y === s.truth).length;
    expect(w.metrics.find((m) => m.name === 'matched')!.value).toBe(LABELLED);
    expect(res.accuracy!.value).toBe(correct / LABELLED);
    expect(res.accuracy).toMatchObject({ kind: 2, extraData: { used: LABELLED, baseline: 0.95, baselineSource: 'config' } });
    // 1 in 8 wrong: accuracy 0.875, 0.075 below the baseline: potential detection
    expect(res.accuracy!.status).toBe(1);
    expect(Object.keys(res).sort()).toEqual(['accuracy', 'f1', 'precision', 'recall', 'roc_auc']);
    expect(res.roc_auc!.value).toBeGreaterThan(0.5);
    // the reference's extra column reached the app: precision, recall and F1 against the reference's
    expect(res.accuracy!.extraData).toMatchObject({ baselineSource: 'config' });
    for (const m of ['precision', 'recall', 'f1']) expect(res[m]!.extraData, m).toMatchObject({ baselineSource: 'reference' });
    // analysed only after its ground-truth delay
    expect(w.completedAt).toBeGreaterThanOrEqual(ws + PERIOD + 200 + 1500);
  });

  it('system-performance: p99 latency as numpy computes it, error rate from the rows without outputs', () => {
    const res = results('system-performance');
    const [p99] = quantiles(latencies, [0.99]);
    expect(res.latency_p99).toMatchObject({ kind: 3, value: p99, status: 2 });
    expect(res.error_rate).toMatchObject({ kind: 3, value: ERROR_ROWS / ROWS, status: 2, extraData: { errorRows: ERROR_ROWS } });
    const metrics = Object.fromEntries(windows.get('system-performance')!.metrics.map((m) => [m.name, m.value]));
    expect(metrics).toMatchObject({ rows: ROWS, latency_rows: ROWS, error_rows: ERROR_ROWS });
  });
});
