/**
 * What every event format shares: the parsed event (`ParsedEvent`), the two format interfaces
 * (`EventFormat` for one event, `MessageFormat` for a body holding several), and the validation
 * of values, times, rows and output columns that the formats are made of.
 */
import { isWrongType } from '@modelwatch/sdk/stats';
import type { CellValue, FeatureStats } from '@modelwatch/sdk';
import { MAX_LATENCY_MICROS, MAX_TIME_MS, MIN_SAMPLING_PERCENTAGE, isFlatRow, type EndpointRecord } from '@modelwatch/protocol';
import { isoTime } from '../../domain/time.js';
import { InvalidEventError } from '../../errors.js';

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
/**
 * How deep lists and objects may nest in an event, the event's own object counted. The formats
 * need 4 (an MLRun event's `request.inputs` rows); the bound keeps what is deeper from code that
 * recurses (`JSON.stringify` overflows the stack at a few thousand levels).
 */
export const MAX_NESTING = 16;

/**
 * The format of one event (an element of a message): how to tell it, validate it against its
 * endpoint, and what names it gives an endpoint that has none. The formats are in
 * `formats/index.ts`, in the order they are tried.
 */
export interface EventFormat {
  /** The name `ParsedEvent.kind` carries. */
  readonly kind: EventKind;
  /** Whether a (JSON-decoded) event is in this format. */
  detect(event: unknown): boolean;
  /**
   * Validate one event against its endpoint (`arrivalMs` stands for a missing time).
   * @throws {InvalidEventError} saying what is wrong
   */
  parse(event: unknown, endpoint: EndpointRecord, arrivalMs: number): ParsedEvent;
  /** The names the event gives an endpoint that has none (only those the endpoint lacks). */
  inferNames(event: unknown, endpoint: EndpointRecord): InferredNames;
}

/**
 * The format of a message body that holds several events (a list, MLRun's batched form, a
 * request batch): how to tell it and unpack its events; an envelope that says something itself
 * (a request batch's request counts) validates it and writes it around a part of its events.
 */
export interface MessageFormat {
  readonly name: string;
  /** Whether a (JSON-decoded) message body is in this format. */
  detect(body: unknown): boolean;
  /** Its events, each with its position in the body. */
  unpack(body: unknown): Array<{ event: unknown; index: number }>;
  /**
   * What the envelope says about serving, for all the requests it stands for; a time in it at
   * most `maxFutureSkewMs` after `arrivalMs`, as an event's (unbounded when not given).
   * @throws {InvalidEventError} saying what is wrong with the envelope (not its events)
   */
  envelope?(body: unknown, arrivalMs: number, maxFutureSkewMs?: number): BatchServing;
  /**
   * The body again, with only `events` (JSON texts) in it: one of the messages the ingest splits
   * it into (`first`: the first of them, which carries what the envelope counts). Without it,
   * a part of a body is a JSON list of its events.
   */
  rewrap?(body: unknown, events: readonly string[], first: boolean): string;
}

/** Parse an event time; throws on anything that is not a valid time. */
export function parseWhen(when: unknown, defaultMs: number, path = 'when'): number {
  if (when === undefined || when === null) return defaultMs;
  if (typeof when === 'number') {
    if (!Number.isFinite(when) || when < 0) throw new InvalidEventError(`${path}: ${when} is not a time (ms since the epoch)`);
    if (when > MAX_TIME_MS)
      throw new InvalidEventError(`${path}: ${when} is out of range: a time in ms since the epoch is at most ${MAX_TIME_MS} (the year 275760)`);
    return when;
  }
  if (typeof when !== 'string') throw new InvalidEventError(`${path}: expected a string or number, got ${typeof when}`);
  // ISO 8601 only (not whatever else Date.parse reads: '1' is no year 2001); without an offset,
  // UTC: MLRun's "2024-01-01 10:00:00.123456", or with "+00:00" (Python's str(datetime))
  const t = isoTime(when.trim(), 'utc');
  if (t === undefined) throw new InvalidEventError(`${path}: '${when.length > 60 ? `${when.slice(0, 57)}...` : when}' is not a time (use ISO 8601)`);
  return t;
}

/** Start parsing an event: its string count begins at zero (see {@link stringCells}). */
export function beginEvent(): void {
  stringCells = 0;
}

/**
 * The names a row-wise event (native, MLRun's) gives an endpoint that has none: features
 * `f0..fn` (or the keys of an object row) from its first row, outputs `p0..pn`.
 */
