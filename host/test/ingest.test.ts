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
