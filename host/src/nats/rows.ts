/**
 * The binary row format of `MW_ROWS` (see `ROWS_MAGIC` and `RowChunkHeader` in the protocol):
 * encoding the rows of one window from one or more events, and decoding them into row-major
 * batches without the parts a reader has already seen.
 */
import type { CellValue } from '@modelwatch/sdk';
import { ROWS_MAGIC, type RowBatch, type RowChunkHeader } from '@modelwatch/protocol';

/** The rows of one validated event, column-major, as the stream processor parsed them (its `ParsedEvent`). */
export interface RowSource {
  /** Event time of each row (ms). */
  ts: number[];
  /** Feature columns, in the endpoint's order. */
  x: CellValue[][];
  /** Output columns, in the endpoint's order. */
  y: CellValue[][];
  /** Request id per row, or null when the event has none. */
  rid: Array<string | null> | null;
  /** Latency per row (µs), or null when the event has none. */
  lat: Array<number | null> | null;
  /** Per column (features, then outputs), the rows whose value had the wrong type, ascending; null when none. */
  wrongType: number[][] | null;
}

/** Rows of one window gathered from one or more events, in parts (see `ROWS_MAGIC`). */
export class RowsChunk {
  n = 0;
  /** Estimated encoded size. */
  bytes = 64;
  readonly e: number[] = [];
  /** The rows, as ranges of the parsed events (copied only when encoded). */
  private readonly segs: Array<{ p: RowSource; from: number; to: number }> = [];
  private readonly rowBytes: number;
  /** Values of the wrong type, `[part, column, count, ...]` (the header's `w`). */
  private readonly wrong: number[] = [];

  constructor(
    readonly nx: number,
    readonly ny: number,
  ) {
    this.rowBytes = 8 * (nx + ny + 2);
  }

  /** Start a part: the rows of event `seq` in this window from `offset` on. */
  beginPart(seq: number, offset: number): void {
    this.e.push(seq, offset, 0);
    this.bytes += 24;
  }

  /**
   * Append rows `from..to-1` of a parsed event to the current part, stopping once `budget`
   * bytes are added (at least one row). Returns how many rows it took and their bytes.
   */
  addRange(p: RowSource, from: number, to: number, budget: number): [number, number] {
    const strCols = stringColumns(p);
    let k = 0;
    let bytes = 0;
    if (strCols.length === 0 && !p.rid) {
      const per = this.rowBytes;
      k = Math.min(to - from, Math.max(1, Math.ceil(budget / per)));
      bytes = k * per;
    } else {
      const ridBytes = p.rid ? 24 : 0;
      while (from + k < to && (k === 0 || bytes < budget)) {
        let b = this.rowBytes + ridBytes;
        for (const col of strCols) {
          const v = col[from + k];
          if (typeof v === 'string') b += v.length + 3;
        }
        const r = p.rid?.[from + k];
        if (r) b += r.length;
        bytes += b;
        k++;
      }
    }
    const last = this.segs[this.segs.length - 1];
    if (last && last.p === p && last.to === from) last.to = from + k;
    else this.segs.push({ p, from, to: from + k });
    if (p.wrongType) this.countWrong(p.wrongType, from, from + k);
    this.n += k;
    this.e[this.e.length - 1]! += k;
    this.bytes += bytes;
    return [k, bytes];
  }

  /** Add the wrong-type values of rows `from..to-1` to the current part's counts. */
  private countWrong(wrongType: number[][], from: number, to: number): void {
    const part = this.e.length / 3 - 1;
    for (let j = 0; j < wrongType.length; j++) {
      const rows = wrongType[j]!;
      if (rows.length === 0) continue;
      const k = lowerBound(rows, to) - lowerBound(rows, from);
      if (k === 0) continue;
      // a part's counts are contiguous in the list: look for this column among them
      let at = this.wrong.length - 3;
      while (at >= 0 && this.wrong[at] === part && this.wrong[at + 1] !== j) at -= 3;
      if (at >= 0 && this.wrong[at] === part) this.wrong[at + 2]! += k;
      else this.wrong.push(part, j, k);
    }
  }

