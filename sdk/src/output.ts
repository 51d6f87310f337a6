import { InvalidOutputError } from './errors.js';
import { ResultKind, ResultStatus, type JsonValue, type MonitoringMetric, type MonitoringResult } from './types.js';

/** Result and metric names must match this (MLRun's rule). */
export const NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Default limit of a result's `extraData`, as JSON text in UTF-8 bytes. */
export const DEFAULT_EXTRA_DATA_BYTES = 64 * 1024;

/**
 * Prefix the sandbox gives values JSON cannot carry (NaN, Infinity, functions, bigints)
 * so that the error can name them. Not part of any stored data.
 */
export const UNSERIALIZABLE_PREFIX = '\u0000mw:';

export interface NormalizeOutputOptions {
  /** @default 65536 */
  maxExtraDataBytes?: number;
}

/** An app's output, validated and split. */
export interface NormalizedOutput {
  results: MonitoringResult[];
  metrics: MonitoringMetric[];
}

const KINDS = new Set<number>(Object.values(ResultKind));
const STATUSES = new Set<number>(Object.values(ResultStatus));

/**
 * Validate what `doTracking` returned and split it into results and metrics.
 * The host calls this on every output; plugin authors may call it in their tests.
 *
 * @throws {InvalidOutputError} naming the offending item and what is wrong with it
 */
export function normalizeAppOutput(raw: unknown, options: NormalizeOutputOptions = {}): NormalizedOutput {
  const maxExtra = options.maxExtraDataBytes ?? DEFAULT_EXTRA_DATA_BYTES;
  const out: NormalizedOutput = { results: [], metrics: [] };
  if (raw === undefined || raw === null) {
    throw new InvalidOutputError(`doTracking returned ${String(raw)}: return a result, a metric, an array of them, or an object of metric names to numbers`);
  }
  if (Array.isArray(raw)) {
    raw.forEach((item, i) => addItem(out, item, `output[${i}]`, maxExtra));
  } else if (typeof raw === 'object' && raw !== null && 'name' in raw && (typeof raw.name === 'string' || 'value' in raw)) {
    // a result or metric (a metrics map cannot hold a string name)
    addItem(out, raw, 'output', maxExtra);
  } else if (isPlainObject(raw)) {
    for (const [name, value] of Object.entries(raw)) {
      checkName(name, `output metric name '${name}'`);
      checkFinite(value, `output.${name}`);
      out.metrics.push({ name, value: value as number });
    }
  } else {
    throw new InvalidOutputError(`doTracking returned ${describe(raw)}: return a result, a metric, an array of them, or an object of metric names to numbers`);
  }
  checkUnique(
    out.results.map((r) => r.name),
    'result',
  );
  checkUnique(
    out.metrics.map((m) => m.name),
    'metric',
  );
  return out;
}

function addItem(out: NormalizedOutput, item: unknown, path: string, maxExtra: number): void {
  if (!isPlainObject(item)) throw new InvalidOutputError(`${path}: expected a result or metric object, got ${describe(item)}`);
  checkName(item.name, `${path}.name`);
  checkFinite(item.value, `${path}.value`);
  const name = item.name as string;
  const value = item.value as number;
  const isResult = 'kind' in item || 'status' in item || 'extraData' in item;
  if (!isResult) {
    out.metrics.push({ name, value });
    return;
  }
  if (typeof item.kind !== 'number' || !KINDS.has(item.kind)) {
    throw new InvalidOutputError(`${path} ('${name}').kind: expected one of ResultKind (0-4), got ${describe(item.kind)}`);
  }
  if (typeof item.status !== 'number' || !STATUSES.has(item.status)) {
    throw new InvalidOutputError(`${path} ('${name}').status: expected one of ResultStatus (-1-2), got ${describe(item.status)}`);
  }
  const extra = item.extraData === undefined ? {} : item.extraData;
  if (!isPlainObject(extra)) {
    throw new InvalidOutputError(`${path} ('${name}').extraData: expected a JSON object, got ${describe(extra)}`);
  }
  checkJson(extra, `${path} ('${name}').extraData`);
  const bytes = utf8Length(JSON.stringify(extra));
  if (bytes > maxExtra) {
    throw new InvalidOutputError(
      `${path} ('${name}').extraData is ${bytes} bytes of JSON, over the limit of ${maxExtra} bytes (limits.extraDataBytes in plugin.json)`,
    );
  }
  out.results.push({
    name,
    value,
    kind: item.kind as MonitoringResult['kind'],
    status: item.status as MonitoringResult['status'],
    extraData: extra as { [key: string]: JsonValue },
  });
}

function checkName(name: unknown, path: string): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new InvalidOutputError(`${path}: must be a string matching ${NAME_PATTERN.source}, got ${describe(name)}`);
  }
}

function checkFinite(value: unknown, path: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidOutputError(`${path}: must be a finite number, got ${describe(value)}`);
  }
}

function checkUnique(names: string[], what: string): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new InvalidOutputError(`the ${what} name '${n}' appears more than once in one output`);
    seen.add(n);
  }
}

function checkJson(value: unknown, path: string, depth = 0): void {
  if (depth > 64) throw new InvalidOutputError(`${path}: nested more than 64 levels deep`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    if (typeof value === 'string' && value.startsWith(UNSERIALIZABLE_PREFIX)) {
      throw new InvalidOutputError(`${path}: ${value.slice(UNSERIALIZABLE_PREFIX.length)} cannot be stored as JSON`);
    }
    return;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidOutputError(`${path}: ${String(value)} cannot be stored as JSON`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkJson(v, `${path}[${i}]`, depth + 1));
    return;
  }
  if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) checkJson(v, `${path}.${k}`, depth + 1);
    return;
  }
  throw new InvalidOutputError(`${path}: ${describe(value)} cannot be stored as JSON`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (typeof v === 'string') {
    if (v.startsWith(UNSERIALIZABLE_PREFIX)) return v.slice(UNSERIALIZABLE_PREFIX.length);
    return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  }
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v);
  if (typeof v === 'bigint') return `bigint ${v}n`;
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `an object`;
}

/**
 * Length of `value` as JSON text in UTF-8 bytes, as the `extraData` limit counts it (works in the
 * sandbox, which has no TextEncoder).
 */
export function jsonByteLength(value: unknown): number {
  return utf8Length(JSON.stringify(value) ?? '');
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
