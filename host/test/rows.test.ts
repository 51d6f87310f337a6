import { describe, expect, it } from 'vitest';
import type { EndpointRecord, RowBatch } from '@modelwatch/protocol';
import { decodeRowBatch, rowCount, RowsChunk, SeenRows } from '../src/nats/rows.js';
import { parseEvent } from '../src/stream/events.js';
import { endpointRecord } from './helpers.js';

const ep = (featureNames: string[], labelNames: string[] = ['y']): EndpointRecord => endpointRecord(featureNames, labelNames);

function chunkOf(parts: Array<{ seq: number; event: unknown }>, e = ep(['a', 'b'])): RowsChunk {
  const c = new RowsChunk(e.featureNames.length, e.labelNames.length);
  for (const { seq, event } of parts) {
    const p = parseEvent(event, e, 1000);
    c.beginPart(seq, 0);
    c.addRange(p, 0, p.n, Infinity);
  }
  return c;
}

function decode(...messages: Uint8Array[]): RowBatch[] {
  const seen = new SeenRows();
  const out: RowBatch[] = [];
  for (const m of messages) decodeRowBatch(m, seen, out);
  return out;
}

describe('binary row chunks (MW_ROWS v2)', () => {
  it('round-trips numbers, strings, nulls, request ids, latencies and times', () => {
    const c = chunkOf([
      {
        seq: 7,
        event: {
          when: 5000,
          inputs: [
            [1.5, 'x'],
            [null, 'y'],
          ],
          outputs: [0.25, null],
          requestId: 'r',
          latencyMicros: 12,
        },
      },
      { seq: 9, event: { when: 6000, inputs: [{ a: -3, b: null }], outputs: 1 } },
    ]);
    const [b] = decode(c.encode());
    expect(b).toEqual({
      v: 1,
      ts: [5000, 5000, 6000],
      x: [
        [1.5, 'x'],
        [null, 'y'],
        [-3, null],
      ],
      y: [[0.25], [null], [1]],
      rid: ['r#0', 'r#1', null],
      lat: [12, 12, null],
    });
  });

  it('keeps float64 values exactly', () => {
    // eslint-disable-next-line no-loss-of-precision -- written as it is commonly quoted; the test is that the double survives
    const values = [0.1, 1 / 3, 1e-300, -1.7976931348623157e308, 123456789.123456789, 5e-324];
    const c = chunkOf([
      { seq: 1, event: { format: 'columnar', when: values.map((_, i) => 1000 + i), inputs: { a: values, b: values.map((v) => -v) }, outputs: { y: values } } },
    ]);
    const [b] = decode(c.encode());
    expect(b!.x.map((r) => r[0])).toEqual(values);
    expect(b!.x.map((r) => r[1])).toEqual(values.map((v) => -v));
    expect(b!.ts).toEqual(values.map((_, i) => 1000 + i));
  });

  it('drops a part it has seen already: an event stored twice counts once', () => {
    const first = chunkOf([
      { seq: 1, event: { inputs: [[1, 2]] } },
      {
        seq: 2,
        event: {
          inputs: [
            [3, 4],
            [5, 6],
          ],
        },
      },
    ]).encode();
    // the same events redelivered and batched differently (seq 2 with seq 3)
    const second = chunkOf([
      {
        seq: 2,
        event: {
          inputs: [
            [3, 4],
            [5, 6],
          ],
        },
      },
      { seq: 3, event: { inputs: [[7, 8]] } },
    ]).encode();
    const batches = decode(first, second);
    expect(batches.flatMap((b) => b.x)).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ]);
    expect(decode(first, first).flatMap((b) => b.x)).toHaveLength(3);
  });

  it('splits an event into parts deterministically, by offset', () => {
    const e = ep(['a', 'b']);
    const p = parseEvent({ format: 'columnar', inputs: { a: Array.from({ length: 100 }, (_, i) => i), b: Array.from({ length: 100 }, () => 0) } }, e, 1000);
    const c1 = new RowsChunk(2, 1);
    const c2 = new RowsChunk(2, 1);
    // 40 bytes a row: a budget of 1000 bytes takes 25 rows
    c1.beginPart(4, 0);
    expect(c1.addRange(p, 0, 100, 1000)).toEqual([25, 1000]);
    c2.beginPart(4, 25);
    expect(c2.addRange(p, 25, 100, 1e9)).toEqual([75, 3000]);
    const got = decode(c1.encode(), c2.encode(), c2.encode());
    expect(got.flatMap((b) => b.x.map((r) => r[0]))).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('keeps each row of an event once, whatever parts it came in: parts overlapping, nested, with gaps', () => {
    const e = ep(['a', 'b']);
    const p = parseEvent({ format: 'columnar', inputs: { a: Array.from({ length: 10 }, (_, i) => i), b: Array.from({ length: 10 }, () => 0) } }, e, 1000);
    /** One chunk of parts of event 5: `[offset, count, ...]`. */
    const chunk = (...parts: number[]) => {
      const c = new RowsChunk(2, 1);
      for (let k = 0; k < parts.length; k += 2) {
        c.beginPart(5, parts[k]!);
        c.addRange(p, parts[k]!, parts[k]! + parts[k + 1]!, Infinity);
      }
      return c.encode();
    };
    const rows = (...messages: Uint8Array[]) => decode(...messages).map((b) => b.x.map((r) => r[0]));
    // [5, 0, 10] and [5, 4, 6] overlap on rows 4-9: ten rows, not sixteen
    expect(rows(chunk(0, 10), chunk(4, 6))).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
    expect(rows(chunk(4, 6), chunk(0, 10))).toEqual([
      [4, 5, 6, 7, 8, 9],
      [0, 1, 2, 3],
    ]);
    // gaps filled by a later part, in row order; a part within rows seen adds nothing
    expect(rows(chunk(0, 3, 6, 2), chunk(0, 10), chunk(2, 5))).toEqual([
      [0, 1, 2, 6, 7],
      [3, 4, 5, 8, 9],
    ]);
    // two compositions of the same rows, chunk by chunk interleaved
    expect(rows(chunk(0, 4), chunk(0, 3), chunk(4, 3), chunk(3, 4), chunk(7, 3), chunk(8, 2)).flat()).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it('remembers the rows seen per event as merged ranges', () => {
    const seen = new SeenRows();
    const fresh: Array<[number, number, number]> = [];
    const add = (seq: number, from: number, to: number) => seen.add(seq, from, to, (a, b) => fresh.push([seq, a, b]));
    expect(add(1, 10, 20)).toBe(10);
    expect(add(1, 0, 5)).toBe(5);
    expect(add(1, 30, 40)).toBe(10);
    expect(add(2, 10, 20)).toBe(10);
    expect(add(1, 3, 35)).toBe(15);
    expect(fresh).toEqual([
      [1, 10, 20],
      [1, 0, 5],
      [1, 30, 40],
      [2, 10, 20],
      [1, 5, 10],
      [1, 20, 30],
    ]);
    expect(add(1, 0, 40)).toBe(0);
    expect(add(1, 39, 41)).toBe(1);
    expect(add(1, 7, 7)).toBe(0);
    expect(add(2, 20, 21)).toBe(1);
    expect(add(2, 9, 21)).toBe(1);
  });

  it('encodes one time for many rows as a run, and is smaller than the JSON it came from', () => {
    const n = 1000;
    const event = {
      format: 'columnar',
      when: 1795797600000,
      inputs: { a: Array.from({ length: n }, (_, i) => i * 0.001), b: Array.from({ length: n }, (_, i) => i) },
      outputs: { y: Array.from({ length: n }, () => 1) },
      latencyMicros: 800,
    };
    const bytes = chunkOf([{ seq: 1, event }]).encode();
    expect(bytes.length).toBeLessThan(n * 8 * 3 + 400);
    expect(rowCount(bytes)).toBe(n);
    const [b] = decode(bytes);
    expect(new Set(b!.ts)).toEqual(new Set([1795797600000]));
    expect(new Set(b!.lat)).toEqual(new Set([800]));
  });

  it('reads version 1 messages (row-major JSON) as they are', () => {
    const v1: RowBatch = { v: 1, ts: [1], x: [[1, 2]], y: [[0]], rid: [null], lat: [null] };
    expect(decode(new TextEncoder().encode(JSON.stringify(v1)))).toEqual([v1]);
    expect(rowCount(new TextEncoder().encode(JSON.stringify(v1)))).toBe(1);
  });
});
