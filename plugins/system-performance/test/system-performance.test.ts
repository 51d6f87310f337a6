import { ResultKind, ResultStatus } from '@modelwatch/sdk';
import { describe, expect, it } from 'vitest';
import { createContext, metricOf, resultOf, runApp } from '../../test-utils/context.js';
import manifest from '../plugin.json' with { type: 'json' };
import SystemPerformance, {
  ERROR_PROXY,
  MAX_LISTED_COLUMNS,
  quantileName,
  resolveConfig,
  thresholdStatus,
  type SystemPerformanceConfig,
} from '../src/index.js';

// numpy: np.quantile([850, 1200, 400, 95000, 1500, 700, 650, 3300, 1200, 980, 15000], q) for q = 0.5, 0.9, 0.99, 0.999
const LATENCIES = [850, 1200, 400, 95000, 1500, 700, 650, 3300, 1200, 980, 15000];
const NUMPY = { p50: 1200.0, p90: 15000.0, p99: 87000.00000000003, p99_9: 94200.00000000001 };

function context(
  config: SystemPerformanceConfig = {},
  latency: number[] = [...LATENCIES, NaN],
  y: Array<number | null> = [1, 0, null, 1, 0, 1, null, 1, 0, 1, 0, 1],
) {
  return createContext<SystemPerformanceConfig>({
    sample: { x: y.map((_, i) => i), y, p: y.map((v) => (v === null ? null : v * 0.9)) },
    labelNames: ['y', 'p'],
    latencyMicros: latency,
    config,
    windowStart: new Date(Date.UTC(2026, 0, 1)),
    windowEnd: new Date(Date.UTC(2026, 0, 1, 0, 0, 10)),
  });
}

