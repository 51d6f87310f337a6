import type { CellValue } from '@modelwatch/sdk';
import { ModelwatchError } from '../errors.js';
import type { EndpointRecord } from '../store/endpoints.js';

/**
 * The native inference event. `POST /api/v1/endpoints/{name}/events` and the NATS subject
 * `mw.events.<name>` take one of these or an array of them.
 *
 * @example
 * ```json
 * { "when": "2026-11-27T10:00:00.000Z", "inputs": [[5.1, 3.5, 1.4, 0.2]], "outputs": [0], "requestId": "r-1", "latencyMicros": 850 }
 * ```
 */
export interface InferenceEvent {
  /** Event time: ISO 8601, MLRun's `YYYY-MM-DD HH:MM:SS.ffffff` (UTC), or ms since the epoch. Default: arrival time. */
  when?: string | number;
  /** Rows: arrays in feature order, or objects keyed by feature name. */
  inputs: Array<CellValue[] | Record<string, CellValue>>;
  /** One prediction per row: a scalar or an array (several outputs). */
  outputs?: unknown;
  requestId?: string;
  latencyMicros?: number;
  labels?: Record<string, string>;
}

/** Rows of one event or more, ready to store. Row-major, columns in the endpoint's order. */
export interface Rows {
  ts: number[];
  x: CellValue[][];
  y: CellValue[][];
  rid: Array<string | null>;
  lat: Array<number | null>;
}

/** Names an event implies for an endpoint that has none yet (MLRun's `f0..fn` / `p0..pn`, or object keys). */
export interface InferredNames {
  featureNames?: string[];
  labelNames?: string[];
}

export class InvalidEventError extends ModelwatchError {
  constructor(message: string) {
    super('INVALID_EVENT', message);
    this.name = 'InvalidEventError';
  }
}

export const MAX_ROWS_PER_EVENT = 100_000;

/** Parse an event time; throws on anything that is not a valid time. */
export function parseWhen(when: unknown, defaultMs: number): number {
  if (when === undefined || when === null) return defaultMs;
  if (typeof when === 'number') {
    if (!Number.isFinite(when) || when < 0) throw new InvalidEventError(`when: ${when} is not a time (ms since the epoch)`);
    return when;
  }
  if (typeof when !== 'string') throw new InvalidEventError(`when: expected a string or number, got ${typeof when}`);
  let s = when.trim();
  // MLRun: "2024-01-01 10:00:00.123456" in UTC
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (m) s = `${m[1]}T${m[2]}${m[3] ? m[3].slice(0, 4) : ''}${m[4] ?? 'Z'}`;
  const t = Date.parse(s);
  if (!Number.isFinite(t)) throw new InvalidEventError(`when: '${when}' is not a time (use ISO 8601)`);
  return t;
}

/** What names an event would give an endpoint that has none. */
export function inferNames(event: unknown, endpoint: EndpointRecord): InferredNames {
  const out: InferredNames = {};
  if (!isObject(event) || !Array.isArray(event.inputs) || event.inputs.length === 0) return out;
  const first = event.inputs[0];
  if (endpoint.featureNames.length === 0) {
    if (Array.isArray(first)) out.featureNames = first.map((_, i) => `f${i}`);
    else if (isObject(first)) out.featureNames = Object.keys(first);
  }
  if (endpoint.labelNames.length === 0 && event.outputs !== undefined && event.outputs !== null) {
    const outs = event.outputs;
    // the same reading as outputRows: one row with a flat list = several outputs of that row
    const flatForOneRow = Array.isArray(outs) && event.inputs.length === 1 && outs.length !== 1 && outs.every((o) => !Array.isArray(o));
    const o = Array.isArray(outs) && !flatForOneRow ? outs[0] : outs;
    const width = Array.isArray(o) ? o.length : 1;
    out.labelNames = Array.from({ length: width }, (_, i) => `p${i}`);
  }
  return out;
}

/**
 * Validate one native event against its endpoint and append its rows to `into`.
 * @throws {InvalidEventError} saying what is wrong
 */
