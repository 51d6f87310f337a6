import { decode as unpack, encode as pack } from '@msgpack/msgpack';
import { Level } from 'level';
import type {
  AppOutputMessage,
  ProfilesQuery,
  ResultsRollup,
  RollupsQuery,
  WindowProfile,
  EndpointStatsRecord,
  LatestResult,
  MetricName,
  MetricPoint,
  MetricValuesQuery,
  PurgedResults,
  ResultsQuery,
  SeriesPage,
  SeriesPoint,
  SeriesQuery,
  ServingCounts,
  ServingMinuteMessage,
  ServingRecord,
  WindowRecord,
} from '@modelwatch/protocol';
import { addCounts, emptyCounts } from '../domain/counts.js';
import { bucketOf, compactProfile, RESOLUTION_KEY, rollUpProfile, rollUpResults } from '../domain/profiles.js';
import { DEFAULT_RESULTS_LIMIT, windowOrder } from '../domain/results-order.js';
import { downsample } from '../domain/series.js';
import { WindowGroups } from './window-groups.js';

/** How long windows and window profiles (`windowMs`), and the hourly and daily roll-ups, are kept (by window or bucket start). */
export interface RetentionMs {
  windowMs: number;
  hourMs: number;
  dayMs: number;
}

/** What one expiry removed: windows (shadows' too), profiles (windows' and roll-ups), results roll-ups. */
export interface Expired {
  windows: number;
  profiles: number;
  rollups: number;
}

type Op = { type: 'put' | 'del'; sublevel: unknown; key: string; value?: unknown };

/** A time-series point waiting to be written. Key `o/<sequence>`. */
export interface OutboxPoint {
  measurement: 'app_results' | 'app_metrics' | 'serving_metrics';
  tags: Record<string, string>;
  fields: Record<string, number>;
  /** ms since the epoch */
  time: number;
}

const pad = (n: number) => String(n).padStart(16, '0');

/** The series index entries of a window: `<endpoint id>/<app>/<r|m>/<name>/<start>` -> `<value>:<status>` (a result's) or `<value>`. */
function seriesEntries(w: Pick<WindowRecord, 'endpointId' | 'app' | 'windowStart' | 'results' | 'metrics'>): Array<[string, string]> {
  const at = pad(w.windowStart);
  return [
    ...w.results.map((r): [string, string] => [`${w.endpointId}/${w.app}/r/${r.name}/${at}`, `${r.value}:${r.status}`]),
    ...w.metrics.map((m): [string, string] => [`${w.endpointId}/${w.app}/m/${m.name}/${at}`, String(m.value)]),
  ];
}

/**
 * The writer's LevelDB: full window history, latest result values, and an outbox of
 * time-series points. Storing a window is one atomic batch and happens once per
 * (endpoint, app, window) whatever the number of deliveries.
 */
export class ResultsDb {
  private readonly db: Level<string, unknown>;
  private readonly windows;
  private readonly shadows;
  private readonly latest;
  private readonly outbox;
  private readonly serving;
  private readonly stats;
  /** `m/applied`: the highest MW_OUTPUTS sequence stored; `m/windows`: windows stored (shadows' too). Written in the batches of the windows. */
  private readonly meta;
  /** Window profiles and their roll-ups, msgpack: `<endpoint id>/<w|h|d>/<start>`. */
  private readonly profiles;
  /** Results roll-ups: `<endpoint id>/<h|d>/<app>/<start>`. */
  private readonly rollups;
  /**
   * Time index of what expires: `<w|h|d>/<start>/<sublevel letter>/<key>` (live endpoints' windows,
   * shadows, profiles and roll-ups; a batch's windows never expire: they go with their batch).
   */
  private readonly expiry;
  /**
   * Series index of the windows (`w`, batches' too): `<endpoint id>/<app>/<r|m>/<name>/<window
   * start>` -> `<value>:<status>` or `<value>`, so one result's values over a range are one
   * range read of small entries (`series`, `metricNames`).
   */
  private readonly series;
  /** Windows starting before this were expired: their outputs, delivered again, are not stored again. */
  private expiredBefore = 0;
  private applied: number | undefined;
  private windowCount = 0;
  private seq = 0;
  private lock: Promise<unknown> = Promise.resolve();
  /** Endpoints purged when asked, ahead of their purge's message in MW_OUTPUTS, with nothing of theirs stored since. */
  private readonly purgedAhead = new Set<string>();
  /** The (endpoint, window start) pairs of live windows stored since the store opened (see windowSeen). */
  private readonly groups = new WindowGroups();

  constructor(path: string) {
    // a larger block cache and memtable than level's defaults (8 and 4 MiB): the writer reads about
    // ten records an output (the window, stats, roll-ups, latest values, profiles), most of them
    // written in the last minutes
    this.db = new Level<string, unknown>(path, { valueEncoding: 'json', cacheSize: 64 << 20, writeBufferSize: 32 << 20 });
    this.windows = this.db.sublevel<string, WindowRecord>('w', { valueEncoding: 'json' });
    this.shadows = this.db.sublevel<string, WindowRecord>('h', { valueEncoding: 'json' });
    this.latest = this.db.sublevel<string, LatestResult>('l', { valueEncoding: 'json' });
    this.outbox = this.db.sublevel<string, OutboxPoint>('o', { valueEncoding: 'json' });
    this.serving = this.db.sublevel<string, ServingRecord>('s', { valueEncoding: 'json' });
    this.stats = this.db.sublevel<string, EndpointStatsRecord>('e', { valueEncoding: 'json' });
    this.meta = this.db.sublevel<string, number>('m', { valueEncoding: 'json' });
    this.profiles = this.db.sublevel<string, Uint8Array>('p', { valueEncoding: 'view' });
    this.rollups = this.db.sublevel<string, ResultsRollup>('r', { valueEncoding: 'json' });
    this.expiry = this.db.sublevel<string, string>('t', { valueEncoding: 'utf8' });
    this.series = this.db.sublevel<string, string>('v', { valueEncoding: 'utf8' });
  }

