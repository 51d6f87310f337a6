import { describe, expect, it } from 'vitest';
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
