import { describe, expect, it } from 'vitest';
import { MonitoringApplication, ResultKind, ResultStatus, type MonitoringContext } from '../src/index.js';
import { createTestContext, runApp } from '../src/testing.js';
import HistogramDataDrift from '../../plugins/histogram-data-drift/src/index.js';

class MeanShift extends MonitoringApplication<{ tolerance: number }> {
  doTracking(ctx: MonitoringContext<{ tolerance: number }>) {
    const x = ctx.sample.column('x') as Float64Array;
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const ref = ctx.featureStats.x;
    const shift = ref?.type === 'numeric' ? Math.abs(mean - ref.mean) : 0;
    ctx.logger.info('checked', { mean });
    return [
      { name: 'x_mean', value: mean },
      { name: 'x_shift', value: shift, kind: ResultKind.DataDrift, status: shift > ctx.config.tolerance ? ResultStatus.Detected : ResultStatus.NoDetection },
    ];
  }
}

describe('@modelwatch/sdk/testing', () => {
  it('runs an app on columns or rows with reference statistics, config and captured logs', async () => {
    const out = await runApp(MeanShift, { sample: { x: [10, 12, 14] }, reference: [{ x: 1 }, { x: 2 }, { x: 3 }], config: { tolerance: 2 } });
    expect(out.metrics).toEqual([{ name: 'x_mean', value: 12 }]);
    expect(out.results).toEqual([{ name: 'x_shift', value: 10, kind: 0, status: 2, extraData: {} }]);
    expect(out.logs).toEqual([{ level: 'info', message: 'checked', fields: { mean: 12 } }]);
  });

  it('builds the context the host builds: columns, strings, stats on the reference bins, ground truth', () => {
    const ctx = createTestContext({
      sample: [
        { a: 1, s: 'u', y: 1 },
        { a: null, s: null, y: 0 },
      ],
      reference: { a: [0, 1, 2, 3], s: ['u', 'v', 'u', 'u'], y: [0, 1, 0, 1] },
      labelNames: ['y'],
      groundTruth: { y: [1, null] },
      requestIds: ['r1', 'r2'],
    });
    expect(ctx.endpoint).toMatchObject({ featureNames: ['a', 's'], labelNames: ['y'] });
    expect(ctx.sample.columns).toEqual(['a', 's', 'y']);
    expect(Array.from(ctx.sample.column('a') as Float64Array)).toEqual([1, NaN]);
    expect(ctx.sample.column('s')).toEqual(['u', null]);
    expect(ctx.sample.row(1)).toEqual({ a: null, s: null, y: 0 });
    expect(ctx.sample.requestIds).toEqual(['r1', 'r2']);
    expect(ctx.featureStats.s).toMatchObject({ type: 'categorical', frequencies: { u: 3, v: 1 } });
    const hist = ctx.sampleStats.a;
    expect(hist?.type === 'numeric' && hist.hist.edges).toEqual(ctx.featureStats.a?.type === 'numeric' && ctx.featureStats.a.hist.edges);
    expect(ctx.groundTruth?.matched).toBe(1);
    expect(ctx.reference?.length).toBe(4);
    expect(() => ctx.sample.column('nope')).toThrow("the window has no column 'nope' (it has: a, s, y)");
  });

  it('makes values of the wrong type for the reference missing and counts them in sampleStats, as the host does', () => {
    const ctx = createTestContext({
      sample: { a: [1, 'x', null, 4], s: ['u', 7, 'v', null] },
      reference: { a: [0, 1, 2, 3], s: ['u', 'v', 'u', 'u'] },
    });
    expect(Array.from(ctx.sample.column('a') as Float64Array)).toEqual([1, NaN, NaN, 4]);
    expect(ctx.sample.column('s')).toEqual(['u', null, 'v', null]);
    expect(ctx.sampleStats.a).toMatchObject({ type: 'numeric', count: 2, missing: 2, wrongType: 1 });
    expect(ctx.sampleStats.s).toMatchObject({ type: 'categorical', count: 2, missing: 2, wrongType: 1 });
    // without a reference there is no type to differ from
    const bare = createTestContext({ sample: { a: [1, 'x'] } });
    expect(bare.sample.column('a')).toEqual(['1', 'x']);
    expect(bare.sampleStats.a).toMatchObject({ wrongType: 0 });
  });

  it('validates the output as the host does', async () => {
    class Bad extends MonitoringApplication {
      doTracking() {
        return { name: 'bad name', value: 1 };
      }
    }
    await expect(runApp(Bad, { sample: { x: [1] } })).rejects.toThrow(/output\.name: must be a string matching/);
  });

  it('runs a built-in app: histogram drift on a shifted window', async () => {
    const ref = Array.from({ length: 1000 }, (_, i) => (i % 100) / 10);
    const out = await runApp(HistogramDataDrift, { sample: { f: ref.map((v) => v + 8) }, reference: { f: ref } });
    expect(out.results.find((r) => r.name === 'general_drift')?.status).toBe(ResultStatus.Detected);
  });
});
