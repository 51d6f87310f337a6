import type { KV } from '@nats-io/kv';
import type { AppOutputMessage, MarkedWindow, StreakRecord, WindowMark } from '@modelwatch/protocol';
import { KeyedQueue } from './keyed-queue.js';

/** One window accounted: the record to store, and whether the streak reached the limit. */
export interface StreakStep {
  record: StreakRecord;
  /** False for a window already accounted or already waiting: nothing to store. */
  changed: boolean;
  /** The streak reached the limit in this step (or the limit again since the last quarantine): quarantine the version. */
  crossed: boolean;
  /** The start of the window that windows ahead wait for, if any wait. */
  gapAt: number | undefined;
}

/**
 * Windows kept waiting per key. Outputs arrive out of order by at most the windows in flight
 * (runners x concurrency, and those a crashed runner held until their redelivery), far fewer.
 * Past it, the oldest window behind is dropped, else the gap ahead is skipped: a window
 * that never comes (its version was replaced and later rolled back to) must not stall a key.
 */
export const MAX_PENDING = 256;

/** `<app>.<version>.<endpoint id>` (KV keys allow no `+`, which semver build metadata uses and `_`, which it does not). */
export function streakKey(app: string, version: string, endpointId: string): string {
  return `${app}.${version.replaceAll('+', '_')}.${endpointId}`;
}

/** The window's mark: only windows on which the app was called count. */
export function markOf(out: Pick<AppOutputMessage, 'outcome' | 'error'>): WindowMark {
  if (out.outcome === 'ok') return 'o';
  if (out.outcome === 'error' && !NOT_CALLED.has(out.error?.code ?? '')) return 'f';
  return '-';
}

/**
 * Errors that say nothing of the app: NOT_FOUND (the endpoint or version was gone before it could
 * be called), WINDOW_FAILED (every delivery ended with its runner: most often another plugin
 * crashed it; an app that crashes its runner itself is recorded by the supervisor with its reason).
 */
const NOT_CALLED = new Set(['NOT_FOUND', 'WINDOW_FAILED']);

/**
 * Account one window (pure). The first window seen for a key starts it; a window that ends
 * where the accounted run starts is accounted backwards, so outputs of a version's first
 * windows that arrive late still count. A window already accounted or already waiting changes
 * nothing, so a redelivered output is harmless.
 */
export function accountWindow(current: StreakRecord | undefined, w: MarkedWindow, limit: number, maxPending = MAX_PENDING): StreakStep {
  const [start, end] = w;
  if (current && (end <= start || (start < current.next && end > current.from) || current.pending.some((p) => p[0] === start))) {
    return { record: current, changed: false, crossed: false, gapAt: gapOf(current) };
  }
  const rec: StreakRecord = current
    ? { ...current, pending: [...current.pending] }
    : { v: 1, from: start, next: start, streak: 0, lead: 0, unbroken: true, quarantinedAt: 0, pending: [] };
  rec.pending.splice(sortedIndex(rec.pending, start), 0, w);
  let crossed = false;
  const failed = () => {
    rec.streak++;
    if (rec.streak >= rec.quarantinedAt + limit) {
      crossed = true;
      rec.quarantinedAt = rec.streak;
    }
  };
  const drain = () => {
    for (;;) {
      const ahead = rec.pending.findIndex((p) => p[0] === rec.next);
      if (ahead >= 0) {
        const [[, e, mark]] = rec.pending.splice(ahead, 1) as [MarkedWindow];
        rec.next = e;
        if (mark === 'f') {
          if (rec.unbroken) rec.lead++;
          failed();
        } else if (mark === 'o') {
          rec.streak = 0;
          rec.quarantinedAt = 0;
          rec.unbroken = false;
        }
        continue;
      }
      const behind = rec.pending.findIndex((p) => p[1] === rec.from);
      if (behind >= 0) {
        const [[s, , mark]] = rec.pending.splice(behind, 1) as [MarkedWindow];
        rec.from = s;
        if (mark === 'f') {
          rec.lead++;
          if (rec.unbroken) failed();
          // a run that a later success ended: in window order it reached the limit back then
          else if (rec.lead === limit) crossed = true;
        } else if (mark === 'o') {
          rec.unbroken = false;
          rec.lead = 0;
        }
        continue;
      }
      // a skipped gap can leave windows inside the accounted run: they are accounted already
      rec.pending = rec.pending.filter((p) => !(p[0] < rec.next && p[1] > rec.from));
      return;
    }
  };
  drain();
  while (rec.pending.length > maxPending) {
    const first = rec.pending[0]!;
    if (first[1] <= rec.from) rec.pending.shift();
    else {
      rec.next = first[0];
      drain();
    }
  }
  return { record: rec, changed: true, crossed, gapAt: gapOf(rec) };
}

