import { describe, expect, it } from 'vitest';
import { failedOutput, windowOutput } from '../src/runner/runner.js';
import { crashError } from '../src/runner/supervisor.js';

const window = { endpointId: 'e1', endpointName: 'churn', windowStart: Date.UTC(2026, 10, 27, 10, 0, 0), windowEnd: Date.UTC(2026, 10, 27, 10, 10, 0) };

describe('crashError', () => {
  it('records V8 running out of memory beyond recovery as APP_MEMORY_LIMIT', () => {
    expect(crashError({ app: 'big', version: '1.0.0', message: 'Catastrophic out-of-memory error', window }, window)).toEqual({
      code: 'APP_MEMORY_LIMIT',
      message:
        "big@1.0.0 on endpoint churn, window 2026-11-27T10:00:00.000Z: exhausted V8's memory beyond recovery (Catastrophic out-of-memory error) and crashed its runner, which was restarted",
    });
  });

  it('records an operation V8 could not stop at the deadline as APP_TIMEOUT', () => {
    expect(crashError({ app: 'pow', version: '2.0.0', message: 'Script failed to terminate', window }, window)).toEqual({
      code: 'APP_TIMEOUT',
      message:
        'pow@2.0.0 on endpoint churn, window 2026-11-27T10:00:00.000Z: ran past its time limit in an operation V8 could not interrupt (Script failed to terminate) and crashed its runner, which was restarted',
    });
  });
});

describe('the output of a failed window', () => {
  it('is the one the runner and the supervisor both publish: outcome error, no rows, results or metrics, the window and who gave up', () => {
    const report = { app: 'big', version: '1.0.0', message: 'Catastrophic out-of-memory error', window };
    const before = Date.now();
    const out = failedOutput({ ...window, app: report.app, version: report.version }, crashError(report, window), { runner: 'supervisor', attempts: 1 });
    expect(out).toEqual({
      v: 1,
      ...window,
      app: 'big',
      version: '1.0.0',
      outcome: 'error',
      rows: 0,
      results: [],
      metrics: [],
      error: crashError(report, window),
      durationMs: 0,
      completedAt: out.completedAt,
      runner: 'supervisor',
      attempts: 1,
    });
    expect(out.completedAt).toBeGreaterThanOrEqual(before);
  });

  it('takes only the window of a task, not its dispatch details', () => {
    const task = { v: 1 as const, ...window, app: 'a', version: '1.0.0', dispatchedAt: 5, rowKeys: [window.windowStart] };
    const output = windowOutput(task, { runner: 'r1', attempts: 2 });
    expect(output).toMatchObject({ ...window, app: 'a', version: '1.0.0', outcome: 'ok', runner: 'r1', attempts: 2 });
    expect(output).not.toHaveProperty('dispatchedAt');
    expect(output).not.toHaveProperty('rowKeys');
    const failed = failedOutput(task, { code: 'WINDOW_FAILED', message: 'gave up' }, { runner: 'r1', attempts: 4, rows: 7 });
    expect(failed).toMatchObject({ outcome: 'error', rows: 7, attempts: 4, runner: 'r1', error: { code: 'WINDOW_FAILED', message: 'gave up' } });
    expect(failed).not.toHaveProperty('dispatchedAt');
  });
});
