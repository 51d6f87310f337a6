/**
 * The scipy/numpy reference numbers of sdk/test/fixtures/stats-reference.json (written by
 * gen-stats-reference.py) and a relative-tolerance assertion.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

/** JSON has no NaN or infinities: the generator writes null, "Infinity" and "-Infinity". */
export type Num = number | null | 'Infinity' | '-Infinity';

export function num(x: Num): number {
  if (x === null) return NaN;
  if (x === 'Infinity') return Infinity;
  if (x === '-Infinity') return -Infinity;
  return x;
}

export function nums(xs: readonly Num[]): number[] {
  return xs.map(num);
}

export interface KsCase {
  name: string;
  a: Num[];
  b: Num[];
  statistic: number;
  pValue: number;
  statisticLocation: Num;
  statisticSign: 1 | -1;
  method: 'exact' | 'asymp';
}

export interface ChiCase {
  name: string;
  observed: number[];
  expected: number[] | null;
  ddof: number;
  statistic: number;
  pValue: number;
}

export interface ZCase {
  count1: number;
  n1: number;
  count2: number;
  n2: number;
  statistic: number;
  pValue: number;
}

export interface WassersteinCase {
  name: string;
  a: number[];
  b: number[];
  aWeights: number[] | null;
  bWeights: number[] | null;
  distance: number;
}

export interface DivergenceCase {
  name: string;
  p: number[];
  q: number[];
  psi: number;
  hellinger: number;
  totalVariation: number;
  klDivergence: number;
  klDivergenceReverse: number;
  jensenShannon: number;
  jensenShannonBase2: number;
}

export interface SummaryCase {
  name: string;
  values: number[];
  min: number;
  max: number;
  edges: number[];
  counts: number[];
  qs: number[];
  quantiles: number[];
  mean: number;
  std: number;
}

export interface HistogramCase {
  name: string;
  values: Num[];
  edges: number[];
  counts: number[];
}

export interface Reference {
  meta: Record<string, string>;
  ks2samp: KsCase[];
  chiSquare: ChiCase[];
  zTestProportions: ZCase[];
  wasserstein: WassersteinCase[];
  divergence: DivergenceCase[];
  /** Per function, rows of arguments followed by the expected value. */
  special: Record<string, Num[][]>;
  summary: SummaryCase[];
  histogram: HistogramCase[];
}

export const reference: Reference = JSON.parse(readFileSync(new URL('../fixtures/stats-reference.json', import.meta.url), 'utf8')) as Reference;

/** |actual - expected| / |expected|; 0 when equal (including both 0 or both infinite). */
export function relativeError(actual: number, expected: number): number {
  if (actual === expected) return 0;
  if (Number.isNaN(actual) && Number.isNaN(expected)) return 0;
  return Math.abs(actual - expected) / Math.abs(expected);
}

/**
 * Assert `actual` agrees with `expected` to `rtol` relative. A reference of exactly 0 is
 * matched against `atol` (default 0: the result must be 0 too).
 */
export function expectClose(actual: number, expected: number, rtol: number, label: string, atol = 0): void {
  if (expected === 0) {
    expect(Math.abs(actual), `${label}: expected 0 (atol ${atol}), got ${actual}`).toBeLessThanOrEqual(atol);
    return;
  }
  const err = relativeError(actual, expected);
  expect(err, `${label}: got ${actual}, expected ${expected} (relative error ${err.toExponential(2)} > ${rtol})`).toBeLessThanOrEqual(rtol);
}
