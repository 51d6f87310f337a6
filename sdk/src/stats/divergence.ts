/**
 * Distances and divergences between two discrete distributions (e.g. the bin frequencies of
 * a reference and a current histogram). Every function here takes probabilities or counts:
 * each argument is first normalized to sum 1 (`p / sum(p)`, summed pairwise like numpy), so
 * `[2, 6, 2]` and `[0.2, 0.6, 0.2]` are the same distribution.
 */
import { pairwiseSum } from './summary.js';
import { checkedDistributions, invalid } from './validate.js';

/** The small value that replaces empty bins in {@link psi} and {@link klDivergence} (Evidently's and MLRun's 1e-4). */
export const ZERO_BIN_PROBABILITY = 1e-4;

/** Options of {@link psi} and {@link klDivergence}. */
export interface ZeroBinOptions {
  /** Probability substituted for empty bins (after normalization); default {@link ZERO_BIN_PROBABILITY}. */
  zeroBin?: number;
}

function normalized(fn: string, name: string, x: Float64Array): Float64Array {
  const total = pairwiseSum(x);
  if (!(total > 0)) throw invalid(`${fn}: ${name} must have a positive total`);
  if (total === Infinity) throw invalid(`${fn}: ${name} must have a finite total`);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! / total;
  return out;
}

function normalizedPair(fn: string, p: ArrayLike<number>, q: ArrayLike<number>): [Float64Array, Float64Array] {
  const [a, b] = checkedDistributions(fn, p, q);
  return [normalized(fn, 'p', a), normalized(fn, 'q', b)];
}

function zeroBin(fn: string, options: ZeroBinOptions): number {
  const z = options.zeroBin ?? ZERO_BIN_PROBABILITY;
  if (!(typeof z === 'number' && z > 0 && z < 1)) {
    throw invalid(`${fn}: zeroBin must be a number in (0, 1), got ${String(z)}`);
  }
  return z;
}

/**
 * Population stability index, as Evidently's `psi` stat test computes it:
 *
 * `PSI = sum_i (p_i - q_i) * ln(p_i / q_i)`
 *
 * after normalizing `p` and `q` to sum 1 and then replacing every empty bin (`p_i == 0` or
 * `q_i == 0`) by `zeroBin` (1e-4, without renormalizing). Symmetric in `p` and `q`. Common
 * reading: < 0.1 no significant change, 0.1-0.2 moderate, > 0.2 significant.
 *
 * @param p reference distribution (probabilities or counts)
 * @param q current distribution, same length
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` for empty or mismatched arrays, negative, NaN or
 *   infinite values, or a zero total
 *
 * @example
 * ```ts
 * psi([0.25, 0.25, 0.5], [0.2, 0.3, 0.5]); // ≈ 0.0202732554054
 * ```
 */
export function psi(p: ArrayLike<number>, q: ArrayLike<number>, options: ZeroBinOptions = {}): number {
  const fn = 'psi';
  const z = zeroBin(fn, options);
  const [a, b] = normalizedPair(fn, p, q);
  const terms = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const pi = a[i] === 0 ? z : a[i]!;
    const qi = b[i] === 0 ? z : b[i]!;
    terms[i] = (pi - qi) * Math.log(pi / qi);
  }
  return pairwiseSum(terms);
}

/**
 * Hellinger distance, as MLRun's `HellingerDistance` metric computes it:
 *
 * `H = sqrt(max(1 - sum_i sqrt(p_i q_i), 0))`
 *
 * on `p` and `q` normalized to sum 1. Between 0 (identical) and 1 (disjoint supports).
 *
 * @param p first distribution (probabilities or counts)
 * @param q second distribution, same length
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` as {@link psi}
 *
 * @example
 * ```ts
 * hellinger([0.25, 0.25, 0.5], [0.2, 0.3, 0.5]); // ≈ 0.0503182223199
 * ```
 */
export function hellinger(p: ArrayLike<number>, q: ArrayLike<number>): number {
  const [a, b] = normalizedPair('hellinger', p, q);
  const terms = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) terms[i] = Math.sqrt(a[i]! * b[i]!);
  return Math.sqrt(Math.max(1 - pairwiseSum(terms), 0));
}

