import { isWrongType } from '@modelwatch/sdk/stats';
import type { CellValue, FeatureStats } from '@modelwatch/sdk';
import { isFlatRow, type EndpointRecord, type RequestBatch, type Rows } from '@modelwatch/protocol';
import { InvalidEventError } from '../errors.js';

/** What a request batch says about serving, for all the requests it stands for. */
export interface BatchServing {
  requests: number;
  errors: number;
  latencies: number[];
  dropped: number;
  samplingPercentage: number;
  tMin: number | null;
  tMax: number | null;
}

export type EventKind = 'native' | 'mlrun' | 'columnar';

/**
 * One validated event (any format): its rows column-major (`x[c][i]`, `y[c][i]`) and what it
 * says about serving (requests, errors, latencies, sampling).
 */
export interface ParsedEvent {
  kind: EventKind;
  /** Rows. */
  n: number;
  /** Event time of each row (ms). */
  ts: number[];
  /** Feature columns, in the endpoint's order. */
  x: CellValue[][];
  /** Output columns, in the endpoint's order. */
  y: CellValue[][];
  /** Request id per row, or null when the event has none. */
  rid: Array<string | null> | null;
  /** Latency per row (µs), or null when the event has none. */
  lat: Array<number | null> | null;
  /** Inference requests this event stands for. */
  requests: number;
  /** Failed requests among them. */
  errors: number;
  /** Latencies of the requests (µs), one per request that has one. */
  latencies: number[];
  /** The share of rows the sender kept, 0 < p <= 100; estimated predictions = rows * 100 / p. */
  samplingPercentage: number;
  /** Requests the sender could not deliver (the tracker's count of dropped events). */
  dropped: number;
  /** Earliest and latest event time of its requests (ms). */
  tMin: number;
  tMax: number;
  /**
   * Values of the wrong type for their column's reference (a string in a numeric column, a
   * number in a text one), made missing: per column (features, then outputs) the rows that had
   * one, ascending; null when there were none.
   */
  wrongType: number[][] | null;
}

/** Names an event implies for an endpoint that has none yet (MLRun's `f0..fn` / `p0..pn`, or object keys). */
export interface InferredNames {
  featureNames?: string[];
  labelNames?: string[];
}

export const MAX_ROWS_PER_EVENT = 100_000;
const MAX_STRING = 4096;

/** Parse an event time; throws on anything that is not a valid time. */
export function parseWhen(when: unknown, defaultMs: number, path = 'when'): number {
  if (when === undefined || when === null) return defaultMs;
  if (typeof when === 'number') {
    if (!Number.isFinite(when) || when < 0) throw new InvalidEventError(`${path}: ${when} is not a time (ms since the epoch)`);
    return when;
  }
  if (typeof when !== 'string') throw new InvalidEventError(`${path}: expected a string or number, got ${typeof when}`);
  let s = when.trim();
  // MLRun: "2024-01-01 10:00:00.123456" in UTC, or with "+00:00" (Python's str(datetime))
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (m) s = `${m[1]}T${m[2]}${m[3] ? m[3].slice(0, 4) : ''}${m[4] ?? 'Z'}`;
  const t = Date.parse(s);
  if (!Number.isFinite(t)) throw new InvalidEventError(`${path}: '${when}' is not a time (use ISO 8601)`);
  return t;
}

/** Which format a (JSON-decoded) event is in. */
export function eventKind(event: unknown): EventKind {
  if (isObject(event)) {
    if (event.format === 'columnar') return 'columnar';
    if (isObject(event.request) || (isObject(event.resp) && event.inputs === undefined)) return 'mlrun';
  }
  return 'native';
}

/**
 * The events of one message body: an array is one event per element; MLRun's batched form
 * (`{headers, values}`, what its serving functions push when `stream_batch > 1`) is one MLRun
 * event per value row; anything else is one event. `index` is the position in the body.
 */
