/**
 * Minimal double-double arithmetic (an unevaluated sum `hi + lo` of two doubles, about 106
 * significant bits), enough for the one-sided Kolmogorov-Smirnov (Smirnov) distribution the
 * way scipy's cephes computes it. Internal: not exported from `@modelwatch/sdk/stats`.
 *
 * ECMAScript has no fused multiply-add, so exact products use Dekker's splitting.
 */

export interface DD {
  readonly hi: number;
  readonly lo: number;
}

const SPLITTER = 134217729; // 2^27 + 1
const SPLIT_THRESH = 2 ** 996;
const TWO_P1023 = 2 ** 1023;
const TWO_M969 = 2 ** -969; // 2^-1022 * 2^53

export function dd(hi: number, lo = 0): DD {
  return { hi, lo };
}

// Error terms of the last twoSum / quickTwoSum / twoProd, kept in module variables rather
// than returned in arrays: this code runs in loops of up to n iterations.
let err = 0;

/** fl(a*b), leaving its exact rounding error in `err` (Dekker's product). */
function twoProd(a: number, b: number): number {
  const p = a * b;
  if (!Number.isFinite(p)) {
    err = 0;
    return p;
  }
  let ah: number;
  let al: number;
  let bh: number;
  let bl: number;
  if (a > SPLIT_THRESH || a < -SPLIT_THRESH) {
    const sa = a * 2 ** -28;
    const t = SPLITTER * sa;
    const h = t - (t - sa);
    ah = h * 2 ** 28;
    al = (sa - h) * 2 ** 28;
  } else {
    const t = SPLITTER * a;
    ah = t - (t - a);
    al = a - ah;
  }
  if (b > SPLIT_THRESH || b < -SPLIT_THRESH) {
    const sb = b * 2 ** -28;
    const t = SPLITTER * sb;
    const h = t - (t - sb);
    bh = h * 2 ** 28;
    bl = (sb - h) * 2 ** 28;
  } else {
    const t = SPLITTER * b;
    bh = t - (t - b);
    bl = b - bh;
  }
  err = ah * bh - p + ah * bl + al * bh + al * bl;
  return p;
}

/** fl(a+b), leaving its exact rounding error in `err`. */
function twoSum(a: number, b: number): number {
  const s = a + b;
  const bb = s - a;
  err = a - (s - bb) + (b - bb);
  return s;
}

/** fl(a+b) for |a| >= |b|, leaving its exact rounding error in `err`. */
function quickTwoSum(a: number, b: number): number {
  const s = a + b;
  err = b - (s - a);
  return s;
}

export function add(x: DD, y: DD): DD {
  const s1 = twoSum(x.hi, y.hi);
  const s2 = err;
  const t1 = twoSum(x.lo, y.lo);
  const t2 = err;
  let h = quickTwoSum(s1, s2 + t1);
  h = quickTwoSum(h, err + t2);
  return { hi: h, lo: err };
}

export function addD(x: DD, b: number): DD {
  const s1 = twoSum(x.hi, b);
  const h = quickTwoSum(s1, err + x.lo);
  return { hi: h, lo: err };
}

export function neg(x: DD): DD {
  return { hi: -x.hi, lo: -x.lo };
}

export function sub(x: DD, y: DD): DD {
  return add(x, neg(y));
}

export function mul(x: DD, y: DD): DD {
  const p1 = twoProd(x.hi, y.hi);
  const h = quickTwoSum(p1, err + (x.hi * y.lo + x.lo * y.hi));
  return { hi: h, lo: err };
}

export function mulD(x: DD, b: number): DD {
  const p1 = twoProd(x.hi, b);
  const e1 = err;
  const p2 = twoProd(x.lo, b);
  const h = quickTwoSum(p1, err + p2 + e1);
  return { hi: h, lo: err };
}

export function div(x: DD, y: DD): DD {
  const q1 = x.hi / y.hi;
  let r = sub(x, mulD(y, q1));
  const q2 = r.hi / y.hi;
  r = sub(r, mulD(y, q2));
  const q3 = r.hi / y.hi;
  const h = quickTwoSum(q1, q2);
  return addD({ hi: h, lo: err }, q3);
}

export function divD(x: DD, b: number): DD {
  return div(x, dd(b));
}

export function floorDD(x: DD): DD {
  const hi = Math.floor(x.hi);
  if (hi === x.hi) {
    const h = quickTwoSum(hi, Math.floor(x.lo));
    return { hi: h, lo: err };
  }
  return { hi, lo: 0 };
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
// index of the high 32 bits (sign, exponent, top of the significand) on this platform
const HI = (() => {
  f64[0] = 1;
  return u32[1] === 0x3ff00000 ? 1 : 0;
})();

/** 2^n for an integer -1022 <= n <= 1023, exactly. */
function pow2i(n: number): number {
  f64[0] = 0;
  u32[HI] = (n + 1023) << 20;
  return f64[0]!;
}

/** `x * 2^e`, as C's ldexp (a single rounding, also into the subnormal range). */
export function ldexp(x: number, e: number): number {
  let y = x;
  let n = e;
  if (n > 1023) {
    y *= TWO_P1023;
    n -= 1023;
    if (n > 1023) {
      y *= TWO_P1023;
      n -= 1023;
      if (n > 1023) n = 1023;
    }
  } else if (n < -1022) {
    // scale by 2^-1022 * 2^53 so that the final multiplication rounds only once
    y *= TWO_M969;
    n += 969;
    if (n < -1022) {
      y *= TWO_M969;
      n += 969;
      if (n < -1022) n = -1022;
    }
  }
  return y * pow2i(n);
}

/** The binary exponent found by the last {@link frexp} or {@link frexpDD} call. */
export let frexpExponent = 0;

/**
 * C's frexp: the significand `m` with `x = m * 2^e` and `0.5 <= |m| < 1` (x finite and
 * nonzero); the exponent `e` is left in {@link frexpExponent}.
 */
export function frexp(x: number): number {
  if (x === 0 || !Number.isFinite(x)) {
    frexpExponent = 0;
    return x;
  }
  f64[0] = x;
  let bexp = (u32[HI]! >>> 20) & 0x7ff;
  let shift = 0;
  if (bexp === 0) {
    // subnormal: scale into the normal range first
    f64[0] = x * 2 ** 64;
    bexp = (u32[HI]! >>> 20) & 0x7ff;
    shift = 64;
  }
  // set the biased exponent to 1022, i.e. a significand in [0.5, 1)
  u32[HI] = (u32[HI]! & 0x800fffff) | (1022 << 20);
  frexpExponent = bexp - 1022 - shift;
  return f64[0]!;
}

export function ldexpDD(x: DD, e: number): DD {
  return { hi: ldexp(x.hi, e), lo: ldexp(x.lo, e) };
}

/**
 * frexp of a double-double: the significand `m` with `0.5 <= |m.hi| < 1` (or `|m.hi| == 1`
 * with an opposite-sign `lo`); the exponent is left in {@link frexpExponent}.
 */
export function frexpDD(x: DD): DD {
  let man = frexp(x.hi);
  let e = frexpExponent;
  let b1 = ldexp(x.lo, -e);
  if (Math.abs(man) === 0.5 && man * b1 < 0) {
    man *= 2;
    b1 *= 2;
    e -= 1;
  }
  frexpExponent = e;
  return { hi: man, lo: b1 };
}