/**
 * Total variation distance, as MLRun's `TotalVarianceDistance` metric computes it:
 *
 * `TVD = sum_i |p_i - q_i| / 2`
 *
 * on `p` and `q` normalized to sum 1. Between 0 (identical) and 1 (disjoint supports).
 *
 * @param p first distribution (probabilities or counts)
 * @param q second distribution, same length
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` as {@link psi}
 *
 * @example
 * ```ts
 * totalVariation([0.25, 0.25, 0.5], [0.2, 0.3, 0.5]); // ≈ 0.05
 * ```
 */
export function totalVariation(p: ArrayLike<number>, q: ArrayLike<number>): number {
  const [a, b] = normalizedPair('totalVariation', p, q);
  const terms = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) terms[i] = Math.abs(a[i]! - b[i]!);
  return pairwiseSum(terms) / 2;
}

/**
 * Kullback-Leibler divergence `KL(p || q)`, with MLRun's treatment of empty bins:
 *
 * `KL(p || q) = sum over i with p_i != 0 of p_i * ln(p_i / q'_i)`, where `q'_i = q_i`, or
 * `zeroBin` (1e-4) where `q_i == 0`,
 *
 * on `p` and `q` normalized to sum 1 (natural logarithm, nats). Not symmetric: MLRun's `kld`
 * drift metric is the symmetrized `klDivergence(p, q) + klDivergence(q, p)`.
 *
 * @param p the distribution compared (probabilities or counts)
 * @param q the reference it is compared to, same length
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` as {@link psi}
 *
 * @example
 * ```ts
 * klDivergence([0.25, 0.25, 0.5], [0.2, 0.3, 0.5]); // ≈ 0.0102054986301
 * ```
 */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>, options: ZeroBinOptions = {}): number {
  const fn = 'klDivergence';
  const z = zeroBin(fn, options);
  const [a, b] = normalizedPair(fn, p, q);
  const terms = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const pi = a[i]!;
    if (pi !== 0) terms[i] = pi * Math.log(pi / (b[i] === 0 ? z : b[i]!));
  }
  return pairwiseSum(terms);
}

/**
 * Jensen-Shannon distance, as `scipy.spatial.distance.jensenshannon(p, q, base)`:
 *
 * `JS = sqrt((KL(p || m) + KL(q || m)) / 2)`, `m = (p + q) / 2`,
 *
 * on `p` and `q` normalized to sum 1, with `0 * ln(0 / x) = 0` (scipy's `rel_entr`); natural
 * logarithm unless `base` is given (the divergence is divided by `ln(base)`). The distance is
 * between 0 and `sqrt(ln 2)` (1 with base 2). Where rounding makes the divergence of
 * (nearly) identical distributions come out a hair below zero, scipy returns NaN; this returns 0.
 *
 * @param p first distribution (probabilities or counts)
 * @param q second distribution, same length
 * @param base logarithm base, > 0 and != 1 (default e)
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` as {@link psi}, or for an invalid base
 *
 * @example
 * ```ts
 * jensenShannon([1, 0, 0], [0, 1, 0], 2); // 1
 * jensenShannon([1, 0], [0.5, 0.5]); // ≈ 0.464501404022
 * ```
 */
export function jensenShannon(p: ArrayLike<number>, q: ArrayLike<number>, base?: number): number {
  const fn = 'jensenShannon';
  if (base !== undefined && !(typeof base === 'number' && base > 0 && base !== 1 && Number.isFinite(base))) {
    throw invalid(`${fn}: base must be a positive finite number other than 1, got ${String(base)}`);
  }
  const [a, b] = normalizedPair(fn, p, q);
  const left = new Float64Array(a.length);
  const right = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const m = (a[i]! + b[i]!) / 2.0;
    left[i] = relEntr(a[i]!, m);
    right[i] = relEntr(b[i]!, m);
  }
  let js = pairwiseSum(left) + pairwiseSum(right);
  if (base !== undefined) js /= Math.log(base);
  return Math.sqrt(Math.max(js / 2.0, 0));
}

/** scipy.special.rel_entr for x >= 0, y >= 0: x ln(x/y), 0 when x == 0. */
function relEntr(x: number, y: number): number {
  if (x === 0) return 0;
  return x * Math.log(x / y);
}
