import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { CellValue, FeatureStats, FeatureStatsMap } from '@modelwatch/sdk';
import { isWrongType, windowStats } from '@modelwatch/sdk/stats';
import { Streams, Subjects, type EndpointRecord, type ReferenceTable, type RowBatch } from '@modelwatch/protocol';
import { normalizeLabel } from '../domain/labels.js';
import { jsonCodec } from '../nats/codec.js';
import { decodeRowBatch, SeenRows } from '../nats/rows.js';
import { lastBySubject } from '../nats/direct.js';
import { READ_ONCE_CONSUMER_IDLE_MS } from '../nats/topology.js';
import type { SampleData } from './sandbox.js';
import { dict } from '../domain/dict.js';

/** A window's rows, columnar, ready for the sandbox, with its statistics. */
export interface WindowData extends SampleData {
  sampleStats: FeatureStatsMap;
}

/**
 * Read every row stored under the row subjects of an endpoint with the given window starts (one
 * window's own, or after a period change also the old layout's that overlap it, see `rowKeysOf`).
 * `parts`: how many parts each subject holds, as the task carries them (`TaskMessage.rowParts`,
 * listed by the controller when the window had closed); without them (or not one count per
 * subject) each subject's count is asked of `MW_ROWS`, a request each.
 */
export async function readWindowRows(
  js: JetStreamClient,
  jsm: JetStreamManager,
  endpointId: string,
  windowStarts: readonly number[],
  parts?: readonly unknown[],
): Promise<RowBatch[]> {
  const known = validParts(parts, windowStarts.length);
  const counts = await Promise.all(
    windowStarts.map(async (start, i) => {
      const subject = Subjects.rows(endpointId, start);
      if (known) return [subject, known[i]!] as const;
      const info = await jsm.streams.info(Streams.rows, { subjects_filter: subject });
      return [subject, info.state.subjects?.[subject] ?? 0] as const;
    }),
  );
  const batches: RowBatch[] = [];
  // one subject at a time (a consumer with several filter subjects needs nats-server 2.10)
  for (const [subject, count] of counts) {
    if (count === 0) continue;
    const seen = new SeenRows();
    if (count === 1) {
      // one part (a window's rows sent in one batch): one request, not a consumer made, read and
      // deleted; a direct get (raw bytes) when MW_ROWS allows them (see `lastBySubject`), so a
      // replica behind the leader may not have it yet: the consumer below reads it then
      const m = await lastBySubject(jsm, Streams.rows, subject);
      if (m) {
        decodeRowBatch(m.data, seen, batches);
        continue;
      }
    }
    const consumer = await js.consumers.get(Streams.rows, { filter_subjects: subject, inactive_threshold: READ_ONCE_CONSUMER_IDLE_MS });
    // rows already read (a redelivered event the stream processor stored twice, in the same parts
    // or chunked otherwise) are dropped; a row is named by its event and its index among them
    const iter = await consumer.fetch({ max_messages: count, expires: 10_000 });
    for await (const m of iter) {
      decodeRowBatch(m.data, seen, batches);
      if (m.info.pending === 0) break;
    }
  }
  return batches;
}

/** A task's part counts when they are one whole number per subject; otherwise undefined (the counts are asked for). */
function validParts(parts: readonly unknown[] | undefined, subjects: number): number[] | undefined {
  if (!Array.isArray(parts) || parts.length !== subjects) return undefined;
  return parts.every((n) => Number.isSafeInteger(n) && (n as number) >= 0) ? (parts as number[]) : undefined;
}

/**
 * Columnar form of named columns: numeric ones packed column-major into one Float64Array
 * (NaN where missing), string ones as arrays. A column is a string column when the reference
 * says so or any of its values is a string. `extra` columns (timestamps, latencies) follow.
 *
 * With `referenceOf` (a window's columns), a column with reference statistics has the
 * reference's type, and a value of the wrong type (`isWrongType`) is made missing and counted
 * in `wrongType` (per column): rows stored before the endpoint had a reference are read as
 * the ones stored after.
 */
export function packColumns(
  names: readonly string[],
  length: number,
  valueAt: (column: number, row: number) => CellValue,
  isCategorical: (name: string) => boolean,
  extra: Float64Array[] = [],
  referenceOf?: (name: string) => FeatureStats | undefined,
): { numeric: string[]; strings: Record<string, Array<string | null>>; packed: Float64Array; wrongType: number[] } {
  const refs = names.map((name) => referenceOf?.(name));
  const categorical = names.map((name, c) => {
    const ref = refs[c];
    if (ref) return ref.type === 'categorical';
    if (isCategorical(name)) return true;
    for (let i = 0; i < length; i++) if (typeof valueAt(c, i) === 'string') return true;
    return false;
  });
  const numeric = names.filter((_, c) => !categorical[c]);
  const packed = new Float64Array((numeric.length + extra.length) * length);
  const strings = dict<Array<string | null>>();
  const wrongType = new Array<number>(names.length).fill(0);
  let slot = 0;
  names.forEach((name, c) => {
    const ref = refs[c];
    if (categorical[c]) {
      const out = new Array<string | null>(length);
      for (let i = 0; i < length; i++) {
        const v = valueAt(c, i);
        if (typeof v === 'number' && isWrongType(v, ref)) {
          wrongType[c]!++;
          out[i] = null;
        } else out[i] = v === null ? null : String(v);
      }
      strings[name] = out;
    } else {
      const base = slot++ * length;
      for (let i = 0; i < length; i++) {
        const v = valueAt(c, i);
        if (typeof v === 'number') packed[base + i] = v;
        else {
          if (typeof v === 'string' && isWrongType(v, ref)) wrongType[c]!++;
          packed[base + i] = NaN;
        }
      }
    }
  });
  extra.forEach((col, j) => packed.set(col, (numeric.length + j) * length));
  return { numeric, strings, packed, wrongType };
}