export function inferRowNames(inputs: unknown, outputs: unknown, endpoint: EndpointRecord): InferredNames {
  const out: InferredNames = {};
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

export function errorEvent(k: EventKind, when: unknown, latencyRaw: unknown, latencyPath: string, arrivalMs: number, sampling: number): ParsedEvent {
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

export function rowsEvent(
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
export function retype(cols: { x: CellValue[][]; y: CellValue[][] }, endpoint: EndpointRecord, numbersOnly?: readonly boolean[]): number[][] | null {
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

export function cell(v: unknown, path: string): CellValue {
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

/** A latency in µs: a number from 0 to {@link MAX_LATENCY_MICROS} (an hour), or null for none. */
export function latencyOf(v: unknown, path: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidEventError(`${path}: expected a non-negative number, got ${kind(v)}`);
  if (v > MAX_LATENCY_MICROS) throw new InvalidEventError(`${path}: ${v} µs is over the limit of ${MAX_LATENCY_MICROS} µs (an hour)`);
  return v;
}

/** A sampling percentage, {@link MIN_SAMPLING_PERCENTAGE} <= p <= 100 (default 100). */
export function samplingOf(v: unknown, path: string): number {
  if (v === undefined || v === null) return 100;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < MIN_SAMPLING_PERCENTAGE || v > 100)
    throw new InvalidEventError(`${path}: expected a percentage, ${MIN_SAMPLING_PERCENTAGE} <= p <= 100, got ${kind(v)}`);
  return v;
}

/** A count of requests: a whole number from 0 to 2^53 - 1 (beyond, sums are no longer exact). */
export function countOf(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new InvalidEventError(`${path}: expected a whole number, 0 <= n <= ${Number.MAX_SAFE_INTEGER}, got ${kind(v)}`);
  return v;
}

/**
 * Refuse a value whose lists and objects nest more than `max` deep (itself counted), naming the
 * field (the key of `value` that holds the nesting; none when `value` is a list). The check
 * recurses at most `max` levels. The key `skip` of an object is not checked (a request batch's
 * `events`, each checked as an event).
 * @throws {InvalidEventError} `labels: lists and objects nested more than 16 deep in the event`
 */
export function checkNesting(value: unknown, what = 'event', max = MAX_NESTING, skip?: string): void {
  if (typeof value !== 'object' || value === null) return;
  const hint = what === 'event' ? " (an event's values are flat: rows of values, outputs, labels)" : '';
  const problem = (field: string) => new InvalidEventError(`${field}: lists and objects nested more than ${max} deep in the ${what}${hint}`);
  if (Array.isArray(value)) {
    if (nestsDeeper(value, max)) throw problem(`the ${what}`);
    return;
  }
  for (const k in value) {
    if (k === skip) continue;
    const v = (value as Record<string, unknown>)[k];
    if (typeof v === 'object' && v !== null && nestsDeeper(v, max - 1)) throw problem(k);
  }
}

/** Whether the lists and objects of `v` (an object or a list, counted) nest more than `levels` deep. */
function nestsDeeper(v: object, levels: number): boolean {
  if (levels <= 0) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x === 'object' && x !== null && nestsDeeper(x, levels - 1)) return true;
    }
    return false;
  }
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === 'object' && x !== null && nestsDeeper(x, levels - 1)) return true;
  }
  return false;
}

/** Text written as it is by {@link jsonText}, next to the values it writes. */
class Raw {
  constructor(readonly text: string) {}
}

/**
 * The JSON text of a decoded value (what `JSON.parse` gives), however deep it nests: a dead
 * letter keeps an event refused for its nesting, which `JSON.stringify` cannot write (it recurses).
 * The same text as `JSON.stringify`.
 */
export function jsonText(value: unknown): string {
  if (typeof value !== 'object' || value === null || !nestsDeeper(value, MAX_NESTING)) return JSON.stringify(value) ?? 'null';
  const out: string[] = [];
  // what is left to write, the next on top
  const todo: unknown[] = [value];
  while (todo.length) {
    const v = todo.pop();
    if (v instanceof Raw) out.push(v.text);
    else if (Array.isArray(v)) {
      todo.push(new Raw(']'));
      for (let i = v.length - 1; i >= 0; i--) {
        todo.push(v[i] ?? null);
        if (i > 0) todo.push(new Raw(','));
      }
      todo.push(new Raw('['));
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v).filter(([, x]) => x !== undefined);
      todo.push(new Raw('}'));
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, x] = entries[i]!;
        todo.push(x);
        todo.push(new Raw(`${i > 0 ? ',' : ''}${JSON.stringify(k)}:`));
      }
      todo.push(new Raw('{'));
    } else out.push(JSON.stringify(v) ?? 'null');
  }
  return out.join('');
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 30 ? v.slice(0, 30) + '...' : v)}`;
  return `${typeof v} ${String(v)}`;
}

export function preview(names: readonly string[]): string {
  return names.length <= 8 ? names.join(', ') : `${names.slice(0, 8).join(', ')}, ... (${names.length})`;
}