function gapOf(rec: StreakRecord): number | undefined {
  return rec.pending.some((p) => p[0] >= rec.next) ? rec.next : undefined;
}

function sortedIndex(pending: MarkedWindow[], start: number): number {
  let i = 0;
  while (i < pending.length && pending[i]![0] < start) i++;
  return i;
}

/** What {@link FailureStreaks} asks of its owner. */
export interface StreakHooks {
  /**
   * The window of `out`'s (endpoint, app) starting at `start`, when it is known to belong to
   * another version (so `out`'s version never gets it: a rollback to an earlier version).
   */
  otherVersionWindow?: (out: AppOutputMessage, start: number) => Promise<{ windowStart: number; windowEnd: number } | undefined>;
  /**
   * The streak of `out`'s version on its endpoint reached the limit (`out`: the latest failed
   * output accounted). Called before the record is stored, so a crash in between repeats it.
   */
  onLimit?: (out: AppOutputMessage, streak: number) => Promise<void>;
}

/**
 * Failure streaks in KV `mw_streaks`, one key per plugin version and endpoint, changed by
 * compare-and-set: any number of writers account outputs of the same key, each retrying on a
 * conflict. The outputs of one key that arrive while its record is being stored are accounted
 * together (one compare-and-set), keys concurrently. The last record seen per key is kept, so a
 * lone writer reads nothing back.
 */
export class FailureStreaks {
  private readonly cache = new Map<string, { record: StreakRecord; revision: number }>();
  private readonly queue = new KeyedQueue<AppOutputMessage, StreakStep>((key, outs) => this.accountAll(key, outs));

  constructor(
    private readonly kv: KV,
    /** Failed windows in a row that quarantine a version. */
    private readonly limit: number,
    private readonly hooks: StreakHooks = {},
  ) {}

  /** Account an output's window for its version and endpoint; settles once the record is stored. */
  account(out: AppOutputMessage): Promise<StreakStep> {
    return this.queue.push(streakKey(out.app, out.version, out.endpointId), out);
  }

  private async accountAll(key: string, outs: AppOutputMessage[]): Promise<StreakStep> {
    const first = outs[0]!;
    const lastFailed = outs.findLast((o) => markOf(o) === 'f') ?? outs.at(-1)!;
    for (let attempt = 0; ; attempt++) {
      let cur = this.cache.get(key);
      if (!cur) {
        const e = await this.kv.get(key);
        if (e && e.operation === 'PUT') cur = { record: e.json<StreakRecord>(), revision: e.revision };
      }
      let record = cur?.record;
      let crossed = false;
      let step: StreakStep | undefined;
      for (const out of outs) {
        step = accountWindow(record, [out.windowStart, out.windowEnd, markOf(out)], this.limit);
        record = step.record;
        crossed ||= step.crossed;
      }
      // windows wait for one this writer stored for another version: it never comes to this key
      for (let i = 0; step!.gapAt !== undefined && this.hooks.otherVersionWindow && i < MAX_PENDING; i++) {
        const other = await this.hooks.otherVersionWindow(first, step!.gapAt);
        if (!other) break;
        step = accountWindow(step!.record, [other.windowStart, other.windowEnd, '-'], this.limit);
        crossed ||= step.crossed;
      }
      if (step!.record === cur?.record) return step!;
      if (crossed) await this.hooks.onLimit?.(lastFailed, step!.record.streak);
      try {
        const value = JSON.stringify(step!.record);
        const revision = cur ? await this.kv.update(key, value, cur.revision) : await this.kv.create(key, value);
        this.remember(key, { record: step!.record, revision });
        return { ...step!, crossed };
      } catch (err) {
        // another writer changed the key (or it expired, or a plugin was removed): read it again
        this.cache.delete(key);
        if (attempt >= 20) throw err;
      }
    }
  }

  private remember(key: string, entry: { record: StreakRecord; revision: number }): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    if (this.cache.size > MAX_CACHED_STREAKS) this.cache.delete(this.cache.keys().next().value!);
  }
}

/**
 * Streak records kept in memory: one per (version, endpoint) accounted, a few hundred bytes each.
 * Fewer than the pairs of a period (10,000 endpoints x 2 apps) and every output would miss and
 * read its record back before writing it.
 */
const MAX_CACHED_STREAKS = 200_000;

/** Delete every streak of a plugin (all its versions, all endpoints). */
export async function forgetStreaks(kv: KV, app: string): Promise<void> {
  const keys: string[] = [];
  for await (const k of await kv.keys(`${app}.>`)) keys.push(k);
  for (const k of keys) await kv.purge(k);
}
