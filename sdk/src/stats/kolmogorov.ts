/**
 * Kolmogorov-Smirnov distributions, ported from scipy so that p-values agree with it:
 * - {@link kolmogorov}: the limiting distribution of `sqrt(n) D_n` (`scipy.special.kolmogorov`,
 *   `scipy.stats.kstwobign.sf`);
 * - {@link smirnov}: the one-sided statistic `D_n+` (`scipy.special.smirnov`), computed with
 *   double-double arithmetic as cephes does;
 * - {@link kstwoSf}: the two-sided statistic `D_n` for finite n (`scipy.stats.kstwo.sf`), with
 *   scipy's choice among the Ruben-Gambino closed forms, the Durbin matrix (Marsaglia-Tsang-
 *   Wang), the Pomeranz recursion, the Pelz-Good expansion and `2 * smirnov` (Simard and
 *   L'Ecuyer 2011).
 */
import { add, addD, dd, div, divD, type DD, floorDD, frexpDD, frexpExponent, ldexp, ldexpDD, mul, mulD, sub } from './double-double.js';

const EPS = 2.220446049250313e-16;
const MINLOG = -745.1332191019412; // cephes MINLOG, log(2^-1075)
const MIN_EXPABLE = -708 - 38;
const LN2 = Math.LN2;

// ---------------------------------------------------------------------------------------------
// Kolmogorov: two-sided, limiting distribution

/**
 * Survival function of the Kolmogorov distribution (the limit of `sqrt(n) D_n`),
 * `K(x) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 x^2)`, as `scipy.special.kolmogorov(x)` /
 * `scipy.stats.kstwobign.sf(x)`. NaN for NaN.
 *
 * @example
 * ```ts
 * kolmogorov(1.36); // ≈ 0.0494858767554
 * ```
 */
export function kolmogorov(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  if (x <= Math.PI / Math.sqrt(-MIN_EXPABLE * 8)) return 1;
  let P = 1;
  if (x <= 0.82) {
    const w = Math.sqrt(2 * Math.PI) / x;
    const logu8 = -(Math.PI * Math.PI) / (x * x);
    const u = Math.exp(logu8 / 8);
    if (u === 0) {
      P = Math.exp(logu8 / 8 + Math.log(w));
    } else {
      const u8 = Math.exp(logu8);
      const u8cub = u8 ** 3;
      P = 1 + u8cub * P;
      P = 1 + u8 * u8 * P;
      P = 1 + u8 * P;
      P = w * u * P;
    }
    return clip01(1 - P);
  }
  const v = Math.exp(-2 * x * x);
  const vsq = v * v;
  const v3 = v ** 3;
  let vpwr = v3 * v3 * v;
  P = 1 - vpwr * P;
  vpwr = v3 * vsq;
  P = 1 - vpwr * P;
  vpwr = v3;
  P = 1 - vpwr * P;
  P = 2 * v * P;
  return clip01(P);
}

function clip01(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}

// ---------------------------------------------------------------------------------------------
// Smirnov: one-sided, finite n (cephes' algorithm in double-double)

/** `[floor(n x), n x, alpha = frac(n x)]`, exactly. */
function modNX(n: number, x: number): { nxfl: number; nx: number; alpha: number } {
  const nxD = mulD(dd(x), n);
  const nxfloorD = floorDD(nxD);
  const alphaD = sub(nxD, nxfloorD);
  let alpha = alphaD.hi;
  let nxfl = Math.trunc(nxfloorD.hi);
  if (alpha === 1) {
    nxfl += 1;
    alpha = 0;
  }
  return { nxfl, nx: nxD.hi, alpha };
}

/** `a^m` in double-double, with the power of `hi` from Math.pow and a first-order correction for `lo`. */
function powD(a: DD, m: number): DD {
  if (m <= 0) {
    if (m === 0) return dd(1);
    return div(dd(1), powD(a, -m));
  }
  if (a.hi === 0 && a.lo === 0) return dd(0);
  const ans = a.hi ** m;
  const r = a.lo / a.hi;
  let adj = m * r;
  if (Math.abs(adj) > 1e-8) {
    if (Math.abs(adj) < 1e-4) {
      adj += m * r * (((m - 1) / 2) * r);
    } else {
      adj = Math.expm1(m * Math.log1p(r));
    }
  }
  return addD(dd(ans), ans * adj);
}

function pow2(a: number, b: number, m: number): number {
  return powD(addD(dd(a), b), m).hi;
}