  /** Open the store (its folder is made when missing). Throws level's error when the files are damaged beyond what LevelDB recovers. */
  async open(): Promise<void> {
    await this.db.open();
    for await (const key of this.outbox.keys({ reverse: true, limit: 1 })) this.seq = Number(key);
    this.applied = await this.meta.get('applied');
    this.windowCount = (await this.meta.get('windows')) ?? 0;
    this.expiredBefore = (await this.meta.get('expired')) ?? 0;
    if ((await this.meta.get('indexed')) === undefined) await this.indexExisting();
    if ((await this.meta.get('series')) === undefined) await this.indexSeries();
    if ((await this.meta.get('analysed')) === undefined) await this.countExisting();
    let newest: number | undefined;
    for await (const k of this.expiry.keys({ gte: 'w/', lt: 'w/\uffff', reverse: true, limit: 1 })) newest = Number(k.slice(2, 18));
    this.groups.opened(newest);
  }

  /** The series index of the windows of a store older than it, in batches (again from the start when interrupted: puts are idempotent). */
  private async indexSeries(): Promise<void> {
    let ops: Op[] = [];
    for await (const w of this.windows.values()) {
      for (const [key, value] of seriesEntries(w)) ops.push({ type: 'put', sublevel: this.series, key, value });
      if (ops.length >= 10_000) {
        await this.db.batch(ops as never);
        ops = [];
      }
    }
    ops.push({ type: 'put', sublevel: this.meta, key: 'series', value: 1 });
    await this.db.batch(ops as never);
  }