export function appendEventRows(event: unknown, endpoint: EndpointRecord, arrivalMs: number, into: Rows): void {
  if (!isObject(event)) throw new InvalidEventError(`an event must be a JSON object, got ${kind(event)}`);
  const { inputs, outputs } = event;
  if (inputs === undefined) throw new InvalidEventError('inputs: missing (a list of rows)');
  if (!Array.isArray(inputs)) throw new InvalidEventError(`inputs: expected a list of rows, got ${kind(inputs)}`);
  if (inputs.length === 0) throw new InvalidEventError('inputs: no rows');
  if (inputs.length > MAX_ROWS_PER_EVENT) throw new InvalidEventError(`inputs: ${inputs.length} rows, over the limit of ${MAX_ROWS_PER_EVENT} per event`);
  const t = parseWhen(event.when, arrivalMs);
  const requestId = event.requestId;
  if (requestId !== undefined && requestId !== null && typeof requestId !== 'string') {
    throw new InvalidEventError(`requestId: expected a string, got ${kind(requestId)}`);
  }
  const latency = event.latencyMicros;
  if (latency !== undefined && latency !== null && (typeof latency !== 'number' || !Number.isFinite(latency) || latency < 0)) {
    throw new InvalidEventError(`latencyMicros: expected a non-negative number, got ${kind(latency)}`);
  }
  if (event.labels !== undefined && !isObject(event.labels)) throw new InvalidEventError(`labels: expected an object, got ${kind(event.labels)}`);

  const features = endpoint.featureNames;
  const xs = inputs.map((row, i) => toRow(row, features, `inputs[${i}]`));
  const ys = outputRows(outputs, inputs.length, endpoint.labelNames);
  const n = xs.length;
  const start = into.ts.length;
  for (let i = 0; i < n; i++) {
    into.ts.push(t);
    into.x.push(xs[i]!);
    into.y.push(ys[i]!);
    into.rid.push(typeof requestId === 'string' ? (n > 1 ? `${requestId}#${i}` : requestId) : null);
    into.lat.push(typeof latency === 'number' ? latency : null);
  }
  void start;
}

export function emptyRows(): Rows {
  return { ts: [], x: [], y: [], rid: [], lat: [] };
}

function toRow(row: unknown, names: readonly string[], path: string): CellValue[] {
  if (Array.isArray(row)) {
    if (row.length !== names.length) {
      throw new InvalidEventError(`${path}: ${row.length} values, but the endpoint has ${names.length} features (${preview(names)})`);
    }
    return row.map((v, j) => cell(v, `${path}[${j}] (${names[j]})`));
  }
  if (isObject(row)) {
    const index = new Map(names.map((n, j) => [n, j]));
    const out: CellValue[] = new Array<CellValue>(names.length).fill(null);
    for (const [k, v] of Object.entries(row)) {
      const j = index.get(k);
      if (j === undefined) throw new InvalidEventError(`${path}: unknown feature '${k}' (the endpoint has ${preview(names)})`);
      out[j] = cell(v, `${path}.${k}`);
    }
    return out;
  }
  throw new InvalidEventError(`${path}: a row must be an array or an object, got ${kind(row)}`);
}

function outputRows(outputs: unknown, n: number, labels: readonly string[]): CellValue[][] {
  const width = labels.length;
  const one = (o: unknown, path: string): CellValue[] => {
    const vals = Array.isArray(o) ? o : [o];
    if (vals.length !== width) {
      throw new InvalidEventError(`${path}: ${vals.length} values, but the endpoint has ${width} outputs (${preview(labels)})`);
    }
    return vals.map((v, j) => cell(v, `${path}[${j}] (${labels[j]})`));
  };
  if (outputs === undefined || outputs === null) return Array.from({ length: n }, () => new Array<CellValue>(width).fill(null));
  if (!Array.isArray(outputs)) {
    if (n !== 1) throw new InvalidEventError(`outputs: one value for ${n} rows; send one prediction per row`);
    return [one(outputs, 'outputs')];
  }
  if (outputs.length === n) return outputs.map((o, i) => one(o, `outputs[${i}]`));
  if (n === 1 && outputs.every((o) => !Array.isArray(o))) return [one(outputs, 'outputs')];
  throw new InvalidEventError(`outputs: ${outputs.length} predictions for ${n} rows`);
}

function cell(v: unknown, path: string): CellValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InvalidEventError(`${path}: ${v} is not a finite number`);
    return v;
  }
  if (typeof v === 'string') {
    if (v.length > 4096) throw new InvalidEventError(`${path}: a string of ${v.length} characters (at most 4096)`);
    return v;
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new InvalidEventError(`${path}: expected a number, string, boolean or null, got ${kind(v)}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
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