function nextPowerOf2(x: number): number {
  const q = ldexp(x, 1 - 53);
  let L = Math.abs(q + x);
  if (L === 0) {
    L = Math.abs(x);
  } else {
    const Lint = Math.trunc(L);
    if (Lint === L) L = Lint;
  }
  return L;
}

const SM_MAX_EXPONENT = 960;

/** Exponent of the last {@link pow2ScaledD} result. */
let scaledExponent = 0;

/**
 * `a^m` as a significand in [0.5, 1), returned, and a binary exponent, left in
 * `scaledExponent`, avoiding overflow and underflow.
 */
function pow2ScaledD(a: DD, m: number): DD {
  if (m <= 0) {
    if (m === 0) {
      scaledExponent = 0;
      return dd(1);
    }
    const ans1 = pow2ScaledD(a, -m);
    const aE1 = scaledExponent;
    const ans = frexpDD(div(dd(1), ans1));
    scaledExponent = -aE1 + frexpExponent;
    return ans;
  }
  const y = frexpDD(a);
  const yE = frexpExponent;
  if (m === 1) {
    scaledExponent = yE;
    return y;
  }
  let maxExpt = SM_MAX_EXPONENT;
  if ((m * (y.hi - 1)) / y.hi < -SM_MAX_EXPONENT * LN2) {
    const lg2y = Math.log(y.hi) / LN2;
    const lgAns = m * lg2y;
    if (lgAns <= -SM_MAX_EXPONENT) {
      maxExpt = Math.trunc(nextPowerOf2(-SM_MAX_EXPONENT / lg2y + 1) / 2);
    }
  }
  if (m <= maxExpt) {
    const ans = frexpDD(powD(y, m));
    scaledExponent = frexpExponent + m * yE;
    return ans;
  }
  const q = Math.trunc(m / maxExpt);
  const r = m % maxExpt;
  const y2r = pow2ScaledD(y, r);
  const y2rE = scaledExponent;
  const y2m = pow2ScaledD(y, maxExpt);
  const y2mE = scaledExponent;
  const y2mq = pow2ScaledD(y2m, q);
  const y2mqE = scaledExponent + y2mE * q;
  const ans = frexpDD(mul(y2r, y2mq));
  scaledExponent = frexpExponent + y2mqE + y2rE + m * yE;
  return ans;
}

/** `((a + b) / (c + d))^m` in double-double. */
function pow4D(a: number, b: number, c: number, d: number, m: number): DD {
  if (m <= 0) {
    if (m === 0) return dd(1);
    return pow4D(c, d, a, b, -m);
  }
  const A = addD(dd(a), b);
  const C = addD(dd(c), d);
  if (A.hi === 0 && A.lo === 0) return C.hi === 0 && C.lo === 0 ? dd(NaN, NaN) : dd(0);
  if (C.hi === 0 && C.lo === 0) return A.hi < 0 ? dd(-Infinity, -Infinity) : dd(Infinity, Infinity);
  return powD(div(A, C), m);
}

/**
 * Survival function and CDF of the one-sided Kolmogorov-Smirnov statistic `D_n+` for a
 * sample of size n: cephes' `_smirnov` (Birnbaum-Tingey sum, van Mulbregt's implementation).
 */