  encode(): Uint8Array {
    const n = this.n;
    const segs = this.segs;
    const ncol = this.nx + this.ny;
    const colOf = (p: RowSource, j: number) => (j < this.nx ? p.x[j]! : p.y[j - this.nx]!);
    const num: number[] = [];
    const str: Record<string, CellValue[]> = {};
    for (let j = 0; j < ncol; j++) {
      let numeric = true;
      scan: for (const sg of segs) {
        const col = colOf(sg.p, j);
        for (let i = sg.from; i < sg.to; i++) {
          const v = col[i];
          if (v !== null && typeof v !== 'number') {
            numeric = false;
            break scan;
          }
        }
      }
      if (numeric) num.push(j);
      else {
        const out: CellValue[] = [];
        for (const sg of segs) {
          const col = colOf(sg.p, j);
          for (let i = sg.from; i < sg.to; i++) out.push(col[i]!);
        }
        str[j] = out;
      }
    }
    const header: RowChunkHeader = { n, e: this.e, nx: this.nx, ny: this.ny, num, str };
    if (this.wrong.length) header.w = this.wrong;
    if (segs.some((sg) => sg.p.rid)) {
      const rid: Array<string | null> = [];
      for (const sg of segs) for (let i = sg.from; i < sg.to; i++) rid.push(sg.p.rid ? sg.p.rid[i]! : null);
      header.rid = rid;
    }
    const tr = segRuns(segs, (p) => p.ts);
    if (tr) header.tr = tr;
    const hasLat = segs.some((sg) => sg.p.lat);
    const lr = hasLat ? segRuns(segs, (p) => p.lat) : null;
    if (hasLat) header.lat = true;
    if (lr) header.lr = lr;
    const head = Buffer.from(JSON.stringify(header));
    const dataStart = align8(8 + head.length);
    const binTs = !tr;
    const binLat = hasLat && !lr;
    const floats = n * ((binTs ? 1 : 0) + (binLat ? 1 : 0) + num.length);
    const buf = new ArrayBuffer(dataStart + floats * 8);
    const u8 = new Uint8Array(buf);
    const dv = new DataView(buf);
    dv.setUint32(0, ROWS_MAGIC, true);
    dv.setUint32(4, head.length, true);
    u8.set(head, 8);
    const f = new Float64Array(buf, dataStart, floats);
    let o = 0;
    if (binTs) for (const sg of segs) for (let i = sg.from; i < sg.to; i++) f[o++] = sg.p.ts[i]!;
    if (binLat) {
      for (const sg of segs) {
        const lat = sg.p.lat;
        for (let i = sg.from; i < sg.to; i++) f[o++] = lat ? (lat[i] ?? NaN) : NaN;
      }
    }
    for (const j of num) {
      for (const sg of segs) {
        const col = colOf(sg.p, j) as Array<number | null>;
        for (let i = sg.from; i < sg.to; i++) f[o++] = col[i] ?? NaN;
      }
    }
    return u8;
  }
}

/** Run-length form `[value, count, ...]` of a per-row value over segments, when at most a quarter of the rows; else null. */
function segRuns(
  segs: ReadonlyArray<{ p: RowSource; from: number; to: number }>,
  get: (p: RowSource) => ReadonlyArray<number | null> | null,
): Array<number | null> | null {
  const out: Array<number | null> = [];
  let n = 0;
  for (const sg of segs) n += sg.to - sg.from;
  const max = Math.max(2, n / 4);
  let cur: number | null | undefined;
  let count = 0;
  for (const sg of segs) {
    const vals = get(sg.p);
    for (let i = sg.from; i < sg.to; i++) {
      const v = vals ? (vals[i] ?? null) : null;
      if (count > 0 && v === cur) count++;
      else {
        if (count > 0) {
          out.push(cur!, count);
          if (out.length > max) return null;
        }
        cur = v;
        count = 1;
      }
    }
  }
  if (count > 0) out.push(cur!, count);
  return out.length > max ? null : out;
}