  /** Each endpoint's windows analysed (with rows), for a store older than the count (once, from the time index). */
  private async countExisting(): Promise<void> {
    const counts = new Map<string, number>();
    let last = '';
    for await (const k of this.expiry.keys({ gte: 'w/', lt: 'w/\uffff' })) {
      if (k.charAt(19) !== 'w') continue;
      const id = k.slice(21, k.indexOf('/', 21));
      const group = `${k.slice(2, 18)}/${id}`;
      if (group === last) continue;
      last = group;
      if (((await this.windows.get(k.slice(21)))?.rows ?? 0) > 0) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const ops: Op[] = [];
    for (const [id, n] of counts) {
      const cur = await this.stats.get(id);
      if (cur) ops.push({ type: 'put', sublevel: this.stats, key: id, value: { ...cur, windowsAnalysed: n } });
    }
    ops.push({ type: 'put', sublevel: this.meta, key: 'analysed', value: 1 });
    await this.db.batch(ops as never);
  }

  /** The time index of the windows of a store older than it (each once). */
  private async indexExisting(): Promise<void> {
    const ops: Op[] = [];
    for (const [sub, level] of [
      ['w', this.windows],
      ['h', this.shadows],
    ] as const) {
      for await (const key of level.keys()) {
        if (key.slice(0, key.indexOf('/')).includes('-')) continue;
        ops.push({ type: 'put', sublevel: this.expiry, key: `w/${key.slice(key.lastIndexOf('/') + 1)}/${sub}/${key}`, value: '' });
      }
    }
    ops.push({ type: 'put', sublevel: this.meta, key: 'indexed', value: 1 });
    await this.db.batch(ops as never);
  }

  /** The highest MW_OUTPUTS sequence whose output is stored, or undefined when the store never recorded one (new, or older than the record). */
  appliedSeq(): number | undefined {
    return this.applied;
  }

  /**
   * Whether the windows the store holds are as many as it recorded storing: fewer means records
   * were lost (LevelDB drops a damaged log record, and skips to the next, when it opens).
   */
  async checkCount(): Promise<{ recorded: number; held: number }> {
    let held = 0;
    for await (const _ of this.windows.keys()) held++;
    for await (const _ of this.shadows.keys()) held++;
    return { recorded: this.windowCount, held };
  }

  /** Record the windows held as the windows stored (after a rebuild, or for a store older than the record). */
  async recount(): Promise<void> {
    const { held } = await this.checkCount();
    await this.meta.put('windows', held);
    this.windowCount = held;
  }

  async close(): Promise<void> {
    await this.lock;
    await this.db.close();
  }

  /**
   * Store an app output; `seq`, its MW_OUTPUTS sequence, is recorded in the same batch (see
   * `appliedSeq`). Returns 'duplicate' (and changes nothing) if that window is stored already.
   */
  async store(out: AppOutputMessage, withOutbox: boolean, seq?: number): Promise<'stored' | 'duplicate'> {
    const [r] = await this.storeMany([{ out, seq }], withOutbox);
    return r!;
  }

  /**
   * Store app outputs in one LevelDB batch (all or none), each as {@link store} would one after
   * another: a window stored already, or twice in `outputs`, is a 'duplicate' and changes nothing;
   * the highest `seq` of those stored is recorded as `appliedSeq`. Returns each output's outcome, in order.
   */
  storeMany(outputs: ReadonlyArray<{ out: AppOutputMessage; seq?: number | undefined }>, withOutbox: boolean): Promise<Array<'stored' | 'duplicate'>> {
    return this.serial(() => {
      for (const { out } of outputs) this.storedOf(out.endpointId);
      return this.storeManyNow(outputs, withOutbox);
    });
  }

  private async storeManyNow(
    outputs: ReadonlyArray<{ out: AppOutputMessage; seq?: number | undefined }>,
    withOutbox: boolean,
  ): Promise<Array<'stored' | 'duplicate'>> {
    const batch = new PendingBatch();
    await this.prefetch(batch, outputs);
    const outboxSeq = this.seq;
    const results: Array<'stored' | 'duplicate'> = [];
    let windows = 0;
    let seq: number | undefined;
    for (const { out, seq: s } of outputs) {
      const r = out.shadow ? await this.shadowOps(batch, out) : await this.windowOps(batch, out, withOutbox);
      results.push(r);
      if (r !== 'stored') continue;
      windows++;
      if (s !== undefined && (seq === undefined || s > seq)) seq = s;
    }
    if (windows === 0) return results;
    try {
      await this.db.batch([...batch.ops, ...this.metaOps(seq, windows)] as never);
    } catch (err) {
      this.seq = outboxSeq;
      throw err;
    }
    this.noteMeta(seq, windows);
    for (const [endpointId, start] of batch.windowGroups.values()) this.groups.add(endpointId, start);
    return results;
  }

  /**
   * The records the outputs' stores read (the window itself, the endpoint's stats, profiles,
   * roll-ups and latest values), read before the batch is made. Read synchronously: most were
   * written in the last minutes (memtable, block cache), where a read takes a microsecond or two,
   * while each asynchronous read (or `getMany`) costs a hop to libuv's threads and back, 10 to
   * 30 µs of CPU on this project's machine: 12 reads over 6 sublevels took 176 µs by `getMany`,
   * 23 µs by `getSync` (`bench/level-reads.mjs`). The store is serial: nothing writes meanwhile.
   * A large batch on a cold cache (after a restart) may read from disk: the event loop gets a turn
   * every PREFETCH_TURN reads, for the writer's progress signals and the API.
   */
  private async prefetch(batch: PendingBatch, outputs: ReadonlyArray<{ out: AppOutputMessage }>): Promise<void> {
    const keys = new Map<ReadableSublevel, Set<string>>();
    const want = (sublevel: ReadableSublevel, key: string): void => {
      let k = keys.get(sublevel);
      if (!k) keys.set(sublevel, (k = new Set()));
      k.add(key);
    };
    for (const { out } of outputs) {
      const live = !out.endpointId.includes('-');
      if (out.shadow) want(this.shadows, shadowKey(out));
      else {
        want(this.windows, windowKey(out));
        if (live) {
          want(this.stats, out.endpointId);
          for (const res of ['hour', 'day'] as const) want(this.rollups, resultsRollupKey(out, res));
        }
        for (const r of out.results) want(this.latest, `${out.endpointId}/${out.app}/${r.name}`);
      }
      if (out.profile && out.rows > 0) {
        want(this.profiles, profileKey(out.endpointId, out.windowStart));
        if (live) for (const res of ['hour', 'day'] as const) want(this.profiles, profileRollupKey(out, res));
      }
    }
    let reads = 0;
    for (const [sublevel, k] of keys) {
      for (const key of k) {
        batch.readAhead(sublevel, key);
        if (++reads % PREFETCH_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  /** The puts of the store's own records that go with a batch storing windows. */
  private metaOps(seq: number | undefined, windows: number): Array<{ type: 'put'; sublevel: unknown; key: string; value: unknown }> {
    const ops: Array<{ type: 'put'; sublevel: unknown; key: string; value: unknown }> = [
      { type: 'put', sublevel: this.meta, key: 'windows', value: this.windowCount + windows },
    ];
    if (seq !== undefined && (this.applied === undefined || seq > this.applied)) ops.push({ type: 'put', sublevel: this.meta, key: 'applied', value: seq });
    return ops;
  }

  /** After a batch of {@link metaOps} is written. */
  private noteMeta(seq: number | undefined, windows: number): void {
    this.windowCount += windows;
    if (seq !== undefined && (this.applied === undefined || seq > this.applied)) this.applied = seq;
  }

  /** A live or batch window's puts into `batch`, reading what the batch holds already before the store. */
  private async windowOps(batch: PendingBatch, out: AppOutputMessage, withOutbox: boolean): Promise<'stored' | 'duplicate'> {
    const live = !out.endpointId.includes('-');
    if (live && out.windowStart < this.expiredBefore) return 'duplicate';
    const wkey = windowKey(out);
    if ((await batch.get<WindowRecord>(this.windows, wkey)) !== undefined) return 'duplicate';
    const storedAt = Date.now();
    const { v: _v, attempts, profile: _profile, ...rest } = out;
    const record: WindowRecord = { ...rest, attempts: attempts ?? 1, storedAt };
    // the stats first: whether the window is the endpoint's first output of its window is read from the time index
    const stats = live ? await this.windowSeen(batch, out) : undefined;
    batch.put(this.windows, wkey, record);
    for (const [key, value] of seriesEntries(record)) batch.put(this.series, key, value);
    if (live) {
      this.index(batch, 'window', out.windowStart, 'w', wkey);
      batch.windowGroups.set(windowGroup(out.endpointId, out.windowStart), [out.endpointId, out.windowStart]);
    }
    await this.profileOps(batch, out, live);
    if (live) await this.rollupOps(batch, record);
    for (const r of out.results) {
      const lkey = `${out.endpointId}/${out.app}/${r.name}`;
      const prev = await batch.get<LatestResult>(this.latest, lkey);
      if (!prev || prev.windowStart <= out.windowStart) {
        batch.put(this.latest, lkey, {
          ...r,
          endpointId: out.endpointId,
          endpointName: out.endpointName,
          app: out.app,
          version: out.version,
          windowStart: out.windowStart,
          windowEnd: out.windowEnd,
        } satisfies LatestResult);
      }
    }
    if (withOutbox) {
      for (const p of pointsOf(out)) batch.put(this.outbox, pad(++this.seq), p);
    }
    if (stats) batch.put(this.stats, out.endpointId, stats);
    return 'stored';
  }

  /**
   * A shadow version's output: its window alone, under `h/<endpoint id>/<app>/<version>/<window
   * start>` (once per version and window), with no latest values, no TSDB point and no status
   * noted, so nothing of the active version's series or drift status changes.
   */
  private async shadowOps(batch: PendingBatch, out: AppOutputMessage): Promise<'stored' | 'duplicate'> {
    const live = !out.endpointId.includes('-');
    if (live && out.windowStart < this.expiredBefore) return 'duplicate';
    const key = shadowKey(out);
    if ((await batch.get<WindowRecord>(this.shadows, key)) !== undefined) return 'duplicate';
    const { v: _v, attempts, profile: _profile, ...rest } = out;
    batch.put(this.shadows, key, { ...rest, attempts: attempts ?? 1, storedAt: Date.now() });
    if (live) this.index(batch, 'window', out.windowStart, 'h', key);
    await this.profileOps(batch, out, live);
    return 'stored';
  }

  private index(batch: PendingBatch, resolution: keyof typeof RESOLUTION_KEY, start: number, sub: 'w' | 'h' | 'p' | 'r', key: string): void {
    batch.put(this.expiry, `${RESOLUTION_KEY[resolution]}/${pad(start)}/${sub}/${key}`, '');
  }

  /**
   * The window's profile, once per endpoint and window (the first output with rows brings it), and
   * for a live endpoint its hourly and daily roll-ups.
   */
  private async profileOps(batch: PendingBatch, out: AppOutputMessage, live: boolean): Promise<void> {
    if (!out.profile || out.rows === 0) return;
    const key = profileKey(out.endpointId, out.windowStart);
    if ((await batch.get<Uint8Array>(this.profiles, key)) !== undefined) return;
    const profile: WindowProfile = {
      v: 1,
      endpoint: out.endpointName,
      endpointId: out.endpointId,
      windowStart: out.windowStart,
      windowEnd: out.windowEnd,
      rows: out.rows,
      features: compactProfile(out.profile),
    };
    batch.put(this.profiles, key, pack(profile));
    if (!live) return;
    this.index(batch, 'window', out.windowStart, 'p', key);
    for (const res of ['hour', 'day'] as const) {
      const { start } = bucketOf(out.windowStart, res);
      const rkey = profileRollupKey(out, res);
      const prev = await batch.get<Uint8Array>(this.profiles, rkey);
      const into = prev === undefined ? undefined : (unpack(prev) as WindowProfile);
      batch.put(this.profiles, rkey, pack(rollUpProfile(into, profile, res)));
      if (!into) this.index(batch, res, start, 'p', rkey);
    }
  }

  /** The window's results and metrics merged into its app's hourly and daily roll-ups. */
  private async rollupOps(batch: PendingBatch, w: WindowRecord): Promise<void> {
    for (const res of ['hour', 'day'] as const) {
      const { start } = bucketOf(w.windowStart, res);
      const key = resultsRollupKey(w, res);
      const into = await batch.get<ResultsRollup>(this.rollups, key);
      batch.put(this.rollups, key, rollUpResults(into, w, res));
      if (!into) this.index(batch, res, start, 'r', key);
    }
  }

  /** Profiles of an endpoint starting in `[from, to)` (hourly or daily roll-ups: whose hour or day overlaps it), oldest first. */
  async profilesOf(q: ProfilesQuery): Promise<WindowProfile[]> {
    const res = q.resolution ?? 'window';
    const prefix = `${q.endpointId}/${RESOLUTION_KEY[res]}/`;
    const out: WindowProfile[] = [];
    // a roll-up is in the range when its hour or day overlaps it
    const from = q.from === undefined ? 0 : res === 'window' ? q.from : bucketOf(q.from, res).start;
    const range = { gte: prefix + pad(from), lt: q.to === undefined ? `${prefix}\uffff` : prefix + pad(q.to), limit: q.limit ?? 1000 };
    for await (const v of this.profiles.values(range)) out.push(unpack(v) as WindowProfile);
    return out;
  }

  /** The profile of one window of an endpoint. */
  async profileOf(endpointId: string, windowStart: number): Promise<WindowProfile | undefined> {
    const v = await this.profiles.get(profileKey(endpointId, windowStart));
    return v === undefined ? undefined : (unpack(v) as WindowProfile);
  }

  /** Results roll-ups of an endpoint (one app's, or every app's) whose hour or day overlaps `[from, to)`, oldest first. */
  async rollupsOf(q: RollupsQuery): Promise<ResultsRollup[]> {
    const prefix = `${q.endpointId}/${RESOLUTION_KEY[q.resolution]}/${q.app ? `${q.app}/` : ''}`;
    const out: ResultsRollup[] = [];
    for await (const v of this.rollups.values({ gte: prefix, lt: `${prefix}\uffff` })) {
      if ((q.from !== undefined && v.end <= q.from) || (q.to !== undefined && v.start >= q.to)) continue;
      out.push(v);
    }
    out.sort((a, b) => a.start - b.start || a.app.localeCompare(b.app));
    return out.slice(0, q.limit ?? 1000);
  }

  /**
   * Remove what is older than its retention (by window, hour or day start, against `now`):
   * windows (shadows' too) and window profiles, hourly and daily roll-ups of profiles and results.
   */
  expire(now: number, retention: RetentionMs): Promise<Expired> {
    return this.serial(async (): Promise<Expired> => {
      const done: Expired = { windows: 0, profiles: 0, rollups: 0 };
      const cutoffs = { w: now - retention.windowMs, h: now - retention.hourMs, d: now - retention.dayMs };
      let lastGroup = '';
      // before any delete: a start below the cutoff is asked of the time index from now on, so an
      // expiry that fails half-way leaves nothing remembered that the index no longer holds
      this.groups.expireBefore(cutoffs.w);
      for (const [res, cutoff] of Object.entries(cutoffs)) {
        for (;;) {
          const keys: string[] = [];
          for await (const k of this.expiry.keys({ gte: `${res}/`, lt: `${res}/${pad(Math.max(0, cutoff))}`, limit: 1000 })) keys.push(k);
          if (keys.length === 0) break;
          const ops: Op[] = [];
          let windows = 0;
          const gone = new Map<string, number>();
          for (const k of keys) {
            ops.push({ type: 'del', sublevel: this.expiry, key: k });
            // `<res>/<16 digits>/<sub>/<key>`
            const sub = k.charAt(19);
            const key = k.slice(21);
            if (sub === 'w' || sub === 'h') {
              const w = await (sub === 'w' ? this.windows : this.shadows).get(key);
              if (w === undefined) continue;
              windows++;
              if (sub === 'w') for (const [skey] of seriesEntries(w)) ops.push({ type: 'del', sublevel: this.series, key: skey });
              ops.push({ type: 'del', sublevel: sub === 'w' ? this.windows : this.shadows, key });
              // the first of a window's outputs (its keys are adjacent, also across batches): one window less analysed
              const group = `${k.slice(2, 18)}/${key.slice(0, key.indexOf('/'))}`;
              if (sub === 'w' && w.rows > 0 && group !== lastGroup) {
                lastGroup = group;
                const id = key.slice(0, key.indexOf('/'));
                gone.set(id, (gone.get(id) ?? 0) + 1);
              }
            } else if (sub === 'p') {
              done.profiles++;
              ops.push({ type: 'del', sublevel: this.profiles, key });
            } else {
              done.rollups++;
              ops.push({ type: 'del', sublevel: this.rollups, key });
            }
          }
          for (const [id, n] of gone) {
            const cur = await this.stats.get(id);
            if (cur?.windowsAnalysed !== undefined)
              ops.push({ type: 'put', sublevel: this.stats, key: id, value: { ...cur, windowsAnalysed: Math.max(0, cur.windowsAnalysed - n) } });
          }
          this.windowCount = Math.max(0, this.windowCount - windows);
          done.windows += windows;
          ops.push({ type: 'put', sublevel: this.meta, key: 'windows', value: this.windowCount });
          await this.db.batch(ops as never);
        }
      }
      if (cutoffs.w > this.expiredBefore) {
        this.expiredBefore = cutoffs.w;
        await this.meta.put('expired', cutoffs.w);
      }
      return done;
    });
  }

  /**
   * The endpoint's stats with this output noted (live windows only, not batches): the statuses of
   * its results, its app's newest outcome (`ok` or `error`: not `empty`), and one more window
   * analysed when it has rows and is the first output of its window (no other app's is in the
   * time index yet: one key looked up).
   */
  private async windowSeen(batch: PendingBatch, out: AppOutputMessage): Promise<EndpointStatsRecord> {
    const held = await batch.get<EndpointStatsRecord>(this.stats, out.endpointId);
    const cur = held ? { ...held, statusSeen: { ...held.statusSeen } } : newStats(out.endpointId, out.endpointName);
    for (const r of out.results) {
      const k = String(r.status);
      if ((cur.statusSeen[k] ?? -Infinity) < out.windowEnd) cur.statusSeen[k] = out.windowEnd;
    }
    // an empty window tells nothing of an app; one without rows does not count as analysed
    if (out.outcome !== 'empty') {
      const prev = cur.lastOutcomes?.[out.app];
      if (!prev || prev.windowStart <= out.windowStart)
        cur.lastOutcomes = { ...cur.lastOutcomes, [out.app]: { windowStart: out.windowStart, outcome: out.outcome } };
    }
    if (out.rows > 0) {
      const group = `w/${pad(out.windowStart)}/w/${out.endpointId}/`;
      // in this batch, else among the windows stored since the store opened, else in the time index
      const seen =
        batch.windowGroups.has(windowGroup(out.endpointId, out.windowStart)) ||
        (this.groups.has(out.endpointId, out.windowStart) ?? (await this.indexHolds(group)));
      if (!seen) cur.windowsAnalysed = (cur.windowsAnalysed ?? 0) + 1;
    }
    return { ...cur, updatedAt: Date.now() };
  }

  /** Whether the time index holds a key under `prefix`. */
  private async indexHolds(prefix: string): Promise<boolean> {
    for await (const _ of this.expiry.keys({ gte: prefix, lt: `${prefix}\uffff`, limit: 1 })) return true;
    return false;
  }

  /** Every app's output of one window of an endpoint, from the time index (no scan of the endpoint's windows). */
  async windowsAt(endpointId: string, windowStart: number): Promise<WindowRecord[]> {
    const group = `w/${pad(windowStart)}/w/${endpointId}/`;
    const keys: string[] = [];
    for await (const k of this.expiry.keys({ gte: group, lt: `${group}\uffff`, limit: 1000 })) keys.push(k.slice(21));
    const found = await this.windows.getMany(keys);
    return found.filter((w): w is WindowRecord => w !== undefined).sort((a, b) => a.app.localeCompare(b.app));
  }

  /** Store the serving metrics of one closed interval. 'duplicate' (nothing changes) when it is stored already. */
  storeServing(m: ServingMinuteMessage, withOutbox: boolean): Promise<'stored' | 'duplicate'> {
    return this.serial(() => {
      this.storedOf(m.endpointId);
      return this.storeServingNow(m, withOutbox);
    });
  }

  private async storeServingNow(m: ServingMinuteMessage, withOutbox: boolean): Promise<'stored' | 'duplicate'> {
    const key = `${m.endpointId}/${pad(m.start)}`;
    // read synchronously, as a batch of outputs reads its records (see prefetch)
    if (this.serving.getSync(key) !== undefined) return 'duplicate';
    const cur = this.stats.getSync(m.endpointId) ?? newStats(m.endpointId, m.endpointName);
    addCounts(cur as ServingCounts, m);
    if (!cur.lastInterval || cur.lastInterval.start <= m.start) {
      const { start, intervalMs, requests, errors, latencyAvg, latencyP50, latencyP99, estimatedPredictions } = m;
      cur.lastInterval = { start, intervalMs, requests, errors, latencyAvg, latencyP50, latencyP99, estimatedPredictions };
    }
    cur.endpointName = m.endpointName;
    cur.updatedAt = Date.now();
    const ops: Array<{ type: 'put'; sublevel: unknown; key: string; value: unknown }> = [
      { type: 'put', sublevel: this.serving, key, value: { ...m, storedAt: Date.now() } satisfies ServingRecord },
      { type: 'put', sublevel: this.stats, key: m.endpointId, value: cur },
    ];
    if (withOutbox) ops.push({ type: 'put', sublevel: this.outbox, key: pad(++this.seq), value: servingPoint(m) });
    await this.db.batch(ops as never);
    return 'stored';
  }

  /** Serving metrics of an endpoint by interval, newest first. */
  async servingIntervals(endpointId: string, since = 0, limit = 10_000): Promise<ServingRecord[]> {
    const out: ServingRecord[] = [];
    for await (const v of this.serving.values({ gte: `${endpointId}/${pad(since)}`, lt: `${endpointId}/\uffff`, reverse: true, limit })) out.push(v);
    return out;
  }

  /** Stats of the given endpoints (all when none given). */
  async endpointStats(endpointIds?: string[]): Promise<EndpointStatsRecord[]> {
    if (endpointIds) return (await this.stats.getMany(endpointIds)).filter((v): v is EndpointStatsRecord => v !== undefined);
    const out: EndpointStatsRecord[] = [];
    for await (const v of this.stats.values()) out.push(v);
    return out;
  }

  async getWindow(endpointId: string, app: string, windowStart: number): Promise<WindowRecord | undefined> {
    return await this.windows.get(`${endpointId}/${app}/${pad(windowStart)}`);
  }

  /** Window records (of the shadow versions with `shadow`), newest window first. */
  async query(q: ResultsQuery = {}): Promise<WindowRecord[]> {
    const prefix = q.endpointId ? `${q.endpointId}/${q.app ? `${q.app}/` : ''}` : '';
    const out: WindowRecord[] = [];
    for await (const v of (q.shadow ? this.shadows : this.windows).values(prefix ? { gte: prefix, lt: `${prefix}\uffff` } : {})) {
      if (q.app && v.app !== q.app) continue;
      if (q.since !== undefined && v.windowStart < q.since) continue;
      if (q.after && windowOrder(v, q.after) <= 0) continue;
      out.push(v);
    }
    out.sort(windowOrder);
    return out.slice(0, q.limit ?? DEFAULT_RESULTS_LIMIT);
  }

  async latestResults(endpointId?: string): Promise<LatestResult[]> {
    const out: LatestResult[] = [];
    for await (const v of this.latest.values(endpointId ? { gte: `${endpointId}/`, lt: `${endpointId}/\uffff` } : {})) out.push(v);
    return out;
  }

  /** The results and metrics the endpoint's windows hold (batches' windows apart), by full name: the keys of its series index. */
  async metricNames(endpointId: string): Promise<MetricName[]> {
    const out: MetricName[] = [];
    let cur: MetricName | undefined;
    let curPrefix = '';
    const prefix = `${endpointId}/`;
    const it = this.series.keys({ gte: prefix, lt: `${prefix}\uffff` });
    try {
      for (;;) {
        const keys = await it.nextv(10_000);
        if (keys.length === 0) break;
        for (const key of keys) {
          // `<id>/<app>/<r|m>/<name>/<16 digits>`
          const head = key.slice(0, -17);
          const start = Number(key.slice(-16));
          if (cur && head === curPrefix) {
            cur.windows++;
            cur.last = start;
            continue;
          }
          const [, app, t, name] = head.split('/') as [string, string, string, string];
          const type = t === 'r' ? 'result' : 'metric';
          cur = { fullName: `${app}.${type}.${name}`, app, type, name, windows: 1, first: start, last: start };
          curPrefix = head;
          out.push(cur);
        }
      }
    } finally {
      await it.close();
    }
    return out.sort((a, b) => a.fullName.localeCompare(b.fullName));
  }

  /**
   * One result's or metric's values over `[from, to)` (window starts), oldest first, cut to at
   * most `points` (see `downsample`): a range read of the series index; only the points kept
   * leave the store.
   */
  async seriesOf(q: SeriesQuery): Promise<SeriesPage> {
    const prefix = `${q.endpointId}/${q.app}/${q.type === 'result' ? 'r' : 'm'}/${q.name}/`;
    const all: SeriesPoint[] = [];
    const it = this.series.iterator({
      gte: prefix + pad(Math.max(0, q.from ?? 0)),
      lt: q.to === undefined ? `${prefix}\uffff` : prefix + pad(Math.max(0, q.to)),
    });
    try {
      for (;;) {
        const entries = await it.nextv(10_000);
        if (entries.length === 0) break;
        for (const [key, v] of entries) {
          const colon = v.indexOf(':');
          all.push(colon < 0 ? [Number(key.slice(-16)), Number(v), null] : [Number(key.slice(-16)), Number(v.slice(0, colon)), Number(v.slice(colon + 1))]);
        }
      }
    } finally {
      await it.close();
    }
    return { total: all.length, points: downsample(all, q.points) };
  }

  /**
   * Values of the endpoint's results and metrics in windows starting in `[from, to)`, one page
   * of at most `limit` points, by app then window time; `next` resumes after the page.
   */
  async metricValues(q: MetricValuesQuery): Promise<{ points: MetricPoint[]; next?: string }> {
    const limit = q.limit ?? 1000;
    const names = q.names ? new Set(q.names) : undefined;
    const apps = q.names ? [...new Set(q.names.map((n) => n.slice(0, n.indexOf('.'))))].sort() : undefined;
    const cursor = q.after ? decodeCursor(q.after) : undefined;
    const points: MetricPoint[] = [];
    const prefix = `${q.endpointId}/`;
    for await (const [key, w] of this.windows.iterator({ gte: cursor?.key ?? prefix, lt: `${prefix}\uffff` })) {
      if (apps && !apps.includes(w.app)) continue;
      if (q.from !== undefined && w.windowStart < q.from) continue;
      if (q.to !== undefined && w.windowStart >= q.to) continue;
      const all: MetricPoint[] = [
        ...w.results.map((r) => ({
          fullName: `${w.app}.result.${r.name}`,
          windowStart: w.windowStart,
          windowEnd: w.windowEnd,
          value: r.value,
          kind: r.kind,
          status: r.status,
        })),
        ...w.metrics.map((m) => ({ fullName: `${w.app}.metric.${m.name}`, windowStart: w.windowStart, windowEnd: w.windowEnd, value: m.value })),
      ].filter((p) => !names || names.has(p.fullName));
      const skip = cursor && key === cursor.key ? cursor.index : 0;
      for (let i = skip; i < all.length; i++) {
        if (points.length === limit) return { points, next: encodeCursor(key, i) };
        points.push(all[i]!);
      }
    }
    return { points };
  }

  /** Run `fn` after every change queued before it (the store's changes are made one at a time); a failure does not stop the next. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Something of an endpoint (or of one of its batches, `<id>-<batch>`) is stored: a purge ahead of its message no longer covers it. */
  private storedOf(endpointId: string): void {
    for (const id of this.purgedAhead) if (endpointId === id || endpointId.startsWith(`${id}-`)) this.purgedAhead.delete(id);
  }

  /**
   * Remove everything stored of an endpoint: its windows (its batches' too), latest values, serving
   * intervals and statistics. `ahead`: the purge is applied when asked, ahead of its message in
   * MW_OUTPUTS, which {@link purgeInOrder} then finds done.
   */
  purgeEndpoint(endpointId: string, opts: { ahead?: boolean } = {}): Promise<PurgedResults> {
    return this.serial(() => this.purgeNow(endpointId, opts.ahead ?? false));
  }

  /**
   * An endpoint's purge as its message in MW_OUTPUTS is read: `undefined` (nothing done) when this
   * store purged it ahead, when asked, and has stored nothing of the endpoint since; else applied.
   */
  purgeInOrder(endpointId: string): Promise<PurgedResults | undefined> {
    return this.serial(async () => (this.purgedAhead.delete(endpointId) ? undefined : await this.purgeNow(endpointId, false)));
  }

  private async purgeNow(endpointId: string, ahead: boolean): Promise<PurgedResults> {
    const keysIn = async (level: { keys(o: object): AsyncIterable<string> }, ranges: Array<[string, string]>) => {
      const out: string[] = [];
      for (const [gte, lt] of ranges) for await (const k of level.keys({ gte, lt })) out.push(k);
      return out;
    };
    const own: Array<[string, string]> = [
      [`${endpointId}/`, `${endpointId}/\uffff`],
      [`${endpointId}-`, `${endpointId}-\uffff`],
    ];
    const windows = await keysIn(this.windows, own);
    const latest = await keysIn(this.latest, own);
    const serving = await keysIn(this.serving, [own[0]!]);
    const profiles = await keysIn(this.profiles, own);
    const rollups = await keysIn(this.rollups, own);
    const series = await keysIn(this.series, own);
    const removed = windows.length;
    await this.db.batch([
      { type: 'put' as const, sublevel: this.meta, key: 'windows', value: Math.max(0, this.windowCount - removed) },
      ...windows.map((key) => ({ type: 'del' as const, sublevel: this.windows, key })),
      ...latest.map((key) => ({ type: 'del' as const, sublevel: this.latest, key })),
      ...serving.map((key) => ({ type: 'del' as const, sublevel: this.serving, key })),
      ...profiles.map((key) => ({ type: 'del' as const, sublevel: this.profiles, key })),
      ...rollups.map((key) => ({ type: 'del' as const, sublevel: this.rollups, key })),
      ...series.map((key) => ({ type: 'del' as const, sublevel: this.series, key })),
      { type: 'del' as const, sublevel: this.stats, key: endpointId },
    ] as never);
    this.windowCount = Math.max(0, this.windowCount - removed);
    if (ahead) this.purgedAhead.add(endpointId);
    else this.purgedAhead.delete(endpointId);
    // their time index entries stay until they expire: removing a key removed already does nothing
    return { windows: windows.length, latest: latest.length, servingIntervals: serving.length, profiles: profiles.length, rollups: rollups.length };
  }

  /** The oldest points waiting for the TSDB. */
  async pendingPoints(limit: number): Promise<Array<[string, OutboxPoint]>> {
    const out: Array<[string, OutboxPoint]> = [];
    for await (const entry of this.outbox.iterator({ limit })) out.push(entry as [string, OutboxPoint]);
    return out;
  }

  async removePoints(keys: string[]): Promise<void> {
    await this.outbox.batch(keys.map((key) => ({ type: 'del' as const, key })));
  }
}

const encodeCursor = (key: string, index: number) => Buffer.from(JSON.stringify([key, index])).toString('base64url');

function decodeCursor(s: string): { key: string; index: number } {
  try {
    const [key, index] = JSON.parse(Buffer.from(s, 'base64url').toString()) as [unknown, unknown];
    if (typeof key === 'string' && typeof index === 'number') return { key, index };
  } catch {
    // not a cursor of ours: said below
  }
  throw new Error(`'${s}' is not the 'next' of a page`);
}

function newStats(endpointId: string, endpointName: string): EndpointStatsRecord {
  return { endpointId, endpointName, ...emptyCounts(), statusSeen: {}, updatedAt: 0 };
}

/** The `serving_metrics` point of one endpoint and interval, at the interval's start. */
export function servingPoint(m: ServingMinuteMessage): OutboxPoint {
  const fields: Record<string, number> = {
    requests: m.requests,
    errors: m.errors,
    predictions: m.predictions,
    estimated_predictions: m.estimatedPredictions,
    late_rows: m.lateRows,
  };
  if (m.dropped) fields.dropped = m.dropped;
  if (m.latencyAvg !== null) fields.latency_avg = m.latencyAvg;
  if (m.latencyP50 !== null) fields.latency_p50 = m.latencyP50;
  if (m.latencyP99 !== null) fields.latency_p99 = m.latencyP99;
  return { measurement: 'serving_metrics', tags: { endpoint_id: m.endpointId, endpoint_name: m.endpointName }, fields, time: m.start };
}

/** The time-series points of one output: one per result (value, status) and per metric, at the window's end. */
export function pointsOf(out: AppOutputMessage): OutboxPoint[] {
  // the windows of a batch of historical events: endpoint id `<id>-<batch>`
  const dash = out.endpointId.indexOf('-');
  const base: Record<string, string> =
    dash === -1
      ? { endpoint_id: out.endpointId, endpoint_name: out.endpointName, application: out.app }
      : { endpoint_id: out.endpointId.slice(0, dash), endpoint_name: out.endpointName, application: out.app, batch_id: out.endpointId.slice(dash + 1) };
  return [
    ...out.results.map((r): OutboxPoint => ({
      measurement: 'app_results',
      tags: { ...base, result_name: r.name, result_kind: String(r.kind) },
      fields: { value: r.value, status: r.status },
      time: out.windowEnd,
    })),
    ...out.metrics.map((m): OutboxPoint => ({
      measurement: 'app_metrics',
      tags: { ...base, metric_name: m.name },
      fields: { value: m.value },
      time: out.windowEnd,
    })),
  ];
}

/**
 * The puts of one LevelDB batch being made, readable before it is written: a store of many
 * outputs reads the records earlier outputs of the batch changed (an endpoint's stats, roll-ups,
 * latest values, a window stored twice) from here, else from the store.
 */
class PendingBatch {
  readonly ops: Op[] = [];
  private readonly puts = new Map<unknown, Map<string, unknown>>();
  /** Records read ahead by {@link prefetch} (undefined: not in the store), by sublevel. */
  private readonly read = new Map<unknown, Map<string, unknown>>();
  /** The (endpoint id, window start) pairs of the live windows the batch stores, by `windowGroup`. */
  readonly windowGroups = new Map<string, [string, number]>();

  put(sublevel: unknown, key: string, value: unknown): void {
    this.ops.push({ type: 'put', sublevel, key, value });
    let m = this.puts.get(sublevel);
    if (!m) this.puts.set(sublevel, (m = new Map()));
    m.set(key, value);
  }

  async get<V>(sublevel: { getSync(key: string): V | undefined }, key: string): Promise<V | undefined> {
    const m = this.puts.get(sublevel);
    if (m?.has(key)) return m.get(key) as V;
    const r = this.read.get(sublevel);
    if (r?.has(key)) return r.get(key) as V;
    return sublevel.getSync(key);
  }

  /** Read `key` of `sublevel` from the store (synchronously, see `ResultsDb.prefetch`), for {@link get}. */
  readAhead(sublevel: ReadableSublevel, key: string): void {
    let r = this.read.get(sublevel);
    if (!r) this.read.set(sublevel, (r = new Map()));
    r.set(key, sublevel.getSync(key));
  }
}

/** Reads of a batch's prefetch between two turns of the event loop (tens of ms at most from disk, a millisecond from the cache). */
const PREFETCH_TURN = 512;

/** A sublevel read by key. */
interface ReadableSublevel {
  getSync(key: string): unknown;
}

const windowKey = (out: AppOutputMessage): string => `${out.endpointId}/${out.app}/${pad(out.windowStart)}`;
const shadowKey = (out: AppOutputMessage): string => `${out.endpointId}/${out.app}/${out.version}/${pad(out.windowStart)}`;
const profileKey = (endpointId: string, windowStart: number): string => `${endpointId}/w/${pad(windowStart)}`;
const profileRollupKey = (out: AppOutputMessage, res: 'hour' | 'day'): string =>
  `${out.endpointId}/${RESOLUTION_KEY[res]}/${pad(bucketOf(out.windowStart, res).start)}`;
const resultsRollupKey = (w: { endpointId: string; app: string; windowStart: number }, res: 'hour' | 'day'): string =>
  `${w.endpointId}/${RESOLUTION_KEY[res]}/${w.app}/${pad(bucketOf(w.windowStart, res).start)}`;
/** An endpoint's window start, for whether a batch stores a live window of it already. */
const windowGroup = (endpointId: string, windowStart: number): string => `${endpointId}/${windowStart}`;