export function eventsOf(body: unknown): Array<{ event: unknown; index?: number }> {
  if (Array.isArray(body)) return body.map((event, index) => ({ event, index }));
  if (isRequestBatch(body)) return Array.isArray(body.events) ? body.events.map((event, index) => ({ event, index })) : [];
  if (isObject(body) && Array.isArray(body.headers) && Array.isArray(body.values) && body.inputs === undefined) {
    const headers = body.headers as unknown[];
    const { headers: _h, values: _v, ...base } = body;
    return (body.values as unknown[]).map((row, index) => {
      if (!Array.isArray(row)) return { event: row, index };
      const ev: Record<string, unknown> = { ...base };
      headers.forEach((h, j) => {
        if (typeof h === 'string') ev[h] = row[j];
      });
      return { event: ev, index };
    });
  }
  return [{ event: body }];
}

/** Whether a body is a request batch (`format: "batch"`). */
export function isRequestBatch(body: unknown): body is RequestBatch {
  return isObject(body) && body.format === 'batch';
}

/**
 * Validate the envelope of a request batch (not its events).
 * @throws {InvalidEventError} saying what is wrong
 */
export function parseRequestBatch(body: Record<string, unknown>, arrivalMs: number): BatchServing {
  if (!Array.isArray(body.events)) throw new InvalidEventError(`events: expected a list of events, got ${kind(body.events)}`);
  const samplingPercentage = samplingOf(body.samplingPercentage, 'samplingPercentage');
  const R = body.requests;
  if (!isObject(R)) throw new InvalidEventError(`requests: expected an object { count, errors?, latencyMicros?, dropped? }, got ${kind(R)}`);
  const requests = countOf(R.count, 'requests.count');
  const errors = R.errors === undefined ? 0 : countOf(R.errors, 'requests.errors');
  const dropped = R.dropped === undefined ? 0 : countOf(R.dropped, 'requests.dropped');
  if (errors > requests) throw new InvalidEventError(`requests.errors: ${errors} errors for ${requests} requests`);
  let latencies: number[] = [];
  if (R.latencyMicros !== undefined && R.latencyMicros !== null) {
    if (!Array.isArray(R.latencyMicros)) throw new InvalidEventError(`requests.latencyMicros: expected a list, got ${kind(R.latencyMicros)}`);
    if (R.latencyMicros.length > requests) throw new InvalidEventError(`requests.latencyMicros: ${R.latencyMicros.length} latencies for ${requests} requests`);
    latencies = R.latencyMicros.map((v, i) => latencyOf(v, `requests.latencyMicros[${i}]`) ?? 0);
  }
  const tMin = R.firstWhen === undefined || R.firstWhen === null ? null : parseWhen(R.firstWhen, arrivalMs, 'requests.firstWhen');
  const tMax = R.lastWhen === undefined || R.lastWhen === null ? null : parseWhen(R.lastWhen, arrivalMs, 'requests.lastWhen');
  return { requests, errors, latencies, dropped, samplingPercentage, tMin, tMax };
}

/** What names an event would give an endpoint that has none. */
export function inferNames(event: unknown, endpoint: EndpointRecord): InferredNames {
  const out: InferredNames = {};
  if (!isObject(event)) return out;
  const kind = eventKind(event);
  if (kind === 'columnar') return inferColumnarNames(event, endpoint);
  const inputs = kind === 'mlrun' ? (isObject(event.request) ? event.request.inputs : undefined) : event.inputs;
  const outputs = kind === 'mlrun' ? (isObject(event.resp) ? event.resp.outputs : undefined) : event.outputs;
  if (!Array.isArray(inputs) || inputs.length === 0) return out;
  const rows: unknown[] = isFlatRow(inputs) ? [inputs] : inputs;
  const first = rows[0];
  if (endpoint.featureNames.length === 0) {
    if (Array.isArray(first)) out.featureNames = first.map((_, i) => `f${i}`);
    else if (isObject(first)) out.featureNames = Object.keys(first);
  }
  if (endpoint.labelNames.length === 0 && outputs !== undefined && outputs !== null) {
    // the same reading as outputColumns: one row with a flat list = several outputs of that row
    const flatForOneRow = Array.isArray(outputs) && rows.length === 1 && outputs.length !== 1 && outputs.every((o) => !Array.isArray(o));
    const o = Array.isArray(outputs) && !flatForOneRow ? outputs[0] : outputs;
    const width = Array.isArray(o) ? o.length : 1;
    out.labelNames = Array.from({ length: width }, (_, i) => `p${i}`);
  }
  return out;
}

