/**
 * A seeded pseudo-random generator for the statistics that draw (permutations, bootstraps,
 * random features): the same seed gives the same numbers in the sandbox, in Node and in the
 * Python scripts that check them (mulberry32 is a few lines in any language).
 */

/** Deterministic random numbers: see {@link createRandom}. */
export interface Random {
  /** Uniform on [0, 1), 32 bits of resolution. */
  uniform(): number;
  /** Uniform integer in [0, n), for n up to 2^32: `floor(uniform() * n)`. */
  int(n: number): number;
  /** Normal draw (Box-Muller, two uniforms per draw). */
  normal(mu?: number, sigma?: number): number;
}

/**
 * mulberry32 (Tommy Ettinger's 32-bit generator) seeded with `seed >>> 0`: uniforms are
 * `next() / 2^32`, integers `floor(uniform() * n)`, normals
 * `mu + sigma * sqrt(-2 ln(1 - u1)) * cos(2 pi u2)`. Good enough for resampling, not for
 * cryptography.
 *
 * @example
 * ```ts
 * const r = createRandom(42);
 * r.uniform(); // 0.6011037519201636
 * r.int(10);   // 4
 * ```
 */
export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    int: (n: number) => Math.floor(uniform() * n),
    normal: (mu = 0, sigma = 1) => mu + sigma * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()),
  };
}

/**
 * Shuffle `a` in place, Fisher-Yates from the end: for i = n-1 down to 1, swap a[i] with
 * a[r.int(i + 1)]. Returns `a`.
 */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(a: T, r: Random): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}
