/**
 * A latency sketch with bounded relative error (DDSketch's log buckets): quantiles within
 * 1% of the true value, whatever the number of values, merged by adding counts, and the same
 * whatever the order values arrive in (so a recomputed minute is identical to the first).
 */
export class LatencySketch {
  static readonly ALPHA = 0.01;
  private static readonly GAMMA = (1 + LatencySketch.ALPHA) / (1 - LatencySketch.ALPHA);
  private static readonly LOG_GAMMA = Math.log(LatencySketch.GAMMA);
  /** bucket index -> count; values <= 1 µs go to bucket 0 (reported as 0 or 1). */
  readonly buckets = new Map<number, number>();
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  add(v: number, times = 1): void {
    const k = v <= 1 ? 0 : Math.ceil(Math.log(v) / LatencySketch.LOG_GAMMA);
    this.buckets.set(k, (this.buckets.get(k) ?? 0) + times);
    this.count += times;
    this.sum += v * times;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  merge(o: LatencySketch): void {
    for (const [k, c] of o.buckets) this.buckets.set(k, (this.buckets.get(k) ?? 0) + c);
    this.count += o.count;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
  }

  /** The q-quantile (0..1), nearest rank, within 1% of the true value; clamped to [min, max]. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    if (rank >= this.count) return this.max;
    if (rank === 1) return this.min;
    const keys = [...this.buckets.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const k of keys) {
      seen += this.buckets.get(k)!;
      if (seen >= rank) {
        const v = k === 0 ? this.min : (2 * LatencySketch.GAMMA ** k) / (LatencySketch.GAMMA + 1);
        return Math.min(this.max, Math.max(this.min, v));
      }
    }
    return this.max;
  }

  toJSON(): { b: Array<[number, number]>; count: number; sum: number; min: number; max: number } {
    return { b: [...this.buckets], count: this.count, sum: this.sum, min: this.min, max: this.max };
  }
}

/** A set of integers kept as sorted inclusive ranges: cheap for the mostly contiguous stream sequences it holds. */
export class RangeSet {
  private readonly lo: number[] = [];
  private readonly hi: number[] = [];

  /** Add `v`; false when it was there already. */
  add(v: number): boolean {
    const n = this.lo.length;
    if (n === 0 || v > this.hi[n - 1]! + 1) {
      this.lo.push(v);
      this.hi.push(v);
      return true;
    }
    if (v === this.hi[n - 1]! + 1) {
      this.hi[n - 1] = v;
      return true;
    }
    // binary search: the last range starting at or before v
    let a = 0;
    let b = n - 1;
    let i = -1;
    while (a <= b) {
      const m = (a + b) >> 1;
      if (this.lo[m]! <= v) {
        i = m;
        a = m + 1;
      } else b = m - 1;
    }
    if (i >= 0 && v <= this.hi[i]!) return false;
    // extend range i upwards, range i+1 downwards, merge, or insert
    const joinsLeft = i >= 0 && this.hi[i]! + 1 === v;
    const joinsRight = i + 1 < n && this.lo[i + 1]! - 1 === v;
    if (joinsLeft && joinsRight) {
      this.hi[i] = this.hi[i + 1]!;
      this.lo.splice(i + 1, 1);
      this.hi.splice(i + 1, 1);
    } else if (joinsLeft) this.hi[i] = v;
    else if (joinsRight) this.lo[i + 1] = v;
    else {
      this.lo.splice(i + 1, 0, v);
      this.hi.splice(i + 1, 0, v);
    }
    return true;
  }

  has(v: number): boolean {
    let a = 0;
    let b = this.lo.length - 1;
    while (a <= b) {
      const m = (a + b) >> 1;
      if (v < this.lo[m]!) b = m - 1;
      else if (v > this.hi[m]!) a = m + 1;
      else return true;
    }
    return false;
  }

  get ranges(): number {
    return this.lo.length;
  }
}