/**
 * What names the events of a message give an endpoint that has none: features from the first
 * event that has inputs, outputs from the first that has outputs (an error event or one
 * without outputs may come first).
 */
export function inferNamesFrom(events: ReadonlyArray<{ event: unknown }>, endpoint: EndpointRecord): InferredNames {
  const out: InferredNames = {};
  for (const { event } of events.slice(0, 1000)) {
    const n = inferNames(event, { ...endpoint, featureNames: out.featureNames ?? endpoint.featureNames, labelNames: out.labelNames ?? endpoint.labelNames });
    if (n.featureNames) out.featureNames = n.featureNames;
    if (n.labelNames) out.labelNames = n.labelNames;
    if ((out.featureNames || endpoint.featureNames.length) && (out.labelNames || endpoint.labelNames.length)) break;
  }
  return out;
}

function inferColumnarNames(event: Record<string, unknown>, endpoint: EndpointRecord): InferredNames {
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

/**
 * Validate one event of any format against its endpoint.
 * @throws {InvalidEventError} saying what is wrong
 */
export function parseEvent(event: unknown, endpoint: EndpointRecord, arrivalMs: number): ParsedEvent {
  stringCells = 0;
  const kind = eventKind(event);
  if (kind === 'columnar') return parseColumnar(event as Record<string, unknown>, endpoint, arrivalMs);
  if (kind === 'mlrun') return parseMlrun(event as Record<string, unknown>, endpoint, arrivalMs);
  return parseNative(event, endpoint, arrivalMs);
}

/**
 * Validate one event against its endpoint and append its rows to `into` (row-major).
 * @throws {InvalidEventError} saying what is wrong
 */
export function appendEventRows(event: unknown, endpoint: EndpointRecord, arrivalMs: number, into: Rows): void {
  const p = parseEvent(event, endpoint, arrivalMs);
  for (let i = 0; i < p.n; i++) {
    into.ts.push(p.ts[i]!);
    into.x.push(p.x.map((col) => col[i]!));
    into.y.push(p.y.map((col) => col[i]!));
    into.rid.push(p.rid ? p.rid[i]! : null);
    into.lat.push(p.lat ? p.lat[i]! : null);
  }
}

export function emptyRows(): Rows {
  return { ts: [], x: [], y: [], rid: [], lat: [] };
}

// ---------------------------------------------------------------- native

function parseNative(event: unknown, endpoint: EndpointRecord, arrivalMs: number): ParsedEvent {
  if (!isObject(event)) throw new InvalidEventError(`an event must be a JSON object, got ${kind(event)}`);
  const { inputs, outputs } = event;
  const sampling = samplingOf(event.samplingPercentage, 'samplingPercentage');
  if (event.error !== undefined && event.error !== null && event.error !== false) {
    return errorEvent('native', event.when, event.latencyMicros, 'latencyMicros', arrivalMs, sampling);
  }
  if (inputs === undefined) throw new InvalidEventError('inputs: missing (a list of rows)');
  if (!Array.isArray(inputs)) throw new InvalidEventError(`inputs: expected a list of rows, got ${kind(inputs)}`);
  if (inputs.length === 0) throw new InvalidEventError('inputs: no rows');
  if (inputs.length > MAX_ROWS_PER_EVENT && !isFlatRow(inputs))
    throw new InvalidEventError(`inputs: ${inputs.length} rows, over the limit of ${MAX_ROWS_PER_EVENT} per event`);
  const t = parseWhen(event.when, arrivalMs);
  const requestId = event.requestId;
  if (requestId !== undefined && requestId !== null && typeof requestId !== 'string') {
    throw new InvalidEventError(`requestId: expected a string, got ${kind(requestId)}`);
  }
  const latency = latencyOf(event.latencyMicros, 'latencyMicros');
  if (event.labels !== undefined && !isObject(event.labels)) throw new InvalidEventError(`labels: expected an object, got ${kind(event.labels)}`);
  return rowsEvent('native', inputs, outputs, 'inputs', 'outputs', endpoint, t, typeof requestId === 'string' ? requestId : null, latency, sampling);
}

// ---------------------------------------------------------------- MLRun

function parseMlrun(event: Record<string, unknown>, endpoint: EndpointRecord, arrivalMs: number): ParsedEvent {
  const request = isObject(event.request) ? event.request : undefined;
  const resp = isObject(event.resp) ? event.resp : undefined;
  const sampling = samplingOf(event.sampling_percentage, 'sampling_percentage');
  if (event.error !== undefined && event.error !== null && event.error !== false && event.error !== '') {
    return errorEvent('mlrun', event.when, event.microsec, 'microsec', arrivalMs, sampling);
  }
  if (event.when === undefined || event.when === null) throw new InvalidEventError('when: missing (MLRun\'s request time, e.g. "2024-01-01 10:00:00.123456")');
  const t = parseWhen(event.when, arrivalMs);
  const id = request?.id ?? resp?.id;
  if (id === undefined || id === null || id === '') throw new InvalidEventError('request.id: missing (MLRun events carry request.id or resp.id)');
  if (typeof id !== 'string' && typeof id !== 'number') throw new InvalidEventError(`request.id: expected a string, got ${kind(id)}`);
  if (event.microsec === undefined || event.microsec === null) throw new InvalidEventError('microsec: missing (the request latency in microseconds)');
  const latency = latencyOf(event.microsec, 'microsec');
  if (!request || request.inputs === undefined || request.inputs === null) throw new InvalidEventError('request.inputs: missing (a list of rows)');
  const inputs = request.inputs;
  if (!Array.isArray(inputs)) throw new InvalidEventError(`request.inputs: expected a list of rows, got ${kind(inputs)}`);
  if (inputs.length === 0) throw new InvalidEventError('request.inputs: no rows');
  if (inputs.length > MAX_ROWS_PER_EVENT && !isFlatRow(inputs))
    throw new InvalidEventError(`request.inputs: ${inputs.length} rows, over the limit of ${MAX_ROWS_PER_EVENT} per event`);
  if (!resp || resp.outputs === undefined || resp.outputs === null) throw new InvalidEventError('resp.outputs: missing (one prediction per row)');
  const effective = event.effective_sample_count;
  if (effective !== undefined && effective !== null && (typeof effective !== 'number' || !Number.isFinite(effective) || effective < 0)) {
    throw new InvalidEventError(`effective_sample_count: expected a non-negative number, got ${kind(effective)}`);
  }
  return rowsEvent('mlrun', inputs, resp.outputs, 'request.inputs', 'resp.outputs', endpoint, t, String(id), latency, sampling);
}

// ---------------------------------------------------------------- columnar

function parseColumnar(event: Record<string, unknown>, endpoint: EndpointRecord, arrivalMs: number): ParsedEvent {
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

// ---------------------------------------------------------------- shared

function errorEvent(k: EventKind, when: unknown, latencyRaw: unknown, latencyPath: string, arrivalMs: number, sampling: number): ParsedEvent {
  const t = parseWhen(when, arrivalMs);
  let latency: number | null;
  try {
    latency = latencyOf(latencyRaw, latencyPath);
  } catch {
    latency = null; // an error report with a strange latency still counts as an error
  }
  return {
    kind: k,
    n: 0,
    ts: [],
    x: [],
    y: [],
    rid: null,
    lat: null,
    requests: 1,
    errors: 1,
    latencies: latency === null ? [] : [latency],
    samplingPercentage: sampling,
    dropped: 0,
    tMin: t,
    tMax: t,
    wrongType: null,
  };
}

function rowsEvent(
  k: EventKind,
  inputs: unknown[],
  outputs: unknown,
  inPath: string,
  outPath: string,
  endpoint: EndpointRecord,
  t: number,
  requestId: string | null,
  latency: number | null,
  sampling: number,
): ParsedEvent {
  const names = endpoint.featureNames;
  const nf = names.length;
  // a list of values is one row written flat, as MLRun reads it
  const flat = isFlatRow(inputs);
  const rows = flat ? [inputs] : inputs;
  const n = rows.length;
  const x: CellValue[][] = Array.from({ length: nf }, () => new Array<CellValue>(n));
  for (let i = 0; i < n; i++) appendRow(rows[i], names, x, i, flat ? inPath : `${inPath}[${i}]`, flat);
  const cols = { x, y: outputColumns(outputs, n, endpoint.labelNames, outPath) };
  const wrongType = retype(cols, endpoint);
  const ts = new Array<number>(n).fill(t);
  const rid = requestId === null ? null : n > 1 ? Array.from({ length: n }, (_, i) => `${requestId}#${i}`) : [requestId];
  const lat = latency === null ? null : new Array<number | null>(n).fill(latency);
  return {
    kind: k,
    n,
    ts,
    x: cols.x,
    y: cols.y,
    rid,
    lat,
    requests: 1,
    errors: 0,
    latencies: latency === null ? [] : [latency],
    samplingPercentage: sampling,
    dropped: 0,
    tMin: t,
    tMax: t,
    wrongType,
  };
}

/** Row `i` into the columns `x`; `path` names the row in messages (`inputs[3]`, or `inputs` for a flat row). */
function appendRow(row: unknown, names: readonly string[], x: CellValue[][], i: number, path: string, flat: boolean): void {
  if (Array.isArray(row)) {
    if (row.length !== names.length) {
      const hint = flat ? `: a list of values is one row${names.length === 1 ? '; rows of a one-feature model are written [[v], [v], ...]' : ''}` : '';
      throw new InvalidEventError(`${path}: ${row.length} values, but the endpoint has ${names.length} features (${preview(names)})${hint}`);
    }
    for (let j = 0; j < row.length; j++) {
      const v = row[j];
      x[j]![i] = typeof v === 'number' && Number.isFinite(v) ? v : cell(v, `${path}[${j}] (${names[j]})`);
    }
    return;
  }
  if (isObject(row)) {
    for (let j = 0; j < names.length; j++) x[j]![i] = null;
    const index = indexOf(names);
    for (const k in row) {
      const j = index.get(k);
      if (j === undefined) throw new InvalidEventError(`${path}: unknown feature '${k}' (the endpoint has ${preview(names)})`);
      x[j]![i] = cell(row[k], `${path}.${k}`);
    }
    return;
  }
  throw new InvalidEventError(`${path}: a row must be an array or an object, got ${kind(row)}`);
}

/**
 * Make the values whose type differs from their column's reference (see `isWrongType`) missing,
 * in place of `cols` (a column is copied before it changes: it may be the sender's list, which
 * the HTTP API forwards as it came). Returns, per column (features then outputs), the rows that
 * had one; null when none had. `numbersOnly` names columns known to hold no string (features
 * then outputs), whose scan a numeric reference spares.
 */
function retype(cols: { x: CellValue[][]; y: CellValue[][] }, endpoint: EndpointRecord, numbersOnly?: readonly boolean[]): number[][] | null {
  const stats = endpoint.featureStats;
  let out: number[][] | null = null;
  const nf = cols.x.length;
  const groups: Array<[CellValue[][], readonly string[], number]> = [
    [cols.x, endpoint.featureNames, 0],
    [cols.y, endpoint.labelNames, nf],
  ];
  for (const [group, names, base] of groups) {
    for (let j = 0; j < group.length; j++) {
      const ref: FeatureStats | undefined = stats[names[j]!];
      if (!ref) continue;
      const numeric = ref.type === 'numeric';
      // every string of an event went through cell(): without any, a numeric column has no wrong value
      if (numeric && (stringCells === 0 || numbersOnly?.[base + j])) continue;
      let col = group[j]!;
      let copied = false;
      for (let i = 0; i < col.length; i++) {
        const v = col[i];
        // the common case (a number in a numeric column) decides on typeof alone
        if (numeric ? typeof v !== 'string' : typeof v !== 'number') continue;
        if (!isWrongType(v, ref)) continue;
        if (!copied) {
          col = group[j] = col.slice();
          copied = true;
        }
        col[i] = null;
        out ??= Array.from({ length: nf + cols.y.length }, () => []);
        out[base + j]!.push(i);
      }
    }
  }
  return out;
}

const indexes = new WeakMap<readonly string[], Map<string, number>>();
function indexOf(names: readonly string[]): Map<string, number> {
  let m = indexes.get(names);
  if (!m) {
    m = new Map(names.map((n, j) => [n, j]));
    indexes.set(names, m);
  }
  return m;
}

/** Output columns: one prediction per row (a scalar or a list), a scalar for one row, or a flat list of outputs for one row. */
function outputColumns(outputs: unknown, n: number, labels: readonly string[], path: string): CellValue[][] {
  const width = labels.length;
  const y: CellValue[][] = Array.from({ length: width }, () => new Array<CellValue>(n).fill(null));
  const one = (o: unknown, i: number, p: string) => {
    if (Array.isArray(o)) {
      if (o.length !== width) throw new InvalidEventError(`${p}: ${o.length} values, but the endpoint has ${width} outputs (${preview(labels)})`);
      for (let j = 0; j < width; j++) {
        const v = o[j];
        y[j]![i] = typeof v === 'number' && Number.isFinite(v) ? v : cell(v, `${p}[${j}] (${labels[j]})`);
      }
      return;
    }
    if (width !== 1) throw new InvalidEventError(`${p}: 1 values, but the endpoint has ${width} outputs (${preview(labels)})`);
    y[0]![i] = typeof o === 'number' && Number.isFinite(o) ? o : cell(o, `${p}[0] (${labels[0]})`);
  };
  if (outputs === undefined || outputs === null) return y;
  if (!Array.isArray(outputs)) {
    if (n !== 1) throw new InvalidEventError(`${path}: one value for ${n} rows; send one prediction per row`);
    one(outputs, 0, path);
    return y;
  }
  if (outputs.length === n) {
    for (let i = 0; i < n; i++) one(outputs[i], i, `${path}[${i}]`);
    return y;
  }
  if (n === 1 && outputs.every((o) => !Array.isArray(o))) {
    one(outputs, 0, path);
    return y;
  }
  throw new InvalidEventError(`${path}: ${outputs.length} predictions for ${n} rows`);
}

/**
 * Strings taken by {@link cell} since the event being parsed began (parsing is synchronous): an
 * event without any spares `retype` the scan of its numeric columns, the common case.
 */
let stringCells = 0;

function cell(v: unknown, path: string): CellValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InvalidEventError(`${path}: ${v} is not a finite number`);
    return v;
  }
  if (typeof v === 'string') {
    if (v.length > MAX_STRING) throw new InvalidEventError(`${path}: a string of ${v.length} characters (at most ${MAX_STRING})`);
    stringCells++;
    return v;
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new InvalidEventError(`${path}: expected a number, string, boolean or null, got ${kind(v)}`);
}

function latencyOf(v: unknown, path: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidEventError(`${path}: expected a non-negative number, got ${kind(v)}`);
  return v;
}

function samplingOf(v: unknown, path: string): number {
  if (v === undefined || v === null) return 100;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 100)
    throw new InvalidEventError(`${path}: expected a percentage, 0 < p <= 100, got ${kind(v)}`);
  return v;
}

function countOf(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new InvalidEventError(`${path}: expected a whole number >= 0, got ${kind(v)}`);
  return v;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 30 ? v.slice(0, 30) + '...' : v)}`;
  return `${typeof v} ${String(v)}`;
}

function preview(names: readonly string[]): string {
  return names.length <= 8 ? names.join(', ') : `${names.slice(0, 8).join(', ')}, ... (${names.length})`;
}
