import { describe, expect, it } from 'vitest';
import { jsonCodec } from '../src/nats/codec.js';
import type { RowBatch } from '@modelwatch/protocol';
import { decodeRowBatch, SeenRows } from '../src/nats/rows.js';
import { fileBatch, type FiledBatch, type FilingMessage, type FilingTask } from '../src/stream/filing.js';
import { FilingWorkers } from '../src/stream/filing-workers.js';
import { jsonText } from '../src/stream/formats/index.js';
import { endpointRecord } from './helpers.js';

const AT = Date.UTC(2026, 10, 27, 12);
const PERIOD = 60_000;
const ep = endpointRecord(['a', 'b'], ['p0']);

/** A batch with one message of each outcome, and a big columnar one. */
function task(): FilingTask {
  const enc = new TextEncoder();
  let seq = 0;
  const msg = (data: Uint8Array | object, pre: FilingMessage['pre'] = { kind: 'file', endpoint: 0 }, extra: Partial<FilingMessage> = {}): FilingMessage => ({
    seq: ++seq,
    arrival: AT,
    name: 'm',
    source: 'nats',
    data: data instanceof Uint8Array ? data : jsonCodec.encode(data),
    pre,
    ...extra,
  });
  const n = 20_000;
  const col = (k: number) => Array.from({ length: n }, (_, j) => (j * k) % 1000);
  return {
    endpoints: [ep],
    layout: { periods: [{ fromMs: 0, periodMs: PERIOD }] },
    options: { allowedLatenessMs: 1000, maxFutureSkewMs: 1000, intervalMs: 60_000 },
    messages: [
      msg({ when: AT - 10, inputs: [[1, 2]], outputs: [0] }),
      msg(enc.encode('{"inputs": [[1, 2]')),
      msg({ when: AT, inputs: [[1, 2, 3]], outputs: [0] }),
      msg({ when: AT - 10, inputs: [[1, 2]], outputs: [0] }, { kind: 'file' }),
      msg({ when: AT + 3_600_000, inputs: [[1, 2]], outputs: [0] }),
      // some rows late: the letter holds just those
      msg({ format: 'columnar', when: [AT - 3_600_000, AT - 5], inputs: { a: [1, 2], b: [3, 4] }, outputs: { p0: [0, 1] } }),
      msg(new Uint8Array(0), { kind: 'dead', code: 'OVERSIZED', message: 'too big' }),
      msg(new Uint8Array(0), { kind: 'end', record: { endpoint: 'm', endpointId: ep.id, batchId: 'b1', endSeq: 8, status: 'ingested', createdAt: AT } }),
      msg({ format: 'columnar', when: AT - 20, inputs: { a: col(1), b: col(3) }, outputs: { p0: col(7) } }, undefined, { batchId: 'b2' }),
    ],
  };
}

/** The row chunks decoded, with their subjects. */
function rowsOf(filed: FiledBatch): Array<{ subject: string; n: number; batches: RowBatch[] }> {
  return filed.rows.map((r) => {
    const batches: RowBatch[] = [];
    decodeRowBatch(r.data, new SeenRows(), batches);
    return { subject: r.subject, n: r.n, batches };
  });
}

