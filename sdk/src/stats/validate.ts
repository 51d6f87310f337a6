/** Argument checks shared by the statistics functions. Internal. */
import { ModelwatchSdkError } from '../errors.js';

export function invalid(message: string): ModelwatchSdkError {
  return new ModelwatchSdkError('INVALID_ARGUMENT', message);
}

/**
 * `values` copied into a Float64Array after checking it is a non-empty array-like of numbers
 * with no NaN (and, unless `allowInfinite`, no infinities).
 */
export function checkedSample(
  fn: string,
  name: string,
  values: ArrayLike<number>,
  options: { allowInfinite?: boolean; nonNegative?: boolean; minLength?: number } = {},
): Float64Array {
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw invalid(`${fn}: ${name} must be an array or typed array of numbers`);
  }
  const n = values.length;
  const minLength = options.minLength ?? 1;
  if (n < minLength) {
    throw invalid(n === 0 ? `${fn}: ${name} must not be empty` : `${fn}: ${name} needs at least ${minLength} values, got ${n}`);
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v !== 'number') throw invalid(`${fn}: ${name}[${i}] is not a number (${String(v)})`);
    if (Number.isNaN(v)) throw invalid(`${fn}: ${name}[${i}] is NaN`);
    if (!options.allowInfinite && !Number.isFinite(v)) throw invalid(`${fn}: ${name}[${i}] is not finite (${v})`);
    if (options.nonNegative && v < 0) throw invalid(`${fn}: ${name}[${i}] is negative (${v})`);
    out[i] = v;
  }
  return out;
}

/** A finite number, checked. */
export function checkedNumber(fn: string, name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalid(`${fn}: ${name} must be a finite number, got ${String(value)}`);
  }
  return value;
}

/** Two distributions of the same length, non-negative, each with a positive finite sum. */
export function checkedDistributions(
  fn: string,
  p: ArrayLike<number>,
  q: ArrayLike<number>,
  names: readonly [string, string] = ['p', 'q'],
): [Float64Array, Float64Array] {
  const a = checkedSample(fn, names[0], p, { nonNegative: true });
  const b = checkedSample(fn, names[1], q, { nonNegative: true });
  if (a.length !== b.length) {
    throw invalid(`${fn}: ${names[0]} and ${names[1]} must have the same length (${a.length} != ${b.length})`);
  }
  return [a, b];
}