function smirnovProbs(n: number, x: number): { sf: number; cdf: number } {
  if (!(n > 0 && x >= 0 && x <= 1)) return { sf: NaN, cdf: NaN };
  if (n === 1) return { sf: 1 - x, cdf: x };
  if (x === 0) return { sf: 1, cdf: 0 };
  if (x === 1) return { sf: 0, cdf: 1 };

  const { nxfl, alpha } = modNX(n, x);
  let n1mxfl = n - nxfl - (alpha === 0 ? 0 : 1);
  let n1mxceil = n - nxfl;
  if (alpha === 0) {
    n1mxfl -= 1;
    n1mxceil += 1;
  }
  if (nxfl === 0 || (nxfl === 1 && alpha === 0)) {
    const t = pow2(1, x, n - 1);
    const cdf = x * t;
    return { sf: 1 - cdf, cdf };
  }
  if (-2 * n * x * x < MINLOG) return { sf: 0, cdf: 1 };
  if (nxfl >= n - 1) {
    const sf = pow2(1, -x, n);
    return { sf, cdf: 1 - sf };
  }
  if (n > 1_000_000) {
    const logp = -((6.0 * n * x + 1) ** 2) / 18.0 / n;
    if (logp < -LN2) {
      const sf = Math.exp(logp);
      return { sf, cdf: 1 - sf };
    }
    const cdf = -Math.expm1(logp);
    return { sf: 1 - cdf, cdf };
  }

  const nUpperTerms = n - n1mxceil + 1;
  const useUpperSum = (nUpperTerms <= 1 && x < 0.5) || (n >= 10 && nUpperTerms <= 3 && x <= 0.5 / Math.sqrt(n));

  let start = 0;
  let step = 1;
  let nTerms = n1mxfl + 1;
  const vmid = Math.trunc(n / 2);
  let Cman = dd(1);
  let Cexpt = 0;
  let Aj: DD;
  if (useUpperSum) {
    start = n;
    step = -1;
    nTerms = n - n1mxceil + 1;
    Aj = pow4D(1, x, 1, 0, n - 1);
  } else {
    Aj = divD(pow4D(1, -x, 1, 0, n), x);
  }
  let AjSum = add(dd(0), Aj);

  const updateBinomial = (j: number): void => {
    const rat = divD(dd(n - j), j + 1.0);
    Cman = frexpDD(mul(Cman, rat));
    Cexpt += frexpExponent;
  };
  updateBinomial(0);

  for (let j = 1; j < nTerms; j++) {
    const v = start + j * step;
    // A_v = Binomial(n, v) (1 - x - v/n)^(n-v) (x + v/n)^(v-1)
    const t2x = addD(divD(dd(n - v), n), -x);
    const t2 = pow2ScaledD(t2x, n - v);
    const t2E = scaledExponent;
    const t1x = addD(divD(dd(v), n), x);
    const t1 = pow2ScaledD(t1x, v - 1);
    const t1E = scaledExponent;
    const ans = mul(mul(t1, t2), Cman);
    Aj = ldexpDD(ans, Cexpt + t1E + t2E);
    if (Number.isFinite(Aj.hi) && Aj.hi !== 0) AjSum = add(AjSum, Aj);
    if (Aj.hi !== 0) {
      if (4 * (nTerms - j) * Math.abs(Aj.hi) < EPS * AjSum.hi && j !== nTerms - 1) break;
    } else if (j > vmid) {
      break;
    }
    updateBinomial(j);
  }
  const prob = mulD(AjSum, x).hi;
  const [cdf, sf] = step < 0 ? [prob, 1 - prob] : [1 - prob, prob];
  return { sf: clip01(sf), cdf: clip01(cdf) };
}

/**
 * Survival function of the one-sided Kolmogorov-Smirnov statistic, `P(D_n+ >= x)` for a sample
 * of size `n` (an integer >= 1), as `scipy.special.smirnov(n, x)`. NaN outside the domain.
 *
 * @example
 * ```ts
 * smirnov(10, 0.3); // ≈ 0.1354635556
 * ```
 */
export function smirnov(n: number, x: number): number {
  if (Number.isNaN(x) || !Number.isInteger(n)) return NaN;
  return smirnovProbs(n, x).sf;
}

// ---------------------------------------------------------------------------------------------
// kstwo: two-sided, finite n (scipy.stats._ksstats)

const E128 = 128;
const EP128 = 2 ** 128;
const EM128 = 2 ** -128;
const LOG_2PI = Math.log(2 * Math.PI);
const SQRT2PI = Math.sqrt(2 * Math.PI);
const MIN_LOG = -708;
const SQRT3 = Math.sqrt(3);
const PI_SQUARED = Math.PI ** 2;
const PI_FOUR = Math.PI ** 4;
const PI_SIX = Math.PI ** 6;
// the coefficients as published (more digits than a double holds)
/* eslint-disable no-loss-of-precision */
const STIRLING_COEFFS = [
  -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4, -5.952380952380952381e-4, 7.9365079365079365079e-4,
  -2.7777777777777777778e-3, 8.3333333333333333333e-2,
];
/* eslint-enable no-loss-of-precision */

function polyval(coeffs: readonly number[], x: number): number {
  let p = 0;
  for (const c of coeffs) p = p * x + c;
  return p;
}

/** log(n! / n^n) by Stirling's series. */
function logNFactorialDivNPowN(n: number): number {
  const rn = 1.0 / n;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * polyval(STIRLING_COEFFS, rn / n);
}

