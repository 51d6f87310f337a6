import { describe, expect, it } from 'vitest';
import { checkEvent, chunkEvents, invalidJsonMessage, isRejection, prepareIngest, unpackMessage, type IngestInput } from '../src/stream/ingest.js';
import { requestBatch } from '../src/stream/formats/request-batch.js';
import { InvalidEventError } from '../src/errors.js';
import { endpointRecord } from './helpers.js';

const AT = Date.UTC(2026, 10, 27, 12);
const ep = endpointRecord(['a', 'b'], ['p0']);

describe('the ingest pipeline, before publishing', () => {
  it('unpacks a body by its message format, validating an envelope; a body of one event has no index', () => {
    expect(unpackMessage({ inputs: [[1, 2]] }, AT)).toEqual({ units: [{ event: { inputs: [[1, 2]] } }] });
    const list = unpackMessage([{ inputs: [[1, 2]] }], AT);
    expect(list.format?.name).toBe('list');
    expect(list.envelope).toBeUndefined();
    const batch = unpackMessage({ format: 'batch', requests: { count: 3 }, events: [{ inputs: [[1, 2]] }] }, AT);
    expect(batch).toMatchObject({ units: [{ event: { inputs: [[1, 2]] }, index: 0 }], envelope: { requests: 3, errors: 0 } });
    expect(() => unpackMessage({ format: 'batch', events: [] }, AT)).toThrow(InvalidEventError);
    // a list of no events says nothing: refused (a request batch of none counts its requests)
    expect(() => unpackMessage([], AT)).toThrow('no events: an empty list');
    expect(() => unpackMessage({ headers: ['request'], values: [] }, AT)).toThrow('values: no events (an empty list)');
    expect(unpackMessage({ format: 'batch', requests: { count: 3 }, events: [] }, AT)).toMatchObject({ units: [], envelope: { requests: 3 } });
  });

  it('checks an event: its format, then its time against the clock of the caller', () => {
    const p = checkEvent({ inputs: [[1, 2]], outputs: [0] }, ep, AT, 1000, 'request');
    expect(isRejection(p)).toBe(false);
    expect(checkEvent({ inputs: [[1]] }, ep, AT, 1000, 'request')).toMatchObject({ code: 'INVALID_EVENT' });
    const ahead = { when: AT + 5000, inputs: [[1, 2]] };
    expect(checkEvent(ahead, ep, AT, 1000, 'request')).toEqual({
      code: 'FUTURE_EVENT',
      message: `when: ${new Date(AT + 5000).toISOString()} is more than 1000 ms in the future`,
    });
    expect(checkEvent(ahead, ep, AT, 1000, 'arrival')).toEqual({
      code: 'FUTURE_EVENT',
      message: `when: ${new Date(AT + 5000).toISOString()} is more than 1000 ms after arrival (${new Date(AT).toISOString()})`,
    });
  });

  it('refuses a time out of the range of a Date as INVALID_EVENT, over either clock, never throwing', () => {
    for (const clock of ['request', 'arrival'] as const) {
      expect(checkEvent({ when: 1e300, inputs: [[1, 2]] }, ep, AT, 1000, clock)).toEqual({
        code: 'INVALID_EVENT',
        message: 'when: 1e+300 is out of range: a time in ms since the epoch is at most 8640000000000000 (the year 275760)',
      });
      expect(checkEvent({ when: 8.64e15, inputs: [[1, 2]] }, ep, AT, 1000, clock)).toMatchObject({
        code: 'FUTURE_EVENT',
        message: /^when: \+275760-09-13T00:00:00.000Z/,
      });
    }
  });

  it("gives a small request's events to a coalesced message as JSON text (a body of one event as it came), and none to a keyed request", () => {
    const input = (text: string, keyed = false): IngestInput => {
      const raw = Buffer.from(text);
      return { name: 'e', endpoint: ep, body: { type: 'json', raw, value: JSON.parse(text) }, now: AT, maxFutureSkewMs: 1000, keyed };
    };
    const one = '{ "when": 1, "inputs": [[1, 2]], "outputs": [0] }';
    const single = prepareIngest(input(one));
    expect(single).toMatchObject({ status: 202, accepted: 1, rejected: [], letters: [], coalesce: one });
    // what the stream processor reads: the parts joined in a JSON list
    expect(unpackMessage(JSON.parse(`[${single.coalesce},${single.coalesce}]`), AT).units).toHaveLength(2);
    const list = prepareIngest(input('[{"inputs": [[1, 2]]}, {"inputs": [[3, 4]]}]'));
    expect(list.coalesce).toBe('{"inputs":[[1,2]]},{"inputs":[[3,4]]}');
    // a bad event of a list: the good one's text alone, the bad one dead-lettered
    const mixed = prepareIngest(input('[{"inputs": [[1, 2]]}, {"inputs": [[3]]}]'));
    expect(mixed).toMatchObject({ accepted: 1, coalesce: '{"inputs":[[1,2]]}' });
    expect(mixed.letters).toHaveLength(1);
    // an idempotency key's request goes in a message of its own (its message id)
    expect(prepareIngest(input(one, true)).coalesce).toBeUndefined();
  });

  it('refuses an event nested too deep, keeping it in its letter, and takes the good events of the request', () => {
    const json = (text: string): IngestInput => ({
      name: 'e',
      endpoint: ep,
      body: { type: 'json', raw: Buffer.from(text) },
      now: AT,
      maxFutureSkewMs: 1000,
      keyed: false,
    });
    const brackets = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const deep = prepareIngest(json(brackets));
    expect(deep).toMatchObject({
      status: 400,
      accepted: 0,
      rejected: [{ index: 0, error: expect.stringMatching(/^the event: lists and objects nested more than 16 deep/) }],
    });
    // the letter holds the event (the body's one element), which JSON.stringify could not write
    expect(deep.letters.map((l) => [l.reason.code, l.index, l.payload])).toEqual([['INVALID_EVENT', 0, brackets.slice(1, -1)]]);
    const labels = `{"inputs": [[1, 2]], "labels": {"a": ${brackets}}}`;
    const mixed = prepareIngest(json(`[{"inputs": [[1, 2]], "outputs": [0]}, ${labels}]`));
    expect(mixed).toMatchObject({
      status: 202,
      accepted: 1,
      rejected: [{ index: 1, error: expect.stringMatching(/^labels: lists and objects nested more than 16 deep in the event/) }],
      coalesce: '{"inputs":[[1,2]],"outputs":[0]}',
    });
    expect(mixed.letters.map((l) => [l.index, l.payload])).toEqual([[1, `{"inputs":[[1,2]],"labels":{"a":${brackets}}}`]]);
    // the same as NDJSON, and over the batches route (no coalescing)
    const lines = prepareIngest({ ...json(''), body: { type: 'ndjson', raw: Buffer.from(`{"inputs": [[1, 2]]}\n${labels}\n`) }, batchId: 'b1' });
    expect(lines).toMatchObject({ status: 202, accepted: 1, rejected: [{ index: 1 }] });
    expect(lines.payloads.map((p) => Buffer.from(p).toString())).toEqual(['[{"inputs":[[1,2]]}]']);
  });

  it("keeps a request batch whose firstWhen or lastWhen is too far in the future (the trackers put a future request's time there): its good events are accepted, its future one refused alone", () => {
    const input = (requests: Record<string, unknown>): IngestInput => {
      const raw = Buffer.from(JSON.stringify({ format: 'batch', requests: { count: 1, ...requests }, events: [{ inputs: [[1, 2]] }] }));
      return { name: 'e', endpoint: ep, body: { type: 'json', raw }, now: AT, maxFutureSkewMs: 1000, keyed: false };
    };
    expect(prepareIngest(input({ firstWhen: AT - 10, lastWhen: AT + 1000 }))).toMatchObject({ status: 202, accepted: 1, rejected: [] });
    const ahead = new Date(AT + 3_600_000).toISOString();
    for (const field of ['firstWhen', 'lastWhen']) expect(prepareIngest(input({ [field]: ahead }))).toMatchObject({ status: 202, accepted: 1, rejected: [] });
    const raw = Buffer.from(
      JSON.stringify({
        format: 'batch',
        requests: { count: 2, firstWhen: AT - 10, lastWhen: ahead },
        events: [
          { when: AT - 10, inputs: [[1, 2]] },
          { when: ahead, inputs: [[3, 4]] },
        ],
      }),
    );
    const out = prepareIngest({ name: 'e', endpoint: ep, body: { type: 'json', raw }, now: AT, maxFutureSkewMs: 1000, keyed: false });
    expect(out).toMatchObject({
      status: 202,
      accepted: 1,
      rejected: [{ index: 1, error: expect.stringMatching(/^when: .* is more than 1000 ms in the future/) }],
    });
    expect(out.letters.map((l) => l.reason.code)).toEqual(['FUTURE_EVENT']);
    expect(unpackMessage({ format: 'batch', requests: { count: 1, lastWhen: AT + 1001 }, events: [] }, AT, 1000).envelope).toMatchObject({
      tMax: AT + 1000,
    });
  });

  it('refuses a body of no events: an empty list, an NDJSON body of blank lines', () => {
    const input = (body: IngestInput['body']): IngestInput => ({ name: 'e', endpoint: ep, body, now: AT, maxFutureSkewMs: 1000, keyed: false });
    const list = prepareIngest(input({ type: 'json', raw: Buffer.from('[]') }));
    expect(list).toMatchObject({ status: 400, accepted: 0, rejected: [{ index: 0, error: 'no events: an empty list' }], payloads: [] });
    expect(list.letters.map((l) => [l.reason.code, l.payload, l.payloadScope])).toEqual([['INVALID_EVENT', '[]', 'message']]);
    for (const text of ['', '\n \n'])
      expect(prepareIngest(input({ type: 'ndjson', raw: Buffer.from(text) }))).toMatchObject({
        status: 400,
        rejected: [{ index: 0, error: 'no events: the body has no line that is not blank' }],
        letters: [{ reason: { code: 'INVALID_EVENT' } }],
      });
    // a request batch whose events were all sampled out still goes: its counts are the record of its requests
    const sampled = prepareIngest(input({ type: 'json', raw: Buffer.from('{"format": "batch", "requests": {"count": 3}, "events": []}') }));
    expect(sampled).toMatchObject({ status: 202, accepted: 0, rejected: [], letters: [] });
    expect(sampled.payloads).toHaveLength(1);
  });

  it("says why a body is not JSON, naming Python's NaN", () => {
    const bad = Buffer.from('{"inputs": [[NaN, 1]]}');
    let err: Error | undefined;
    try {
      JSON.parse(bad.toString());
    } catch (e) {
      err = e as Error;
    }
    expect(invalidJsonMessage(bad, err!)).toMatch(/^not valid JSON: NaN and Infinity are not JSON numbers/);
  });

  it('chunks events into JSON lists under the limit, or into envelopes with the counts on the first, leaving out an event over the limit of one', () => {
    const texts = ['{"a":1}', '{"a":2}', '{"a":3}'];
    const lists = chunkEvents(texts, undefined, 18);
    expect(lists.payloads.map((b) => Buffer.from(b).toString())).toEqual(['[{"a":1},{"a":2}]', '[{"a":3}]']);
    expect(lists.oversized).toEqual([]);
    const body = { format: 'batch', requests: { count: 9 }, events: [] };
    const wrapped = chunkEvents(texts, (events, first) => requestBatch.rewrap!(body, events, first), 18).payloads.map(
      (b) => JSON.parse(Buffer.from(b).toString()) as unknown,
    );
    expect(wrapped).toEqual([
      { format: 'batch', requests: { count: 9 }, events: [{ a: 1 }, { a: 2 }] },
      { format: 'batch', requests: { count: 0 }, events: [{ a: 3 }] },
    ]);
    const big = chunkEvents(['{"a":1}', `"${'x'.repeat(8 * 1024 * 1024)}"`]);
    expect(big.oversized).toEqual([1]);
    expect(big.payloads.map((b) => Buffer.from(b).toString())).toEqual(['[{"a":1}]']);
  });
});
