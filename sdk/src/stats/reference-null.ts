/**
 * Null distributions that depend only on the reference and the window size (a reference
 * bootstrap), computed once per size and kept; a cache for apps to keep them per endpoint; a
 * fingerprint that tells when an endpoint's reference changed.
 */
import { createRandom, type Random } from './random.js';
import { invalid } from './validate.js';

/** Options of {@link ReferenceNull}. */
export interface ReferenceNullOptions {
  /** Null statistics per size: p-values are multiples of 1 / (replicates + 1). @default 500 */
  replicates?: number;
  /** Seed of the draws; each size has its own stream, so results do not depend on the order sizes are asked for. @default 0 */
  seed?: number;
  /** Largest size simulated: larger windows use the null at this size (for statistics normalized so that their null stops depending on the size). @default 4096 */
  maxSize?: number;
}

/** The smallest power of two at least `n` (n >= 1): the bucket of a window size. */
export function sizeBucket(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw invalid(`sizeBucket: n must be a positive integer, got ${String(n)}`);
  let b = 1;
  while (b < n) b *= 2;
  return b;
}

/** What {@link ReferenceNull.pValue} answers. */
export interface NullPValue {
  pValue: number;
  /** The sizes whose nulls gave it: `[n]` when n is a power of two (or above maxSize), else the powers of two below and above n. */
  sizes: number[];
}

/**
 * The null distribution of a statistic at each window size, simulated from the reference by a
 * caller's function and kept:
 *
 * - `simulate(size, random)` returns one null statistic for a window of `size` rows (typically
 *   the statistic of `size` reference rows drawn with replacement against the reference);
 * - nulls are simulated at powers of two only (the bucket of a size is the power of two at or
 *   above it), each with `replicates` draws from its own seeded stream, the first time a
 *   window needs them, then kept;
 * - the p-value of a statistic `t` at size `s` is `(1 + #{null >= t}) / (1 + replicates)`; for
 *   a window of `n` rows between two powers of two `lo < n < hi`, the p-values at `lo` and `hi`
 *   are interpolated linearly in `log p` against `log n`. A statistic whose null shrinks as
 *   the window grows (a distance between histograms) gets a p-value between the two, close to
 *   what a null simulated at `n` would give, without one null per size.
 *
 * @example
 * ```ts
 * const nulls = new ReferenceNull((size, r) => distanceOf(bootstrapRows(reference, size, r)), { replicates: 500 });
 * const { pValue } = nulls.pValue(distanceOf(window), window.length);
 * ```
 */
export class ReferenceNull {
  private readonly nulls = new Map<number, Float64Array>();
  private readonly replicates: number;
  private readonly seed: number;
  private readonly maxSize: number;

  constructor(
    private readonly simulate: (size: number, random: Random) => number,
    options: ReferenceNullOptions = {},
  ) {
    this.replicates = options.replicates ?? 500;
    this.seed = options.seed ?? 0;
    this.maxSize = options.maxSize ?? 4096;
    if (!Number.isInteger(this.replicates) || this.replicates < 1)
      throw invalid(`ReferenceNull: replicates must be a positive integer, got ${String(this.replicates)}`);
    if (!Number.isInteger(this.seed)) throw invalid(`ReferenceNull: seed must be an integer, got ${String(this.seed)}`);
    if (!Number.isInteger(this.maxSize) || this.maxSize < 1) throw invalid(`ReferenceNull: maxSize must be a positive integer, got ${String(this.maxSize)}`);
  }

  /** The sorted null statistics at `size` (a power of two, at most maxSize), simulated on first use. */
  at(size: number): Float64Array {
    let null_ = this.nulls.get(size);
    if (!null_) {
      // one stream per size: Knuth's multiplicative hash of the size mixed into the seed
      const random = createRandom((Math.imul(this.seed, 0x9e3779b1) ^ Math.imul(size, 0x85ebca6b)) >>> 0);
      null_ = new Float64Array(this.replicates);
      for (let i = 0; i < this.replicates; i++) {
        const v = this.simulate(size, random);
        if (Number.isNaN(v)) throw invalid(`ReferenceNull: the simulated statistic at size ${size} is NaN`);
        null_[i] = v;
      }
      null_.sort();
      this.nulls.set(size, null_);
    }
    return null_;
  }

  /** Sizes whose nulls are computed so far. */
  sizes(): number[] {
    return [...this.nulls.keys()].sort((a, b) => a - b);
  }

  /** `(1 + #{null >= statistic}) / (1 + replicates)` at one simulated size. */
  pValueAt(statistic: number, size: number): number {
    const null_ = this.at(size);
    // first index with null_[i] >= statistic
    let lo = 0;
    let hi = null_.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (null_[mid]! < statistic) lo = mid + 1;
      else hi = mid;
    }
    return (1 + null_.length - lo) / (1 + null_.length);
  }

  /** The p-value of `statistic` for a window of `n` rows (see the class). */
  pValue(statistic: number, n: number): NullPValue {
    if (!Number.isInteger(n) || n < 1) throw invalid(`ReferenceNull: the window size must be a positive integer, got ${String(n)}`);
    if (Number.isNaN(statistic)) throw invalid('ReferenceNull: the statistic is NaN');
    const top = sizeBucket(this.maxSize) === this.maxSize ? this.maxSize : sizeBucket(this.maxSize) / 2;
    if (n >= top) return { pValue: this.pValueAt(statistic, top), sizes: [top] };
    const hi = sizeBucket(n);
    if (hi === n) return { pValue: this.pValueAt(statistic, n), sizes: [n] };
    const lo = hi / 2;
    const pLo = this.pValueAt(statistic, lo);
    const pHi = this.pValueAt(statistic, hi);
    const t = Math.log2(n / lo);
    return { pValue: Math.exp((1 - t) * Math.log(pLo) + t * Math.log(pHi)), sizes: [lo, hi] };
  }

  /** Bytes held by the nulls. */
  bytes(): number {
    let b = 0;
    for (const v of this.nulls.values()) b += v.byteLength;
    return b;
  }
}