/** m x m matrix product (row-major Float64Arrays). */
function matmul(A: Float64Array, B: Float64Array, m: number): Float64Array {
  const C = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const a = A[i * m + k]!;
      if (a === 0) continue;
      for (let j = 0; j < m; j++) C[i * m + j]! += a * B[k * m + j]!;
    }
  }
  return C;
}

/** Pr(D_n <= d) by the Durbin matrix algorithm as Marsaglia, Tsang and Wang compute it. */
function kolmognDMTW(n: number, d: number): number {
  if (d >= 1.0) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;

  const H = new Float64Array(m * m);
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1.0;
  for (let j = 1; j <= m; j++) {
    v[j - 1] = 1.0 - h ** j;
    w[j - 1] = fac;
    fac /= j;
    v[j - 1]! *= fac;
  }
  const tt = Math.max(2 * h - 1.0, 0) ** m - 2 * h ** m;
  v[m - 1] = (1.0 + tt) * fac;

  for (let i = 1; i < m; i++) {
    // H[i-1:, i] = w[:m-i+1]
    for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - (i - 1)]!;
  }
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;

  let Hp: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++) Hp[i * m + i] = 1;
  let Hm: Float64Array = H;
  let nn = n;
  let expnt = 0;
  let Hexpnt = 0;
  while (nn > 0) {
    if (nn % 2) {
      Hp = matmul(Hp, Hm, m);
      expnt += Hexpnt;
    }
    Hm = matmul(Hm, Hm, m);
    Hexpnt *= 2;
    if (Math.abs(Hm[(k - 1) * m + (k - 1)]!) > EP128) {
      for (let i = 0; i < m * m; i++) Hm[i]! /= EP128;
      Hexpnt += E128;
    }
    nn = Math.floor(nn / 2);
  }

  let p = Hp[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= EP128;
      expnt -= E128;
    }
  }
  if (expnt !== 0) p = ldexp(p, expnt);
  return clip01(p);
}

function pomeranzJ1J2(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const ip1div2 = Math.floor((i + 1) / 2);
    const ip1mod2 = (i + 1) % 2;
    if (ip1mod2 === 0) {
      if (ip1div2 === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** Pr(D_n <= x) by the Pomeranz recursion. */
function kolmognPomeranz(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = 1.0 * (t - ll);
  const g = Math.min(f, 1.0 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1.0;
  twogpower[0] = 1.0;
  onem2gpower[0] = 1.0;
  let expnt = 0;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1]! * gOverN) / m;
    twogpower[m] = (twogpower[m - 1]! * twoGOverN) / m;
    onem2gpower[m] = (onem2gpower[m - 1]! * oneMinusTwoGOverN) / m;
  }

  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;

  let [j1] = pomeranzJ1J2(0, n, ll, ceilf, roundf);
  let j2: number;
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0.0);
    [j1, j2] = pomeranzJ1J2(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // conv = convolve(V0[k1 - V0s : k1 - V0s + ln2], pwrs[:ln2]); take conv[j1 - k1 : j2 - k1 + 1]
      // (numpy slices stop at the end of the arrays)
      const base = k1 - V0s;
      const segLen = Math.min(ln2, npwrs - base);
      const pwLen = Math.min(ln2, npwrs);
      const convStart = j1 - k1;
      const convLen = Math.min(j2 - j1 + 1, segLen + pwLen - 1 - convStart);
      let maxV = -Infinity;
      for (let c = 0; c < convLen; c++) {
        const idx = convStart + c;
        let s = 0;
        const lo = Math.max(0, idx - (pwLen - 1));
        const hi = Math.min(idx, segLen - 1);
        for (let a = lo; a <= hi; a++) s += V0[base + a]! * pwrs[idx - a]!;
        V1[c] = s;
        if (s > maxV) maxV = s;
      }
      for (let c = convLen; c < npwrs; c++) if (V1[c]! > maxV) maxV = V1[c]!;
      if (0 < maxV && maxV < EM128) {
        for (let c = 0; c < npwrs; c++) V1[c]! *= EP128;
        expnt -= E128;
      }
      V1s = V0s + j1 - k1;
    }
  }

  let ans = V1[n - V1s]!;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(ans) > EP128) {
      ans *= EM128;
      expnt += E128;
    }
    ans *= m;
  }
  if (expnt !== 0) ans = ldexp(ans, expnt);
  return clip01(ans);
}