/**
 * The window's rows as the sandbox takes them, with per-column statistics on the reference's bins.
 * With `within`, only the rows whose time is in `[start, end)` (rows read from subjects that also
 * hold other windows' rows).
 */
export function buildWindowData(batches: RowBatch[], endpoint: EndpointRecord, within?: { start: number; end: number }): WindowData {
  const names = [...endpoint.featureNames, ...endpoint.labelNames];
  const nf = endpoint.featureNames.length;
  const rows: Array<{ b: RowBatch; i: number }> = [];
  for (const b of batches) {
    for (let i = 0; i < b.ts.length; i++) if (!within || (b.ts[i]! >= within.start && b.ts[i]! < within.end)) rows.push({ b, i });
  }
  const n = rows.length;
  const ts = new Float64Array(n);
  const lat = new Float64Array(n);
  const requestIds = new Array<string | null>(n);
  rows.forEach(({ b, i }, k) => {
    ts[k] = b.ts[i]!;
    lat[k] = b.lat[i] ?? NaN;
    requestIds[k] = b.rid[i] ?? null;
  });
  const { numeric, strings, packed, wrongType } = packColumns(
    names,
    n,
    (c, k) => {
      const { b, i } = rows[k]!;
      return (c < nf ? b.x[i]![c] : b.y[i]![c - nf]) ?? null;
    },
    () => false,
    [ts, lat],
    (name) => endpoint.featureStats[name],
  );
  // values of the wrong type made missing at ingest, counted per stored part (so once per event)
  for (const b of batches) {
    if (!b.wrongType) continue;
    for (let c = 0; c < names.length; c++) wrongType[c]! += b.wrongType[c] ?? 0;
  }
  const data: SampleData = { length: n, columns: names, numeric, strings, requestIds, timed: true, packed };
  return { ...data, sampleStats: sampleStatsOf(data, endpoint.featureStats, wrongType) };
}

/** A sample's statistics per column, numeric histograms counted on the reference's bins; `wrongType[c]` values of column c were of the wrong type. */
export function sampleStatsOf(sample: SampleData, featureStats: FeatureStatsMap, wrongType?: readonly number[]): FeatureStatsMap {
  const out: FeatureStatsMap = {};
  const n = sample.length;
  let slot = 0;
  sample.columns.forEach((name, c) => {
    const values = name in sample.strings ? sample.strings[name]! : sample.packed.subarray(slot * n, ++slot * n);
    out[name] = windowStats(values, featureStats[name], wrongType?.[c]);
  });
  return out;
}

/** Ground truth joined to a window's rows by request id, as extra packed columns. */
export function withGroundTruth(
  data: WindowData,
  labelNames: readonly string[],
  labels: ReadonlyMap<string, Record<string, CellValue>>,
): { sample: SampleData; groundTruth: { matched: number; numeric: string[]; strings: Record<string, Array<string | null>> } } {
  const n = data.length;
  let matched = 0;
  const found = data.requestIds.map((id) => {
    const l = id === null ? undefined : labels.get(id);
    if (l) matched++;
    return l;
  });
  const gt = packColumns(
    labelNames,
    n,
    (c, i) => found[i]?.[labelNames[c]!] ?? null,
    () => false,
  );
  const packed = new Float64Array(data.packed.length + gt.packed.length);
  packed.set(data.packed);
  packed.set(gt.packed, data.packed.length);
  return { sample: { ...data, packed }, groundTruth: { matched, numeric: gt.numeric, strings: gt.strings } };
}

/**
 * The reference rows as a sample (no timestamps): the endpoint's features and labels first, then
 * any other column of the training data (a true target next to the model's prediction, say).
 */
export function referenceSample(table: ReferenceTable, endpoint: EndpointRecord): SampleData {
  const known = [...endpoint.featureNames, ...endpoint.labelNames];
  const names = [...known.filter((c) => c in table.values), ...table.columns.filter((c) => !known.includes(c))];
  const cols = names.map((c) => table.values[c]!);
  const { numeric, strings, packed } = packColumns(
    names,
    table.rows,
    (c, i) => cols[c]![i] ?? null,
    (name) => endpoint.featureStats[name]?.type === 'categorical',
  );
  return { length: table.rows, columns: names, numeric, strings, packed, requestIds: new Array<string | null>(table.rows).fill(null), timed: false };
}

/**
 * Ground truth of an endpoint that arrived since `sinceMs`, by request id (the latest wins).
 * Labels published straight to NATS are validated here; invalid ones are skipped.
 */
export async function readLabels(js: JetStreamClient, endpoint: EndpointRecord, sinceMs: number): Promise<Map<string, Record<string, CellValue>>> {
  const out = new Map<string, Record<string, CellValue>>();
  const consumer = await js.consumers.get(Streams.labels, {
    filter_subjects: Subjects.labels(endpoint.name),
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(Math.max(0, sinceMs)).toISOString(),
    inactive_threshold: READ_ONCE_CONSUMER_IDLE_MS,
  });
  const info = await consumer.info(true);
  if (info.num_pending === 0) return out;
  const iter = await consumer.fetch({ max_messages: info.num_pending, expires: 10_000 });
  for await (const m of iter) {
    let items: unknown;
    try {
      items = jsonCodec.decode<unknown>(m.data);
    } catch {
      items = [];
    }
    for (const raw of Array.isArray(items) ? items : [items]) {
      try {
        const l = normalizeLabel(raw, endpoint);
        out.set(l.requestId, { ...out.get(l.requestId), ...l.labels });
      } catch {
        /* not a valid label: skipped */
      }
    }
    if (m.info.pending === 0) break;
  }
  return out;
}