const stringCols = new WeakMap<RowSource, CellValue[][]>();
/** Events of up to this many rows are scanned again when asked (quicker than the cache for most events, of one row). */
const SCAN_ROWS = 16;
/** The columns of an event that hold strings (an event of many rows: computed once). */
function stringColumns(p: RowSource): CellValue[][] {
  if (p.ts.length <= SCAN_ROWS) return scanStringColumns(p);
  let out = stringCols.get(p);
  if (!out) {
    out = scanStringColumns(p);
    stringCols.set(p, out);
  }
  return out;
}

function scanStringColumns(p: RowSource): CellValue[][] {
  const out: CellValue[][] = [];
  const scan = (cols: CellValue[][]) => {
    for (const col of cols) {
      for (let i = 0; i < col.length; i++) {
        if (typeof col[i] === 'string') {
          out.push(col);
          break;
        }
      }
    }
  };
  scan(p.x);
  scan(p.y);
  return out;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** The first index of an ascending list whose value is >= `v`. */
function lowerBound(list: readonly number[], v: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function unrun(r: Array<number | null>, n: number): Float64Array {
  const out = new Float64Array(n);
  let o = 0;
  for (let k = 0; k < r.length; k += 2) {
    const v = r[k] ?? NaN;
    const c = r[k + 1] as number;
    out.fill(v, o, o + c);
    o += c;
  }
  return out;
}

/**
 * The rows of events a reader has kept, per event sequence: a part names rows `offset..offset+count-1`
 * of its event, and the same rows may come again in parts of other bounds (a batch redelivered and
 * chunked otherwise is stored too, its chunks having other ids: `rowChunkId`).
 */
export class SeenRows {
  /** Per event sequence, the rows kept as sorted, disjoint, non-adjacent ranges `[from, to, from, to, ...]` (`to` excluded). */
  private readonly bySeq = new Map<number, number[]>();

  /**
   * Mark rows `from..to-1` of event `seq` seen: `fresh(a, b)` is called for each range of them not
   * seen before, in order. Returns how many were not seen before.
   */
  add(seq: number, from: number, to: number, fresh: (a: number, b: number) => void): number {
    if (!(to > from)) return 0;
    const ranges = this.bySeq.get(seq);
    if (!ranges) {
      this.bySeq.set(seq, [from, to]);
      fresh(from, to);
      return to - from;
    }
    let added = 0;
    let at = from;
    // the first range ending at or after `from` (touching it counts: they merge)
    let i = 0;
    while (i < ranges.length && ranges[i + 1]! < from) i += 2;
    const first = i;
    let lo = from;
    let hi = to;
    for (; i < ranges.length && ranges[i]! <= to; i += 2) {
      const s = ranges[i]!;
      const e = ranges[i + 1]!;
      if (s > at) {
        fresh(at, s);
        added += s - at;
      }
      at = Math.max(at, e);
      lo = Math.min(lo, s);
      hi = Math.max(hi, e);
    }
    if (at < to) {
      fresh(at, to);
      added += to - at;
    }
    ranges.splice(first, i - first, lo, hi);
    return added;
  }
}

/**
 * Decode one `MW_ROWS` message into row-major batches (what the runner builds windows from),
 * keeping each row of an event once: the rows of its parts already in `seen`, whatever parts they
 * came in, are dropped, and the others added to it. Version 1 messages (row-major JSON) pass
 * through as they are.
 */
export function decodeRowBatch(data: Uint8Array, seen: SeenRows, out: RowBatch[]): void {
  if (data.length < 8 || data[0] !== 0x4d || data[1] !== 0x57 || data[2] !== 0x52 || data[3] !== 0x32) {
    out.push(JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as RowBatch);
    return;
  }
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const hlen = dv.getUint32(4, true);
  const h = JSON.parse(Buffer.from(data.buffer, data.byteOffset + 8, hlen).toString('utf8')) as RowChunkHeader;
  const n = h.n;
  const dataStart = align8(8 + hlen);
  const binTs = !h.tr;
  const binLat = !!h.lat && !h.lr;
  const floats = n * ((binTs ? 1 : 0) + (binLat ? 1 : 0) + h.num.length);
  // copy: the message buffer need not be 8-byte aligned
  const f = new Float64Array(floats);
  new Uint8Array(f.buffer).set(data.subarray(dataStart, dataStart + floats * 8));
  const ts = binTs ? f.subarray(0, n) : unrun(h.tr!, n);
  const lat = !h.lat ? null : binLat ? f.subarray(n, 2 * n) : unrun(h.lr!, n);
  // which rows to keep
  const keep = new Uint8Array(n);
  const keptParts = new Uint8Array(h.e.length / 3);
  let row = 0;
  let kept = 0;
  for (let p = 0; p < h.e.length; p += 3) {
    const offset = h.e[p + 1]!;
    const count = h.e[p + 2]!;
    const at = row - offset;
    const fresh = seen.add(h.e[p]!, offset, offset + count, (a, b) => keep.fill(1, at + a, at + b));
    if (fresh === count) keptParts[p / 3] = 1;
    kept += fresh;
    row += count;
  }
  if (kept === 0) return;
  const ncol = h.nx + h.ny;
  // the wrong-type counts of the parts kept whole: a part's counts (`w`) are per column, not per
  // row, so those of a part kept in part cannot be split between its rows seen before (counted
  // with the part that brought them) and its new ones; they are dropped, so a value is never
  // counted twice (at worst, the new rows' wrong-type values of a part that overlaps one seen
  // before, a batch redelivered and chunked otherwise, go uncounted; their values are missing
  // all the same)
  let wrongType: number[] | undefined;
  const w = h.w ?? [];
  for (let k = 0; k + 2 < w.length; k += 3) {
    const part = w[k]!;
    const col = w[k + 1]!;
    if (!keptParts[part] || !(col >= 0 && col < ncol)) continue;
    wrongType ??= new Array<number>(ncol).fill(0);
    wrongType[col]! += w[k + 2]!;
  }
  const colOf: Array<(i: number) => CellValue> = new Array(ncol);
  let o = n * ((binTs ? 1 : 0) + (binLat ? 1 : 0));
  for (const j of h.num) {
    const base = o;
    colOf[j] = (i) => {
      const v = f[base + i]!;
      return Number.isNaN(v) ? null : v;
    };
    o += n;
  }
  for (const [j, values] of Object.entries(h.str)) colOf[Number(j)] = (i) => values[i] ?? null;
  const batch: RowBatch = { v: 1, ts: [], x: [], y: [], rid: [], lat: [] };
  for (let i = 0; i < n; i++) {
    if (!keep[i]) continue;
    batch.ts.push(ts[i]!);
    const xr = new Array<CellValue>(h.nx);
    for (let c = 0; c < h.nx; c++) xr[c] = colOf[c]!(i);
    const yr = new Array<CellValue>(h.ny);
    for (let c = 0; c < h.ny; c++) yr[c] = colOf[h.nx + c]!(i);
    batch.x.push(xr);
    batch.y.push(yr);
    batch.rid.push(h.rid ? (h.rid[i] ?? null) : null);
    if (lat) {
      const l = lat[i]!;
      batch.lat.push(Number.isNaN(l) ? null : l);
    } else batch.lat.push(null);
  }
  if (wrongType) batch.wrongType = wrongType;
  out.push(batch);
}

/** Rows in a message (either version), without decoding the values. */
export function rowCount(data: Uint8Array): number {
  if (data.length >= 8 && data[0] === 0x4d && data[1] === 0x57 && data[2] === 0x52 && data[3] === 0x32) {
    const hlen = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(4, true);
    return (JSON.parse(Buffer.from(data.buffer, data.byteOffset + 8, hlen).toString('utf8')) as RowChunkHeader).n;
  }
  return (JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as RowBatch).ts.length;
}
