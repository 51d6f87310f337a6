import { describe, expect, it } from 'vitest';
import { inferNamesFrom, messageFormatOf } from '../../src/stream/formats/index.js';
import { requestBatch } from '../../src/stream/formats/request-batch.js';
import { endpointRecord } from '../helpers.js';
import { ARRIVAL, invalid } from './helpers.js';

const body = {
  format: 'batch',
  samplingPercentage: 50,
  requests: { count: 4, errors: 1, latencyMicros: [10, 20], firstWhen: ARRIVAL - 10, lastWhen: ARRIVAL - 5 },
  events: [
    { inputs: [[1, 2]], outputs: [0] },
    { inputs: [[3, 4]], outputs: [1] },
  ],
};

describe('request batch format', () => {
  it('detects format "batch"', () => {
    expect(requestBatch.detect(body)).toBe(true);
    expect(requestBatch.detect({ format: 'columnar' })).toBe(false);
    expect(messageFormatOf(body)).toBe(requestBatch);
  });

  it('unpacks its events (none when events is not a list)', () => {
    expect(requestBatch.unpack(body)).toEqual([
      { event: body.events[0], index: 0 },
      { event: body.events[1], index: 1 },
    ]);
    expect(requestBatch.unpack({ format: 'batch', events: 'x' })).toEqual([]);
    expect(inferNamesFrom(requestBatch.unpack(body), endpointRecord([], []))).toEqual({ featureNames: ['f0', 'f1'], labelNames: ['p0'] });
  });

  it('validates its envelope: the requests it stands for', () => {
    expect(requestBatch.envelope!(body, ARRIVAL)).toEqual({
      requests: 4,
      errors: 1,
      latencies: [10, 20],
      dropped: 0,
      samplingPercentage: 50,
      tMin: ARRIVAL - 10,
      tMax: ARRIVAL - 5,
    });
    expect(invalid(() => requestBatch.envelope!({ format: 'batch', requests: { count: 1 } }, ARRIVAL))).toBe(
      'events: expected a list of events, got undefined undefined',
    );
    expect(invalid(() => requestBatch.envelope!({ ...body, requests: { count: 1, errors: 2 } }, ARRIVAL))).toBe('requests.errors: 2 errors for 1 requests');
  });

  it('bounds its times, latencies, counts and sampling percentage, and how deep its envelope nests (it is written again around each part)', () => {
    const envelope =
      (requests: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      () =>
        requestBatch.envelope!({ ...body, ...extra, requests: { ...body.requests, ...requests } }, ARRIVAL);
    expect(invalid(envelope({ firstWhen: 1e300 }))).toMatch(/^requests.firstWhen: 1e\+300 is out of range/);
    expect(invalid(envelope({ lastWhen: 1e300 }))).toMatch(/^requests.lastWhen: 1e\+300 is out of range/);
    expect(invalid(envelope({ latencyMicros: [1, 1e308] }))).toMatch(/^requests.latencyMicros\[1\]: 1e\+308 µs is over the limit of 3600000000 µs/);
    expect(invalid(envelope({ count: 1e300 }))).toMatch(/^requests.count: expected a whole number, 0 <= n <= 9007199254740991/);
    expect(invalid(envelope({}, { samplingPercentage: 1e-300 }))).toMatch(/^samplingPercentage: expected a percentage, 0.001 <= p <= 100/);
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    expect(invalid(envelope({}, { extra: deep }))).toBe('extra: lists and objects nested more than 16 deep in the request batch');
    expect(invalid(envelope({ meta: deep }))).toBe('requests: lists and objects nested more than 16 deep in the request batch');
    // its events are each checked as events, not here
    expect(requestBatch.envelope!({ ...body, events: [{ labels: deep }] }, ARRIVAL)).toMatchObject({ requests: 4 });
  });

  it("reads its times as an event's: ms, or ISO 8601 strings only, naming the field", () => {
    const envelope = (requests: Record<string, unknown>) => () => requestBatch.envelope!({ ...body, requests: { ...body.requests, ...requests } }, ARRIVAL);
    expect(envelope({ firstWhen: '2026-11-27T11:59:00Z', lastWhen: '2026-11-27 11:59:30.5' })()).toMatchObject({
      tMin: Date.UTC(2026, 10, 27, 11, 59),
      tMax: Date.UTC(2026, 10, 27, 11, 59, 30, 500),
    });
    // Date.parse reads '1' and '-1' as the year 2001
    expect(invalid(envelope({ firstWhen: '1' }))).toBe("requests.firstWhen: '1' is not a time (use ISO 8601)");
    expect(invalid(envelope({ lastWhen: '-1' }))).toBe("requests.lastWhen: '-1' is not a time (use ISO 8601)");
    expect(invalid(envelope({ firstWhen: '2024-13-45' }))).toBe("requests.firstWhen: '2024-13-45' is not a time (use ISO 8601)");
    expect(invalid(envelope({ lastWhen: 'yesterday' }))).toBe("requests.lastWhen: 'yesterday' is not a time (use ISO 8601)");
  });

  it("takes a firstWhen or lastWhen too far in the future as the furthest an event's when may be: the batch stays (its future event alone is refused, FUTURE_EVENT)", () => {
    const skew = 300_000;
    const envelope = (requests: Record<string, unknown>) =>
      requestBatch.envelope!({ ...body, requests: { ...body.requests, ...requests } }, ARRIVAL, skew) as { tMin: number | null; tMax: number | null };
    expect(envelope({ firstWhen: ARRIVAL + skew, lastWhen: ARRIVAL + skew })).toMatchObject({ tMin: ARRIVAL + skew, tMax: ARRIVAL + skew });
    expect(envelope({ firstWhen: ARRIVAL - 10, lastWhen: ARRIVAL + skew + 1 })).toMatchObject({ tMin: ARRIVAL - 10, tMax: ARRIVAL + skew });
    expect(envelope({ lastWhen: new Date(ARRIVAL + 86_400_000).toISOString() })).toMatchObject({ tMax: ARRIVAL + skew });
    // (within a Date's range, far in the future)
    expect(envelope({ firstWhen: 8e15, lastWhen: 8e15 })).toMatchObject({ tMin: ARRIVAL + skew, tMax: ARRIVAL + skew });
  });

  it('writes a part of its events with the counts on the first part only', () => {
    const events = body.events.map((e) => JSON.stringify(e));
    const first = JSON.parse(requestBatch.rewrap!(body, events.slice(0, 1), true)) as typeof body;
    const second = JSON.parse(requestBatch.rewrap!(body, events.slice(1), false)) as typeof body;
    expect(first).toEqual({ ...body, events: [body.events[0]] });
    expect(second).toEqual({ ...body, requests: { count: 0 }, events: [body.events[1]] });
  });
});
