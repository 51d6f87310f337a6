import { describe, expect, it } from 'vitest';
import { ModelwatchSdkError } from '../../src/errors.js';
import { hellinger, jensenShannon, klDivergence, psi, totalVariation, ZERO_BIN_PROBABILITY } from '../../src/stats/index.js';
import { expectClose, num, reference } from './reference.js';

describe('divergences match their references', () => {
  for (const c of reference.divergence) {
    it(c.name, () => {
      expectClose(psi(c.p, c.q), c.psi, 1e-13, 'psi (Evidently formula)');
      expectClose(hellinger(c.p, c.q), c.hellinger, 1e-13, 'hellinger (MLRun formula)');
      expectClose(totalVariation(c.p, c.q), c.totalVariation, 1e-13, 'totalVariation (MLRun formula)');
      expectClose(klDivergence(c.p, c.q), c.klDivergence, 1e-13, 'klDivergence(p, q) (MLRun formula)');
      expectClose(klDivergence(c.q, c.p), c.klDivergenceReverse, 1e-13, 'klDivergence(q, p)');
      expectClose(jensenShannon(c.p, c.q), num(c.jensenShannon), 1e-12, 'scipy jensenshannon');
      expectClose(jensenShannon(c.p, c.q, 2), num(c.jensenShannonBase2), 1e-12, 'scipy jensenshannon base 2');
    });
  }
});

describe('divergence behaviour', () => {
  const p = [0.25, 0.25, 0.5];
  const q = [0.2, 0.3, 0.5];

  it('normalizes: counts and probabilities give the same values', () => {
    for (const fn of [psi, hellinger, totalVariation, klDivergence, jensenShannon]) {
      expectClose(fn([25, 25, 50], Float64Array.from([2, 3, 5])), fn(p, q), 1e-15, fn.name);
    }
  });

  it('is 0 between identical distributions', () => {
    for (const fn of [psi, hellinger, totalVariation, klDivergence, jensenShannon]) {
      expect(fn([1, 2, 3, 0], [2, 4, 6, 0])).toBe(0);
    }
  });

  it('is symmetric where the formula is (psi, hellinger, totalVariation, jensenShannon)', () => {
    for (const fn of [psi, hellinger, totalVariation, jensenShannon]) expectClose(fn(q, p), fn(p, q), 1e-15, fn.name);
    expect(klDivergence(q, p)).not.toBe(klDivergence(p, q));
  });

  it('reaches its maximum on disjoint supports', () => {
    expect(totalVariation([1, 0], [0, 1])).toBe(1);
    expect(hellinger([1, 0], [0, 1])).toBe(1);
    expect(jensenShannon([1, 0], [0, 1], 2)).toBe(1);
  });

  it('replaces empty bins by 1e-4 in psi and klDivergence, or by the given zeroBin', () => {
    expect(ZERO_BIN_PROBABILITY).toBe(1e-4);
    const expectedPsi = (1 - 1e-4) * Math.log(1 / 1e-4) + (1e-4 - 1) * Math.log(1e-4 / 1);
    expectClose(psi([1, 0], [0, 1]), expectedPsi, 1e-15, 'psi');
    expectClose(klDivergence([1, 0], [0, 1]), Math.log(1 / 1e-4), 1e-15, 'kl');
    expectClose(klDivergence([1, 0], [0, 1], { zeroBin: 1e-6 }), Math.log(1e6), 1e-15, 'kl zeroBin');
  });

  it('rejects invalid arguments, naming them', () => {
    expect(() => psi([], [])).toThrow(ModelwatchSdkError);
    expect(() => psi([], [])).toThrow(/psi: p must not be empty/);
    expect(() => hellinger([1, 2], [1, 2, 3])).toThrow(/hellinger: p and q must have the same length \(2 != 3\)/);
    expect(() => totalVariation([1, -2], [1, 2])).toThrow(/totalVariation: p\[1\] is negative/);
    expect(() => klDivergence([1, 2], [1, NaN])).toThrow(/klDivergence: q\[1\] is NaN/);
    expect(() => jensenShannon([0, 0], [1, 2])).toThrow(/jensenShannon: p must have a positive total/);
    expect(() => jensenShannon([1, 2], [1, 2], 1)).toThrow(/base must be a positive finite number other than 1/);
    expect(() => jensenShannon([1, 2], [1, 2], -2)).toThrow(/base must be/);
    expect(() => psi([1, 2], [1, 2], { zeroBin: 0 })).toThrow(/psi: zeroBin must be a number in \(0, 1\)/);
    expect(() => psi([1, Infinity], [1, 2])).toThrow(/psi: p\[1\] is not finite/);
  });
});