describe('filing a batch of event messages', () => {
  it('files rows by window, letters and serving entries as plain data', () => {
    const filed = fileBatch(task());
    expect(filed.letters.map((l) => [l.letter.eventSeq, l.letter.reason.code, l.refused])).toEqual([
      [2, 'INVALID_JSON', true],
      [3, 'INVALID_EVENT', true],
      [4, 'UNKNOWN_ENDPOINT', true],
      [5, 'FUTURE_EVENT', true],
      [6, 'LATE_EVENT', false],
      [7, 'OVERSIZED', true],
    ]);
    expect(filed.letters[4]!.letter.rows).toBe(1);
    expect(filed.accepted).toBe(3);
    expect(filed.batchEnds).toEqual([expect.objectContaining({ batchId: 'b1', endSeq: 8 })]);
    // every message but the batch's has a serving entry
    expect(filed.entries.map((e) => e[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(filed.failed).toEqual([]);
    expect(filed.rows.reduce((s, r) => s + r.n, 0)).toBe(1 + 1 + 20_000);
  });

  it("reports the event times of the requests taken for the first and last request: a late row's or a refused event's never", () => {
    const late = AT - 3_600_000;
    let seq = 0;
    const msg = (body: object): FilingMessage => ({
      seq: ++seq,
      arrival: AT,
      name: 'm',
      source: 'http',
      data: jsonCodec.encode(body),
      pre: { kind: 'file', endpoint: 0 },
    });
    const filed = fileBatch({
      ...task(),
      messages: [
        msg({ when: AT - 10, inputs: [[1, 2]], outputs: [0] }),
        msg({ when: late, inputs: [[1, 2]], outputs: [0] }),
        msg({ format: 'columnar', when: [late, AT - 5], inputs: { a: [1, 2], b: [3, 4] }, outputs: { p0: [0, 1] } }),
        msg({ when: AT + 3_600_000, inputs: [[1, 2]], outputs: [0] }),
        msg({ when: late, error: 'model failed' }),
        msg({ format: 'batch', requests: { count: 3 }, events: [{ when: late, inputs: [[1, 2]], outputs: [0] }] }),
        msg({ format: 'batch', requests: { count: 2 }, events: [] }),
      ],
    });
    // [requests, late rows, first request, last request]
    expect(filed.entries.map((e) => [e[3], e[7], e[8], e[9]])).toEqual([
      [1, 0, AT - 10, AT - 10],
      // late: counted as a request and a late row, at no time
      [1, 1, null, null],
      [2, 1, AT - 5, AT - 5],
      // refused (future): nothing counted
      [0, 0, null, null],
      // a request without rows is never late: taken at its time
      [1, 0, late, late],
      [3, 1, null, null],
      // a request batch whose events were all sampled out: its requests at their arrival
      [2, 0, AT, AT],
    ]);
  });

  it('dead-letters at once, never failing (which redelivers): a time out of range, values nested too deep, an empty list; the good events of the message are filed', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    let seq = 0;
    // (jsonText: JSON.stringify cannot write what is nested 5000 deep)
    const msg = (body: unknown): FilingMessage => ({
      seq: ++seq,
      arrival: AT,
      name: 'm',
      source: 'nats',
      data: Buffer.from(jsonText(body)),
      pre: { kind: 'file', endpoint: 0 },
    });
    const filed = fileBatch({
      ...task(),
      messages: [
        msg({ when: 1e300, inputs: [[1, 2]], outputs: [0] }),
        msg([
          { when: AT - 10, inputs: [[1, 2]], outputs: [0] },
          { when: AT - 10, inputs: [[3, 4]], labels: { a: deep } },
        ]),
        msg(deep),
        msg([]),
        msg({ format: 'batch', requests: { count: 2, lastWhen: 1e300 }, events: [{ when: AT - 10, inputs: [[5, 6]] }] }),
        // a request batch's time in the future is taken as at most maxFutureSkewMs after arrival: its events are filed
        msg({ format: 'batch', requests: { count: 2, firstWhen: AT + 5000 }, events: [{ when: AT - 10, inputs: [[7, 8]] }] }),
      ],
    });
    expect(filed.failed).toEqual([]);
    expect(filed.letters.map((l) => [l.letter.eventSeq, l.letter.index, l.letter.reason.code, l.letter.reason.message])).toEqual([
      [1, undefined, 'INVALID_EVENT', expect.stringMatching(/^when: 1e\+300 is out of range/)],
      [2, 1, 'INVALID_EVENT', expect.stringMatching(/^labels: lists and objects nested more than 16 deep/)],
      [3, 0, 'INVALID_EVENT', expect.stringMatching(/^the event: lists and objects nested more than 16 deep/)],
      [4, undefined, 'INVALID_EVENT', 'no events: an empty list'],
      [5, undefined, 'INVALID_EVENT', expect.stringMatching(/^requests.lastWhen: 1e\+300 is out of range/)],
    ]);
    expect(filed.accepted).toBe(2);
    expect(filed.rows.reduce((s, r) => s + r.n, 0)).toBe(2);
  });

  it('on a worker thread, with the same outcome as on this one; the row chunks are moved back', async () => {
    const workers = new FilingWorkers();
    try {
      const here = fileBatch(task());
      const there = await workers.file(task());
      expect(rowsOf(there)).toEqual(rowsOf(here));
      expect(there.rows.map((r) => Buffer.from(r.data).toString('base64'))).toEqual(here.rows.map((r) => Buffer.from(r.data).toString('base64')));
      // each chunk owns its buffer (moved, not a view of a shared one)
      for (const r of there.rows) expect(r.data.byteLength).toBe(r.data.buffer.byteLength);
      const { rows: _a, ...restThere } = there;
      const { rows: _b, ...restHere } = here;
      expect(restThere).toEqual(restHere);
    } finally {
      await workers.close();
    }
  });
});
