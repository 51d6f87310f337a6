import { describe, expect, it } from 'vitest';
import { createRandom, shuffleInPlace } from '../../src/stats/index.js';
import { seededRandom } from '../../src/testing.js';
import { driftReference } from './drift-reference.js';

describe('createRandom: mulberry32, the same numbers as the Python scripts that check the statistics', () => {
  it('uniforms, integers and a shuffle equal the Python port', () => {
    const r = createRandom(42);
    expect(Array.from({ length: 5 }, () => r.uniform())).toEqual(driftReference.random.seed42Uniforms);
    const i = createRandom(7);
    expect(Array.from({ length: 10 }, () => i.int(10))).toEqual(driftReference.random.seed7Ints);
    expect(
      shuffleInPlace(
        Array.from({ length: 10 }, (_, k) => k),
        createRandom(3),
      ),
    ).toEqual(driftReference.random.seed3Shuffle10);
  });

  it('is the generator of @modelwatch/sdk/testing', () => {
    const a = createRandom(2026);
    const b = seededRandom(2026);
    for (let k = 0; k < 100; k++) expect(a.uniform()).toBe(b.uniform());
    expect(createRandom(5).normal(3, 2)).toBe(seededRandom(5).normal(3, 2));
  });

  it('shuffles typed arrays in place into a permutation', () => {
    const a = Int32Array.from({ length: 1000 }, (_, k) => k);
    shuffleInPlace(a, createRandom(1));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, k) => k));
    expect([...a.subarray(0, 10)]).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
