/**
 * The statsmodels / scipy / numpy reference numbers of sdk/test/fixtures/drift-stats-reference.json
 * (written by gen-drift-stats-reference.py): multiple testing, contingency tests, MMD.
 */
import { readFileSync } from 'node:fs';

export interface DriftReference {
  meta: Record<string, string>;
  random: { seed42Uniforms: number[]; seed7Ints: number[]; seed3Shuffle10: number[] };
  ksMethods: Array<{
    name: string;
    a: number[];
    b: number[];
    results: Record<'exact' | 'asymp' | 'auto', { statistic: number; pValue: number; statisticLocation: number; statisticSign: 1 | -1 }>;
  }>;
  multipleTests: Array<{ name: string; p: number[]; method: 'bh' | 'bonferroni'; alpha: number; reject: boolean[]; pAdjusted: number[] }>;
  chi2Contingency: Array<{ name: string; observed: number[][]; correction: boolean; statistic: number; pValue: number; dof: number; expected: number[][] }>;
  categoricalTest: Array<{
    name: string;
    reference: Array<string | number | null>;
    current: Array<string | number | null>;
    minExpected: number;
    table: [number[], number[]];
    pooled: number;
    unseen: number;
    unseenShare: number;
    categories: number;
    statistic: number;
    pValue: number;
    dof: number;
  }>;
  mmdTest: Array<{
    name: string;
    reference: number[][];
    current: number[][];
    permutations: number;
    seed: number;
    bandwidth: number | null;
    statistic: number;
    pValue: number;
    expectedBandwidth: number;
  }>;
  referenceMmd: Array<{
    name: string;
    options: { fourierFeatures: number; replicates: number; maxReferenceRows?: number; bandwidthRows?: number; seed?: number };
    reference: number[][];
    windows: Array<Array<Array<number | null>>>;
    bandwidth: number;
    results: Array<{ statistic: number; normalized: number; pValue: number; nullSizes: number[] }>;
  }>;
}

export const driftReference: DriftReference = JSON.parse(
  readFileSync(new URL('../fixtures/drift-stats-reference.json', import.meta.url), 'utf8'),
) as DriftReference;
