/** The columnar micro-batch: `{ format: "columnar", inputs: { name: [values] } | [[values]], outputs?, when?, ... }` (the protocol's `ColumnarBatch`). */
import type { CellValue } from '@modelwatch/sdk';
import type { EndpointRecord } from '@modelwatch/protocol';
import { checkRequestId } from '../../domain/names.js';
import { InvalidEventError } from '../../errors.js';
import {
  MAX_ROWS_PER_EVENT,
  cell,
  countOf,
  isObject,
  kind,
  latencyOf,
  parseWhen,
  preview,
  retype,
  samplingOf,
  type EventFormat,
  type InferredNames,
  type ParsedEvent,
} from './common.js';

function parse(event: Record<string, unknown>, endpoint: EndpointRecord, arrivalMs: number): ParsedEvent {
  const features = endpoint.featureNames;
  const labels = endpoint.labelNames;
  const sampling = samplingOf(event.samplingPercentage, 'samplingPercentage');
  const x = columnsOf(event.inputs, features, 'inputs', true);
  const n = x.n;
  if (n > MAX_ROWS_PER_EVENT) throw new InvalidEventError(`inputs: ${n} rows, over the limit of ${MAX_ROWS_PER_EVENT} per event`);
  let y: CellValue[][];
  let yNumbers: boolean[];
  if (event.outputs === undefined || event.outputs === null) {
    y = labels.map(() => new Array<CellValue>(n).fill(null));
    yNumbers = labels.map(() => true);
  } else {
    const outs = event.outputs;
    const single = Array.isArray(outs) && labels.length === 1 && !outs.every(Array.isArray);
    const yc = columnsOf(single ? [outs] : outs, labels, 'outputs', false);
    if (yc.n !== n) throw new InvalidEventError(`outputs: columns of ${yc.n} values for ${n} rows`);
    y = yc.cols;
    yNumbers = yc.numbersOnly;
  }
  // times
  const ts = new Array<number>(n);
  let tMin = Infinity;
  let tMax = -Infinity;
  if (Array.isArray(event.when)) {
    if (event.when.length !== n) throw new InvalidEventError(`when: ${event.when.length} times for ${n} rows`);
    for (let i = 0; i < n; i++) {
      const t = parseWhen(event.when[i], arrivalMs, `when[${i}]`);
      ts[i] = t;
      if (t < tMin) tMin = t;
      if (t > tMax) tMax = t;
    }
  } else {
    const t = parseWhen(event.when, arrivalMs);
    ts.fill(t);
    tMin = tMax = t;
  }
  // request ids
  let rid: Array<string | null> | null = null;
  if (event.requestIds !== undefined && event.requestIds !== null) {
    const r = event.requestIds;
    if (!Array.isArray(r)) throw new InvalidEventError(`requestIds: expected a list (one per row), got ${kind(r)}`);
    if (r.length !== n) throw new InvalidEventError(`requestIds: ${r.length} ids for ${n} rows`);
    for (let i = 0; i < n; i++) {
      const v = r[i];
      if (v !== null && v !== undefined && typeof v !== 'string') throw new InvalidEventError(`requestIds[${i}]: expected a string, got ${kind(v)}`);
      if (typeof v === 'string') checkRequestId(v, `requestIds[${i}]`);
    }
    rid = r.map((v) => (typeof v === 'string' ? v : null));
  }
  // latencies
  let lat: Array<number | null> | null = null;
  const L = event.latencyMicros;
  if (Array.isArray(L)) {
    if (L.length !== n) throw new InvalidEventError(`latencyMicros: ${L.length} values for ${n} rows`);
    lat = L.map((v, i) => latencyOf(v, `latencyMicros[${i}]`));
  } else if (L !== undefined && L !== null) {
    const v = latencyOf(L, 'latencyMicros');
    lat = new Array<number | null>(n).fill(v);
  }
  // requests: every row is one, unless the sender says otherwise
  let requests = n;
  let errors = 0;
  let dropped = 0;
  let latencies: number[];
  const R = event.requests;
  if (R !== undefined && R !== null) {
    if (!isObject(R)) throw new InvalidEventError(`requests: expected an object { count, errors?, latencyMicros?, dropped? }, got ${kind(R)}`);
    requests = countOf(R.count, 'requests.count');
    errors = R.errors === undefined ? 0 : countOf(R.errors, 'requests.errors');
    dropped = R.dropped === undefined ? 0 : countOf(R.dropped, 'requests.dropped');
    if (errors > requests) throw new InvalidEventError(`requests.errors: ${errors} errors for ${requests} requests`);
    if (R.latencyMicros === undefined || R.latencyMicros === null) latencies = [];
    else {
      if (!Array.isArray(R.latencyMicros)) throw new InvalidEventError(`requests.latencyMicros: expected a list, got ${kind(R.latencyMicros)}`);
      if (R.latencyMicros.length > requests)
        throw new InvalidEventError(`requests.latencyMicros: ${R.latencyMicros.length} latencies for ${requests} requests`);
      latencies = R.latencyMicros.map((v, i) => latencyOf(v, `requests.latencyMicros[${i}]`) ?? 0);
    }
    if (n === 0 && requests === 0) throw new InvalidEventError('inputs: no rows and no requests');
  } else {
    if (n === 0) throw new InvalidEventError('inputs: no rows');
    latencies = lat ? (lat.filter((v) => v !== null) as number[]) : [];
  }
  if (n === 0) tMin = tMax = parseWhen(Array.isArray(event.when) ? undefined : event.when, arrivalMs);
  const cols = { x: x.cols, y };
  const wrongType = retype(cols, endpoint, [...x.numbersOnly, ...yNumbers]);
  return { kind: 'columnar', n, ts, x: cols.x, y: cols.y, rid, lat, requests, errors, latencies, samplingPercentage: sampling, dropped, tMin, tMax, wrongType };
}

