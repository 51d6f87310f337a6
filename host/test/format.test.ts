import { ResultKind, ResultStatus } from '@modelwatch/sdk';
import { describe, expect, it } from 'vitest';
import type { WindowRecord } from '@modelwatch/protocol';
import { fmtValue, resultRows } from '../src/cli/format.js';

const START = Date.UTC(2026, 10, 27, 10, 0, 0);
const END = Date.UTC(2026, 10, 27, 10, 10, 0);

function window(patch: Partial<WindowRecord>): WindowRecord {
  return {
    endpointId: 'eid',
    endpointName: 'iris',
    app: 'histogram-data-drift',
    version: '1.0.0',
    windowStart: START,
    windowEnd: END,
    outcome: 'ok',
    rows: 120,
    results: [],
    metrics: [],
    durationMs: 12,
    runner: 'runner-1',
    completedAt: END + 1_000,
    storedAt: END + 1_100,
    attempts: 1,
    ...patch,
  };
}

const base = {
  endpoint: 'iris',
  app: 'histogram-data-drift',
  version: '1.0.0',
  windowStart: '2026-11-27T10:00:00.000Z',
  windowEnd: '2026-11-27T10:10:00.000Z',
};

describe('resultRows', () => {
  it('gives one row per result of an ok window, with kind and status names', () => {
    const rows = resultRows([
      window({
        results: [
          { name: 'general_drift', value: 0.73, kind: ResultKind.DataDrift, status: ResultStatus.Detected, extraData: { drifted: ['a'] } },
          { name: 'p99', value: 1200, kind: ResultKind.SystemPerformance, status: ResultStatus.Irrelevant },
        ],
        metrics: [{ name: 'hellinger_mean', value: 0.2 }],
      }),
    ]);
    expect(rows).toEqual([
      { ...base, rows: 120, outcome: 'ok', result: 'general_drift', kind: 'data_drift', status: 'detected', value: 0.73, extraData: { drifted: ['a'] } },
      { ...base, rows: 120, outcome: 'ok', result: 'p99', kind: 'system_performance', status: 'irrelevant', value: 1200, extraData: undefined },
    ]);
  });

  it.each([
    [ResultKind.ConceptDrift, ResultStatus.NoDetection, 'concept_drift', 'no_detection'],
    [ResultKind.ModelPerformance, ResultStatus.PotentialDetection, 'model_performance', 'potential_detection'],
    [ResultKind.Anomaly, ResultStatus.Detected, 'anomaly', 'detected'],
    [9, 7, '9', '7'],
  ])('names kind %d and status %d as %s / %s', (kind, status, kindName, statusName) => {
    const [row] = resultRows([window({ results: [{ name: 'r', value: 1, kind: kind as ResultKind, status: status as ResultStatus }] })]);
    expect(row).toMatchObject({ kind: kindName, status: statusName });
  });

  it('gives an empty window one row with status empty', () => {
    expect(resultRows([window({ outcome: 'empty', rows: 0 })])).toEqual([
      { ...base, rows: 0, outcome: 'empty', result: null, kind: null, status: 'empty', value: null },
    ]);
  });

  it('gives a failed window one row with status error and the error message', () => {
    const rows = resultRows([window({ outcome: 'error', error: { code: 'APP_TIMEOUT', message: 'doTracking took longer than 10000 ms' } })]);
    expect(rows).toEqual([
      {
        ...base,
        rows: 120,
        outcome: 'error',
        result: null,
        kind: null,
        status: 'error',
        value: null,
        error: 'doTracking took longer than 10000 ms',
      },
    ]);
  });

  it('gives an ok window without results one row with status no results', () => {
    const [row, ...rest] = resultRows([window({ metrics: [{ name: 'm', value: 1 }] })]);
    expect(rest).toEqual([]);
    expect(row).toMatchObject({ outcome: 'ok', result: null, status: 'no results', value: null });
    expect(row).not.toHaveProperty('error');
  });

  it('keeps the order of windows and results', () => {
    const r = (name: string) => ({ name, value: 0, kind: ResultKind.DataDrift, status: ResultStatus.NoDetection });
    const rows = resultRows([
      window({ results: [r('a'), r('b')] }),
      window({ outcome: 'empty', windowStart: END, windowEnd: END + 600_000 }),
      window({ app: 'other', results: [r('c')] }),
    ]);
    expect(rows.map((x) => [x.app, x.result ?? x.status])).toEqual([
      ['histogram-data-drift', 'a'],
      ['histogram-data-drift', 'b'],
      ['histogram-data-drift', 'empty'],
      ['other', 'c'],
    ]);
    expect(rows[2]!.windowStart).toBe('2026-11-27T10:10:00.000Z');
  });

  it('gives nothing for no windows', () => {
    expect(resultRows([])).toEqual([]);
  });
});

describe('fmtValue', () => {
  it.each([
    [null, '-'],
    [0, '0.0000'],
    [1, '1.0000'],
    [0.73, '0.7300'],
    [-0.5, '-0.5000'],
    [0.001, '0.0010'],
    [9999.99991, '9999.9999'],
    [0.000999, '9.990e-4'],
    [-0.0001234, '-1.234e-4'],
    [10_000, '1.000e+4'],
    [123_456_789, '1.235e+8'],
    [-20_000, '-2.000e+4'],
  ])('formats %d as %s', (v, text) => {
    expect(fmtValue(v)).toBe(text);
  });
});