describe('system-performance', () => {
  it('latency quantiles equal numpy.quantile (linear), over the rows that report a latency', () => {
    const out = runApp(new SystemPerformance(), context({ latencyQuantiles: [0.5, 0.9, 0.99, 0.999] }).ctx);
    const p99 = resultOf(out, 'latency_p99');
    expect(p99).toMatchObject({ value: NUMPY.p99, kind: ResultKind.SystemPerformance, status: ResultStatus.NoDetection });
    expect(p99.extraData).toMatchObject({ rows: 12, latencyRows: 11, note: 'no threshold configured (latencyP99Micros)' });
    expect(metricOf(out, 'latency_p50').value).toBe(NUMPY.p50);
    expect(metricOf(out, 'latency_p90').value).toBe(NUMPY.p90);
    expect(metricOf(out, 'latency_p99_9').value).toBe(NUMPY.p99_9);
    expect(metricOf(out, 'latency_max').value).toBe(95000);
    expect(metricOf(out, 'latency_rows').value).toBe(11);
    expect(metricOf(out, 'rows').value).toBe(12);
    expect(metricOf(out, 'rows_per_second').value).toBe(1.2);
  });

  it('error rate: the share of rows whose outputs are all missing, with the definition in extraData', () => {
    const out = runApp(new SystemPerformance(), context().ctx);
    const e = resultOf(out, 'error_rate');
    expect(e.value).toBe(2 / 12);
    expect(e.extraData).toMatchObject({ rows: 12, errorRows: 2, errorDefinition: ERROR_PROXY });
    expect(metricOf(out, 'error_rows').value).toBe(2);
  });

  it('statuses from the thresholds: detected above the alert value, potential above the warn value', () => {
    const run = (config: SystemPerformanceConfig) => runApp(new SystemPerformance(), context(config).ctx);
    expect(resultOf(run({ latencyP99Micros: 80000 }), 'latency_p99').status).toBe(ResultStatus.Detected);
    expect(resultOf(run({ latencyP99Micros: 90000, latencyP99WarnMicros: 80000 }), 'latency_p99').status).toBe(ResultStatus.PotentialDetection);
    expect(resultOf(run({ latencyP99Micros: 90000 }), 'latency_p99').status).toBe(ResultStatus.NoDetection);
    expect(resultOf(run({ errorRate: 0.1 }), 'error_rate').status).toBe(ResultStatus.Detected);
    expect(resultOf(run({ errorRate: 0.5, errorRateWarn: 0.1 }), 'error_rate').status).toBe(ResultStatus.PotentialDetection);
    expect(resultOf(run({ errorRate: 0.5 }), 'error_rate').status).toBe(ResultStatus.NoDetection);
    expect(thresholdStatus(0.1, undefined, 0.1)).toBe(ResultStatus.NoDetection);
  });

  it('no latency reported, no outputs, empty window: Irrelevant with the reason', () => {
    const noLatency = runApp(new SystemPerformance(), context({}, new Array(12).fill(NaN)).ctx);
    expect(resultOf(noLatency, 'latency_p99')).toMatchObject({ value: 0, status: ResultStatus.Irrelevant });
    expect(resultOf(noLatency, 'latency_p99').extraData!.reason).toMatch(/no row of the window reports a latency/);
    expect(resultOf(noLatency, 'error_rate').status).toBe(ResultStatus.NoDetection);

    const noOutputs = runApp(new SystemPerformance(), createContext<SystemPerformanceConfig>({ sample: { x: [1, 2] }, latencyMicros: [5, 7] }).ctx);
    expect(resultOf(noOutputs, 'error_rate').extraData!.reason).toBe('the endpoint has no outputs to tell errors by');
    expect(resultOf(noOutputs, 'latency_p99').value).toBeCloseTo(6.98, 12);

    const empty = runApp(new SystemPerformance(), createContext<SystemPerformanceConfig>({ sample: { x: [], y: [] }, labelNames: ['y'] }).ctx);
    expect(resultOf(empty, 'latency_p99').extraData!.reason).toBe('window has no rows');
    expect(resultOf(empty, 'error_rate').extraData!.reason).toBe('window has no rows');
    expect(metricOf(empty, 'rows').value).toBe(0);
  });

  describe('data quality', () => {
    // the thresholds plugin.json ships with
    const shipped: SystemPerformanceConfig = manifest.config;
    // a reference with `age` numeric (1 missing in 10) and `plan` text; 20 window rows
    const reference = { age: [30, 41, 25, 52, 38, 44, 29, 61, 35, null], plan: ['free', 'pro', 'free', 'pro', 'team', 'free', 'pro', 'free', 'free', 'pro'] };
    const quality = (age: Array<number | string | null>, plan: Array<number | string | null>, config: SystemPerformanceConfig = shipped) =>
      resultOf(runApp(new SystemPerformance(), createContext<SystemPerformanceConfig>({ sample: { age, plan }, reference, config }).ctx), 'data_quality');
    const clean = (n: number): { age: Array<number | string | null>; plan: Array<number | string | null> } => ({
      age: Array.from({ length: n }, (_, i) => 30 + i),
      plan: Array.from({ length: n }, (_, i) => (i % 2 ? 'pro' : 'free')),
    });

    it('counts the values of the wrong type and the missing ones per feature, from ctx.sampleStats', () => {
      const { age, plan } = clean(20);
      age[3] = 'forty';
      age[7] = null;
      plan[5] = 3;
      const out = runApp(new SystemPerformance(), createContext<SystemPerformanceConfig>({ sample: { age, plan }, reference, config: shipped }).ctx);
      const q = resultOf(out, 'data_quality');
      // 3 of 40 feature values missing, 2 of them because of their type
      expect(q).toMatchObject({ kind: ResultKind.SystemPerformance, value: 3 / 40 });
      expect(q.extraData).toMatchObject({
        rows: 20,
        features: 2,
        values: 40,
        missingValues: 3,
        wrongTypeValues: 2,
        missingShare: 3 / 40,
        wrongTypeShare: 2 / 40,
        columns: {
          age: { missing: 2, wrongType: 1, missingShare: 0.1, wrongTypeShare: 0.05, referenceMissingShare: 0.1 },
          plan: { missing: 1, wrongType: 1, missingShare: 0.05, wrongTypeShare: 0.05, referenceMissingShare: 0 },
        },
        // the thresholds, under their config names
        wrongTypeRate: 0.01,
        wrongTypeRateWarn: 0,
        missingRateIncrease: 0.25,
        missingRateIncreaseWarn: 0.1,
      });
      // 5 % of a feature's values of the wrong type is above wrongTypeRate (1 %)
      expect(q.status).toBe(ResultStatus.Detected);
      expect(q.extraData!.reasons).toEqual(['age: 5% of its values of the wrong type', 'plan: 5% of its values of the wrong type']);
      expect(metricOf(out, 'missing_values').value).toBe(3);
      expect(metricOf(out, 'wrong_type_values').value).toBe(2);
    });

    it('status: any value of the wrong type is a potential detection, more than 1 % of a feature detected', () => {
      const { age, plan } = clean(200);
      expect(quality(age, plan).status).toBe(ResultStatus.NoDetection);
      age[0] = 'x';
      expect(quality(age, plan).status).toBe(ResultStatus.PotentialDetection); // 0.5 %
      age[1] = 'y';
      expect(quality(age, plan).status).toBe(ResultStatus.PotentialDetection); // 1 %, not above it
      age[2] = 'z';
      expect(quality(age, plan).status).toBe(ResultStatus.Detected); // 1.5 %
    });

    it("status: missing values compared with the reference's share of them", () => {
      const { age, plan } = clean(20);
      // age: 10 % missing in the reference; 4 of 20 (20 %) in the window is 10 points more, not above 0.1
      for (const i of [0, 1, 2, 3]) age[i] = null;
      expect(quality(age, plan).status).toBe(ResultStatus.NoDetection);
      age[4] = null; // 25 %: 15 points more
      expect(quality(age, plan)).toMatchObject({
        status: ResultStatus.PotentialDetection,
        extraData: { reasons: ['age: 25% of its values missing (reference: 10%)'] },
      });
      // plan: never missing in the reference; 6 of 20 is 30 points more, above 0.25
      for (const i of [0, 1, 2, 3, 4, 5]) plan[i] = null;
      expect(quality(age, plan).status).toBe(ResultStatus.Detected);
      // without thresholds, no status from them
      expect(quality(age, plan, {}).status).toBe(ResultStatus.NoDetection);
    });

    it('lists the worst features first, at most MAX_LISTED_COLUMNS of them', () => {
      const n = 10;
      const sample: Record<string, Array<number | string | null>> = {};
      for (let f = 0; f < MAX_LISTED_COLUMNS + 5; f++) sample[`f${f}`] = Array.from({ length: n }, (_, i) => (i < 1 + (f % 5) ? null : i));
      sample.f7![9] = 'bad';
      const ref = Object.fromEntries(Object.keys(sample).map((k) => [k, [1, 2, 3]]));
      const q = resultOf(
        runApp(new SystemPerformance(), createContext<SystemPerformanceConfig>({ sample, reference: ref, config: shipped }).ctx),
        'data_quality',
      );
      const listed = Object.keys(q.extraData!.columns as Record<string, unknown>);
      expect(listed).toHaveLength(MAX_LISTED_COLUMNS);
      expect(listed[0]).toBe('f7');
      expect(q.extraData!.columnsListed).toBe(MAX_LISTED_COLUMNS);
    });

    it('is irrelevant for an endpoint without features, and rejects thresholds out of order', () => {
      const out = runApp(new SystemPerformance(), createContext<SystemPerformanceConfig>({ sample: { y: [1, 0] }, labelNames: ['y'] }).ctx);
      expect(resultOf(out, 'data_quality')).toMatchObject({ value: 0, status: ResultStatus.Irrelevant, extraData: { reason: 'the endpoint has no features' } });
      expect(() => resolveConfig({ wrongTypeRate: 0.01, wrongTypeRateWarn: 0.02 })).toThrow(/wrongTypeRateWarn \(0.02\) must be below wrongTypeRate \(0.01\)/);
    });
  });

  it('rejects thresholds out of order (the rest of the config is checked by its configSchema at publish: host/test/builtin-config.test.ts)', () => {
    expect(() => resolveConfig({ errorRate: 0.01, errorRateWarn: 0.05 })).toThrow(/errorRateWarn \(0.05\) must be below errorRate \(0.01\)/);
    expect(quantileName(0.5)).toBe('latency_p50');
    expect(quantileName(0.999)).toBe('latency_p99_9');
  });
});