/** Options of {@link ReferenceCache}. */
export interface ReferenceCacheOptions {
  /** Evict the least recently used entries beyond this many bytes (as entries report them). @default 64 MiB */
  maxBytes?: number;
  /** ... or beyond this many entries. @default 256 */
  maxEntries?: number;
}

/**
 * A least-recently-used map for what an app computes once per endpoint and reference (sorted
 * reference columns, nulls), bounded in bytes. Kept in module state, it lives as long as the
 * module: with `"isolation": "version"` in plugin.json, for all the windows the plugin version
 * runs on that runner; with the default isolation, for one window only.
 *
 * Key entries by endpoint id and {@link referenceFingerprint}, so a new reference gets a new
 * entry; sizes are asked again (`sizeOf`) whenever an entry is stored or touched, since entries
 * may grow (nulls computed for new sizes).
 */
export class ReferenceCache<V> {
  private readonly entries = new Map<string, V>();
  private readonly sizes = new Map<string, number>();
  private total = 0;
  private readonly maxBytes: number;
  private readonly maxEntries: number;
  /** Entries created (misses) and reused (hits) so far. */
  readonly stats = { hits: 0, misses: 0, evictions: 0 };

  constructor(
    private readonly sizeOf: (value: V) => number,
    options: ReferenceCacheOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.maxEntries = options.maxEntries ?? 256;
  }

  /** The entry for `key`, made by `create` when absent; the entry becomes the most recently used. */
  getOrCreate(key: string, create: () => V): V {
    let v = this.entries.get(key);
    if (v === undefined) {
      this.stats.misses++;
      v = create();
    } else {
      this.stats.hits++;
      this.entries.delete(key);
    }
    this.entries.set(key, v);
    this.resize(key);
    return v;
  }

  /** Count `key`'s size again (after it grew) and evict what no longer fits, never `key` itself. */
  resize(key: string): void {
    const v = this.entries.get(key);
    if (v === undefined) return;
    const size = this.sizeOf(v);
    this.total += size - (this.sizes.get(key) ?? 0);
    this.sizes.set(key, size);
    for (const k of this.entries.keys()) {
      if (this.total <= this.maxBytes && this.entries.size <= this.maxEntries) break;
      if (k === key) continue;
      this.entries.delete(k);
      this.total -= this.sizes.get(k) ?? 0;
      this.sizes.delete(k);
      this.stats.evictions++;
    }
  }

  /** Forget `key` (an entry that turned out wrong, such as a load that failed); whether it was there. */
  delete(key: string): boolean {
    if (!this.entries.delete(key)) return false;
    this.total -= this.sizes.get(key) ?? 0;
    this.sizes.delete(key);
    return true;
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }
}

/**
 * A 64-bit fingerprint (16 hex digits) of columns of numbers and strings, to key what an app
 * keeps per reference: any change of a value, the order of rows, the number of rows or the
 * columns gives another fingerprint (up to hash collisions, about 2^-64). Numbers are hashed by
 * their bits; cost about 2 ns a value.
 */
export function referenceFingerprint(columns: ReadonlyArray<ArrayLike<number> | ReadonlyArray<string | null>>): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x27d4eb2f;
  const word = (w: number): void => {
    h1 = Math.imul(h1 ^ w, 0x01000193);
    h2 = Math.imul(h2 ^ w, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  };
  const bits = new Float64Array(1);
  const words = new Uint32Array(bits.buffer);
  word(columns.length);
  for (const c of columns) {
    word(c.length);
    if (c instanceof Float64Array && c.byteOffset % 4 === 0) {
      word(1);
      // the hot loop of a large reference: the same mixing as word(), inlined
      const w = new Uint32Array(c.buffer, c.byteOffset, c.length * 2);
      let a = h1;
      let b = h2;
      for (let i = 0; i < w.length; i++) {
        const x = w[i]!;
        a = Math.imul(a ^ x, 0x01000193);
        b = Math.imul(b ^ x, 0x5bd1e995);
        b ^= b >>> 15;
      }
      h1 = a;
      h2 = b;
      continue;
    }
    word(2);
    for (let i = 0; i < c.length; i++) {
      const v = c[i];
      if (typeof v === 'number') {
        bits[0] = v;
        word(words[0]!);
        word(words[1]!);
      } else if (typeof v === 'string') {
        word(v.length);
        for (let k = 0; k < v.length; k++) word(v.charCodeAt(k));
      } else word(0xffffffff);
    }
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}