/** Pelz-Good approximation to Pr(D_n <= x). */
function kolmognPelzGood(n: number, x: number): number {
  if (x <= 0.0) return 0;
  if (x >= 1.0) return 1;
  const z = Math.sqrt(n) * x;
  const zsquared = z ** 2;
  const zthree = z ** 3;
  const zfour = z ** 4;
  const zsix = z ** 6;

  const qlog = -PI_SQUARED / 8 / zsquared;
  if (qlog < MIN_LOG) return 0;
  let q = Math.exp(qlog);

  const k1a = -zsquared;
  const k1b = PI_SQUARED / 4;
  const k2a = 6 * zsix + 2 * zfour;
  const k2b = ((2 * zfour - 5 * zsquared) * PI_SQUARED) / 4;
  const k2c = (PI_FOUR * (1 - 2 * zsquared)) / 16;
  const k3d = (PI_SIX * (5 - 30 * zsquared)) / 64;
  const k3c = (PI_FOUR * (-60 * zsquared + 212 * zfour)) / 16;
  const k3b = (PI_SQUARED * (135 * zfour - 96 * zsix)) / 4;
  const k3a = -30 * zsix - 90 * z ** 8;

  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const msquared = m ** 2;
    const mfour = m ** 4;
    const msix = m ** 6;
    const qpower = q ** (8 * k);
    const coeffs = [1.0, k1a + k1b * msquared, k2a + k2b * msquared + k2c * mfour, k3a + k3b * msquared + k3c * mfour + k3d * msix];
    for (let i = 0; i < 4; i++) K[i] = K[i]! * qpower + coeffs[i]!;
  }
  const div4 = [z, 6 * zfour, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = (K[i]! * q * SQRT2PI) / div4[i]!;

  q = Math.exp(-PI_SQUARED / 2 / zsquared);
  const sqrt3z = SQRT3 * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const ksq = k * k;
    const qp = q ** ksq;
    k2extra += ksq * qp;
    const kspi = Math.PI * k;
    k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
  }
  k2extra *= (PI_SQUARED * SQRT2PI) / (-36 * zthree);
  K[2]! += k2extra;
  k3extra *= (PI_SQUARED * SQRT2PI) / (216 * zsix);
  K[3]! += k3extra;
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i]! / n ** (i / 2);
  return sum;
}

/** scipy.stats._ksstats._kolmogn(n, x, cdf=False): P(D_n >= x). */
function kolmognSf(n: number, x: number): number {
  if (x >= 1.0) return 0;
  if (x <= 0.0) return 1;
  const t = n * x;
  if (t <= 1.0) {
    if (t <= 0.5) return 1;
    let prob: number;
    if (n <= 140) {
      prob = 1;
      for (let i = 1; i <= n; i++) prob *= i * (1.0 / n) * (2 * t - 1);
    } else {
      prob = Math.exp(logNFactorialDivNPowN(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1.0 - prob);
  }
  if (t >= n - 1) return clip01(2 * (1.0 - x) ** n);
  if (x >= 0.5) return clip01(2 * smirnovProbs(n, x).sf);

  const nxsquared = t * x;
  if (n <= 140) {
    if (nxsquared <= 0.754693) return clip01(1.0 - kolmognDMTW(n, x));
    if (nxsquared <= 4) return clip01(1.0 - kolmognPomeranz(n, x));
    return clip01(2 * smirnovProbs(n, x).sf);
  }
  if (nxsquared >= 370.0) return 0.0;
  if (nxsquared >= 2.2) return clip01(2 * smirnovProbs(n, x).sf);
  let cdfprob: number;
  if (nxsquared >= 18.0) cdfprob = 1.0;
  else if (n <= 100000 && n * x ** 1.5 <= 1.4) cdfprob = kolmognDMTW(n, x);
  else cdfprob = kolmognPelzGood(n, x);
  return clip01(1.0 - cdfprob);
}

/**
 * Survival function `P(D_n >= d)` of the two-sided one-sample Kolmogorov-Smirnov statistic
 * for a sample of size `n`, as `scipy.stats.kstwo.sf(d, n)`. NaN if `n` is not a positive
 * integer or `d` is NaN.
 *
 * @example
 * ```ts
 * kstwoSf(0.3, 20); // ≈ 0.0430670666585
 * ```
 */
export function kstwoSf(d: number, n: number): number {
  if (Number.isNaN(d) || !(Number.isInteger(n) && n >= 1)) return NaN;
  // rv_continuous.sf: 1 at and below the support's lower end 0.5/n, 0 at and above 1
  if (d <= 0.5 / n) return 1;
  if (d >= 1) return 0;
  return kolmognSf(n, d);
}
