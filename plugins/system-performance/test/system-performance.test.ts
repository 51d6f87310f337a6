import { ResultKind, ResultStatus } from '@modelwatch/sdk';
import { describe, expect, it } from 'vitest';
import { createContext, metricOf, resultOf, runApp } from '../../test-utils/context.js';
import SystemPerformance, { ERROR_PROXY, quantileName, resolveConfig, thresholdStatus, type SystemPerformanceConfig } from '../src/index.js';

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

  it('rejects a bad configuration, naming the key', () => {
    expect(() => resolveConfig({ latencyP99: 5 })).toThrow(/unknown config key 'latencyP99'/);
    expect(() => resolveConfig({ errorRate: 2 })).toThrow(/errorRate must be a number from 0 to 1, got 2/);
    expect(() => resolveConfig({ errorRate: 0.01, errorRateWarn: 0.05 })).toThrow(/errorRateWarn \(0.05\) must be below errorRate \(0.01\)/);
    expect(() => resolveConfig({ latencyQuantiles: [1.5] })).toThrow(/latencyQuantiles must be an array of numbers in \[0, 1\]/);
    expect(quantileName(0.5)).toBe('latency_p50');
    expect(quantileName(0.999)).toBe('latency_p99_9');
  });
});
