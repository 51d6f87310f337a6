import { describe, expect, it } from 'vitest';
import { classificationMetrics, classKey, regressionMetrics, rocAuc } from '../../src/stats/index.js';

// Larger cases against a numpy re-implementation of scikit-learn: plugins/model-performance/test (sklearn_reference.py).

describe('rocAuc (sklearn.metrics.roc_auc_score)', () => {
  it('counts a tie between a positive and a negative as one half', () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
    expect(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBe(0.875);
    expect(rocAuc([0, 1, 0, 1, 1], [0.3, 0.3, 0.3, 0.3, 0.3])).toBe(0.5);
    expect(rocAuc([true, false], [0.2, 0.1])).toBe(1);
    expect(rocAuc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4])).toBe(0);
  });

  it('equals the Mann-Whitney U with midranks', () => {
    let s = 3;
    const rand = () => (s = (s * 48271) % 2147483647) / 2147483647;
    const y = Array.from({ length: 500 }, () => (rand() < 0.4 ? 1 : 0));
    const x = y.map((v) => Math.round((rand() + v * 0.4) * 20) / 20);
    let u = 0;
    for (let i = 0; i < y.length; i++) for (let j = 0; j < y.length; j++) if (y[i] === 1 && y[j] === 0) u += x[i]! > x[j]! ? 1 : x[i] === x[j] ? 0.5 : 0;
    const pos = y.filter((v) => v === 1).length;
    expect(rocAuc(y, x)).toBeCloseTo(u / (pos * (y.length - pos)), 13);
  });

  it('rejects one class, bad labels, lengths and scores', () => {
    expect(() => rocAuc([1, 1], [0.1, 0.2])).toThrow(/only one class is present/);
    expect(() => rocAuc([2, 0], [0.1, 0.2])).toThrow(/positive\[0\] must be 0, 1, true or false/);
    expect(() => rocAuc([1, 0], [0.1])).toThrow(/same length/);
    expect(() => rocAuc([1, 0], [0.1, NaN])).toThrow(/scores\[1\] is NaN/);
  });
});

describe('classificationMetrics', () => {
  it('accuracy over all classes, precision/recall/F1 of the positive class, 0 where undefined', () => {
    const m = classificationMetrics(['cat', 'dog', 'dog', 'bird', 'dog'], ['cat', 'dog', 'cat', 'dog', 'dog'], 'dog');
    expect(m).toEqual({ count: 5, accuracy: 0.6, precision: 2 / 3, recall: 2 / 3, f1: 4 / 6, tp: 2, fp: 1, fn: 1, tn: 1 });
    const none = classificationMetrics([1, 0, 1], [0, 0, 0], 1);
    expect(none).toMatchObject({ precision: 0, recall: 0, f1: 0, accuracy: 1 / 3 });
    expect(classificationMetrics([1, '1'], ['1', 1.0], '1').accuracy).toBe(1);
    expect(classKey(1.5)).toBe('1.5');
    expect(() => classificationMetrics([], [], 1)).toThrow(/must not be empty/);
  });
});

describe('regressionMetrics', () => {
  it('MAE, RMSE and MAPE (a fraction, |y| floored at machine epsilon)', () => {
    const m = regressionMetrics([1, 2, 4], [2, 2, 2]);
    expect(m.mae).toBe(1);
    expect(m.rmse).toBe(Math.sqrt(5 / 3));
    expect(m.mape).toBe((1 + 0 + 0.5) / 3);
    expect(regressionMetrics([0], [1]).mape).toBe(1 / 2.220446049250313e-16);
    expect(() => regressionMetrics([1], [Infinity])).toThrow(/not finite/);
  });
});
