import { describe, expect, it } from 'vitest';
import { ModelwatchSdkError } from '../../src/errors.js';
import { wasserstein } from '../../src/stats/index.js';
import { expectClose, reference } from './reference.js';

describe('wasserstein matches scipy.stats.wasserstein_distance', () => {
  for (const c of reference.wasserstein) {
    it(c.name, () => {
      const d = wasserstein(c.a, c.b, c.aWeights ?? undefined, c.bWeights ?? undefined);
      expectClose(d, c.distance, 1e-13, 'distance');
    });
  }
});

describe('wasserstein behaviour', () => {
  it('is symmetric and shift-equivariant', () => {
    const a = [0.5, 1.25, 3, 3, 7.5];
    const b = [2, 2.5, 9];
    expect(wasserstein(a, b)).toBe(wasserstein(b, a));
    expect(wasserstein([0, 1, 3], [5, 6, 8])).toBe(5);
  });

  it('treats equal weights like no weights and accepts typed arrays', () => {
    const a = [3.4, 3.9, 7.5, 7.8];
    const b = [4.5, 1.4];
    expect(wasserstein(Float32Array.from([1, 2, 3]), [1, 2, 3])).toBe(0);
    expectClose(wasserstein(a, b, [1, 1, 1, 1], [2, 2]), wasserstein(a, b), 1e-15, 'equal weights');
  });

  it('rejects invalid arguments, naming them', () => {
    expect(() => wasserstein([], [1])).toThrow(ModelwatchSdkError);
    expect(() => wasserstein([], [1])).toThrow(/wasserstein: a must not be empty/);
    expect(() => wasserstein([1], [])).toThrow(/b must not be empty/);
    expect(() => wasserstein([1, NaN], [1])).toThrow(/a\[1\] is NaN/);
    expect(() => wasserstein([1], [Infinity])).toThrow(/b\[0\] is not finite/);
    expect(() => wasserstein([1, 2], [1], [1])).toThrow(/aWeights must have the same length as a \(1 != 2\)/);
    expect(() => wasserstein([1, 2], [1], [1, -1])).toThrow(/aWeights\[1\] is negative/);
    expect(() => wasserstein([1, 2], [1], undefined, [0])).toThrow(/bWeights must have a positive finite total/);
  });
});
