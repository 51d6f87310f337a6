import { describe, expect, it } from 'vitest';
import { beginEvent } from '../../src/stream/formats/common.js';
import { eventFormatOf } from '../../src/stream/formats/index.js';
import { mlrunEvent } from '../../src/stream/formats/mlrun-event.js';
import { endpointRecord } from '../helpers.js';
import { ARRIVAL, invalid } from './helpers.js';

const ep = endpointRecord(['a', 'b'], ['p0']);
/** What an MLRun serving function pushes. */
const event = (extra: Record<string, unknown> = {}) => ({
  request: {
    id: 'f3a1',
    inputs: [
      [1, 2],
      [3, 4],
    ],
  },
  resp: { id: 'f3a1', outputs: [0.1, 0.9] },
  when: '2026-11-27 11:59:58.123456+00:00',
  microsec: 1234,
  ...extra,
});

describe('MLRun event format', () => {
  it('detects request/resp objects (a resp alone only without native inputs)', () => {
    expect(mlrunEvent.detect(event())).toBe(true);
    expect(mlrunEvent.detect({ resp: { outputs: [1] } })).toBe(true);
    expect(mlrunEvent.detect({ resp: { outputs: [1] }, inputs: [[1, 2]] })).toBe(false);
    expect(mlrunEvent.detect({ inputs: [[1, 2]] })).toBe(false);
    expect(mlrunEvent.detect([event()])).toBe(false);
    expect(eventFormatOf(event())).toBe(mlrunEvent);
  });

  it("parses rows, MLRun's time (UTC, microseconds cut to ms), request id and latency", () => {
    beginEvent();
    const p = mlrunEvent.parse(event(), ep, ARRIVAL);
    expect(p).toMatchObject({
      kind: 'mlrun',
      n: 2,
      x: [
        [1, 3],
        [2, 4],
      ],
      y: [[0.1, 0.9]],
      rid: ['f3a1#0', 'f3a1#1'],
      lat: [1234, 1234],
      latencies: [1234],
    });
    expect(p.ts).toEqual([Date.UTC(2026, 10, 27, 11, 59, 58, 123), Date.UTC(2026, 10, 27, 11, 59, 58, 123)]);
  });

  it('counts an error event as one failed request', () => {
    beginEvent();
    expect(mlrunEvent.parse(event({ error: 'boom' }), ep, ARRIVAL)).toMatchObject({ n: 0, requests: 1, errors: 1, latencies: [1234] });
  });

  it('says what is missing', () => {
    expect(invalid(() => mlrunEvent.parse(event({ when: undefined }), ep, ARRIVAL))).toMatch(/^when: missing/);
    expect(invalid(() => mlrunEvent.parse(event({ microsec: undefined }), ep, ARRIVAL))).toMatch(/^microsec: missing/);
    expect(invalid(() => mlrunEvent.parse(event({ request: { inputs: [[1, 2]] }, resp: { outputs: [1] } }), ep, ARRIVAL))).toMatch(/^request.id: missing/);
    expect(invalid(() => mlrunEvent.parse(event({ resp: { id: 'f3a1' } }), ep, ARRIVAL))).toMatch(/^resp.outputs: missing/);
  });

  it('refuses a request id over 256 characters, naming the field that gave it', () => {
    const long = 'f'.repeat(257);
    expect(invalid(() => mlrunEvent.parse(event({ request: { id: long, inputs: [[1, 2]] } }), ep, ARRIVAL))).toBe(
      'request.id: 257 characters, over the limit of 256 for a request id',
    );
    expect(invalid(() => mlrunEvent.parse(event({ request: { inputs: [[1, 2]] }, resp: { id: long, outputs: [1] } }), ep, ARRIVAL))).toBe(
      'resp.id: 257 characters, over the limit of 256 for a request id',
    );
  });

  it('bounds when, microsec and sampling_percentage as native events', () => {
    expect(invalid(() => mlrunEvent.parse(event({ when: 1e300 }), ep, ARRIVAL))).toMatch(/^when: 1e\+300 is out of range/);
    expect(invalid(() => mlrunEvent.parse(event({ microsec: 1e308 }), ep, ARRIVAL))).toBe('microsec: 1e+308 µs is over the limit of 3600000000 µs (an hour)');
    expect(invalid(() => mlrunEvent.parse(event({ sampling_percentage: 1e-300 }), ep, ARRIVAL))).toMatch(
      /^sampling_percentage: expected a percentage, 0.001 <= p <= 100/,
    );
    beginEvent();
    expect(mlrunEvent.parse(event({ microsec: 3.6e9, sampling_percentage: 0.001 }), ep, ARRIVAL)).toMatchObject({
      latencies: [3.6e9],
      samplingPercentage: 0.001,
    });
  });

  it('infers f0..fn and p0..pn from request.inputs and resp.outputs', () => {
    expect(mlrunEvent.inferNames(event(), endpointRecord([], []))).toEqual({ featureNames: ['f0', 'f1'], labelNames: ['p0'] });
    expect(mlrunEvent.inferNames(event(), ep)).toEqual({});
  });
});
