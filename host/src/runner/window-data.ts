import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { CellValue, FeatureStatsMap } from '@modelwatch/sdk';
import { windowStats } from '@modelwatch/sdk/stats';
import { jsonCodec } from '../nats/codec.js';
import type { RowBatch } from '../nats/messages.js';
import { Streams, Subjects } from '../nats/subjects.js';
import type { EndpointRecord } from '../store/endpoints.js';

/** A window's rows, columnar, ready for the sandbox. */
export interface WindowData {
  length: number;
  columns: string[];
  numeric: string[];
  /** Column-major float64: numeric columns, then timestamps. */
  packed: Float64Array;
  strings: Record<string, Array<string | null>>;
  sampleStats: FeatureStatsMap;
}

/** Read every row stored for one window of an endpoint. */
export async function readWindowRows(js: JetStreamClient, jsm: JetStreamManager, endpointId: string, windowStart: number): Promise<RowBatch[]> {
  const subject = Subjects.rows(endpointId, windowStart);
  const info = await jsm.streams.info(Streams.rows, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  if (count === 0) return [];
  const consumer = await js.consumers.get(Streams.rows, { filter_subjects: subject });
  const batches: RowBatch[] = [];
  const iter = await consumer.fetch({ max_messages: count, expires: 10_000 });
  for await (const m of iter) {
    batches.push(jsonCodec.decode<RowBatch>(m.data));
    if (m.info.pending === 0) break;
  }
  return batches;
}

/** Columnar form of a window's rows; numeric columns as Float64Array, string columns as arrays. */
export function buildWindowData(batches: RowBatch[], endpoint: EndpointRecord): WindowData {
  const names = [...endpoint.featureNames, ...endpoint.labelNames];
  const nf = endpoint.featureNames.length;
  let n = 0;
  for (const b of batches) n += b.ts.length;
  const cellAt = (b: RowBatch, i: number, c: number): CellValue => (c < nf ? b.x[i]![c] : b.y[i]![c - nf]) ?? null;
  const categorical = names.map((name, c) => {
    if (endpoint.featureStats[name]?.type === 'categorical') return true;
    for (const b of batches) for (let i = 0; i < b.ts.length; i++) if (typeof cellAt(b, i, c) === 'string') return true;
    return false;
  });
  const numeric = names.filter((_, c) => !categorical[c]);
  const packed = new Float64Array((numeric.length + 1) * n);
  const strings: Record<string, Array<string | null>> = {};
  let slot = 0;
  names.forEach((name, c) => {
    if (categorical[c]) {
      const out: Array<string | null> = [];
      for (const b of batches) for (let i = 0; i < b.ts.length; i++) {
        const v = cellAt(b, i, c);
        out.push(v === null ? null : String(v));
      }
      strings[name] = out;
    } else {
      let k = slot * n;
      for (const b of batches) for (let i = 0; i < b.ts.length; i++) {
        const v = cellAt(b, i, c);
        packed[k++] = typeof v === 'number' ? v : NaN;
      }
      slot++;
    }
  });
  let k = numeric.length * n;
  for (const b of batches) for (const t of b.ts) packed[k++] = t;
  const sampleStats: FeatureStatsMap = {};
  slot = 0;
  names.forEach((name, c) => {
    const values = categorical[c] ? strings[name]! : packed.subarray(slot * n, ++slot * n);
    sampleStats[name] = windowStats(values, endpoint.featureStats[name]);
  });
  return { length: n, columns: names, numeric, packed, strings, sampleStats };
}