/** Columns by name (object) or in order (a list of lists), each validated; `numbersOnly`: which hold numbers and nulls alone. */
function columnsOf(raw: unknown, names: readonly string[], what: string, required: boolean): { n: number; cols: CellValue[][]; numbersOnly: boolean[] } {
  if (raw === undefined || raw === null) {
    if (required) throw new InvalidEventError(`${what}: missing (one list of values per column)`);
    return { n: 0, cols: names.map(() => []), numbersOnly: names.map(() => true) };
  }
  let byIndex: unknown[];
  if (isObject(raw)) {
    const index = new Map(names.map((n, j) => [n, j]));
    byIndex = new Array<unknown>(names.length).fill(undefined);
    for (const [k, v] of Object.entries(raw)) {
      const j = index.get(k);
      if (j === undefined) throw new InvalidEventError(`${what}: unknown column '${k}' (the endpoint has ${preview(names)})`);
      byIndex[j] = v;
    }
  } else if (Array.isArray(raw)) {
    if (raw.length !== names.length) throw new InvalidEventError(`${what}: ${raw.length} columns, but the endpoint has ${names.length} (${preview(names)})`);
    byIndex = raw;
  } else throw new InvalidEventError(`${what}: expected an object of columns (name -> list of values), got ${kind(raw)}`);
  let n = -1;
  for (let j = 0; j < byIndex.length; j++) {
    const c = byIndex[j];
    if (c === undefined) continue;
    if (!Array.isArray(c)) throw new InvalidEventError(`${what}.${names[j]}: expected a list of values, got ${kind(c)}`);
    if (n === -1) n = c.length;
    else if (c.length !== n) throw new InvalidEventError(`${what}.${names[j]}: ${c.length} values, but the other columns have ${n}`);
  }
  if (n === -1) {
    if (names.length === 0) throw new InvalidEventError(`${what}: the endpoint has no ${what === 'inputs' ? 'features' : 'outputs'} yet`);
    throw new InvalidEventError(`${what}: no columns`);
  }
  const numbersOnly = byIndex.map(() => true);
  const cols = byIndex.map((c, j) => {
    if (c === undefined) return new Array<CellValue>(n).fill(null);
    const src = c as unknown[];
    // the common case: every value a finite number or null, and the list is used as it is
    let clean = true;
    for (let i = 0; i < n; i++) {
      const v = src[i];
      if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) {
        clean = false;
        break;
      }
    }
    if (clean) return src as CellValue[];
    numbersOnly[j] = false;
    const out = new Array<CellValue>(n);
    for (let i = 0; i < n; i++) {
      const v = src[i];
      if (typeof v === 'number' && Number.isFinite(v)) out[i] = v;
      else out[i] = cell(v, `${what}.${names[j]}[${i}]`);
    }
    return out;
  });
  return { n, cols, numbersOnly };
}

function inferNames(event: Record<string, unknown>, endpoint: EndpointRecord): InferredNames {
  const out: InferredNames = {};
  const { inputs, outputs } = event;
  if (endpoint.featureNames.length === 0) {
    if (isObject(inputs) && Object.keys(inputs).length > 0) out.featureNames = Object.keys(inputs);
    else if (Array.isArray(inputs) && inputs.length > 0 && inputs.every(Array.isArray)) out.featureNames = inputs.map((_, i) => `f${i}`);
  }
  if (endpoint.labelNames.length === 0 && outputs !== undefined && outputs !== null) {
    if (isObject(outputs) && Object.keys(outputs).length > 0) out.labelNames = Object.keys(outputs);
    else if (Array.isArray(outputs) && outputs.length > 0) {
      const width = outputs.every(Array.isArray) ? outputs.length : 1;
      out.labelNames = Array.from({ length: width }, (_, i) => `p${i}`);
    }
  }
  return out;
}

export const microBatch: EventFormat = {
  kind: 'columnar',
  detect: (event) => isObject(event) && event.format === 'columnar',
  parse: (event, endpoint, arrivalMs) => parse(event as Record<string, unknown>, endpoint, arrivalMs),
  inferNames: (event, endpoint) => (isObject(event) ? inferNames(event, endpoint) : {}),
};
