import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { KvWatchInclude, type KV } from '@nats-io/kv';
import {
  Consumers,
  SETTINGS_KEY,
  Streams,
  Subjects,
  type BatchRecord,
  type EndpointRecord,
  type MonitoringSettings,
  type AppOutputMessage,
  type PluginRecord,
  type TaskMessage,
} from '@modelwatch/protocol';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { outputBinding, outputMsgId, type BindingKey } from '../domain/binding.js';
import { batchSeriesId, outputKey } from '../domain/keys.js';
import { emptyOutput } from '../domain/outputs.js';
import { rowKeysOf, windowAt, windowsHoldingKey, type Window, type WindowLayout } from '../domain/windows.js';
import type { Logger } from '../logger.js';
import type { HostMetrics } from '../metrics.js';
import { jsonCodec } from '../nats/codec.js';
import { BatchStore } from '../store/batches.js';
import { activeVersionOf, appliesTo, shadowVersionOf } from '../store/plugins.js';
import type { WatchedKv } from '../store/watched-kv.js';

export interface ControllerDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  endpoints: WatchedKv<EndpointRecord>;
  plugins: WatchedKv<PluginRecord>;
  settings: WatchedKv<MonitoringSettings>;
  /** Progress per (endpoint, app): the start of the next window to dispatch. */
  progressKv: KV;
  logger: Logger;
  allowedLatenessMs: number;
  retentionMs: number;
  /** Most windows dispatched per (endpoint, app) in one tick, so catch-up cannot starve others. @default 500 */
  maxWindowsPerTick?: number;
  /** Batches of historical events (`mw_batches`): dispatched once the stream processor is past their end. */
  batches?: WatchedKv<BatchRecord>;
  batchesKv?: KV;
  /** When a window is due and when the next tick is. @default systemClock */
  clock?: Clock;
  /** The key of the output binding (KV `mw_secrets`): each task carries its binding. Without it, tasks carry none (and a writer with a key refuses their outputs). */
  bindingKey?: BindingKey;
  /** Windows dispatched. */
  metrics?: HostMetrics;
  /**
   * Whether this controller may still dispatch (it holds the controller lease): checked before
   * each publish of tasks and save of progress, so a controller that lost its lease (paused past
   * its expiry) neither dispatches nor moves the progress back. @default always
   */
  isActive?: () => boolean;
}

interface Progress {
  next: number;
}

/**
 * Decides which windows are complete and dispatches one task per (endpoint, app, window).
 * A window is complete when its end plus the allowed lateness has passed AND the stream
 * processor has handled every event that arrived before then, so no row is missed however
 * far the processor lags. Progress is persisted, so a restart neither skips nor repeats.
 */
export class Controller {
  private timer: Timer | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private readonly progress = new Map<string, number>();
  /** Whether the whole progress bucket was read (the first tick reads it in one pass). */
  private progressLoaded = false;
  private readonly log: Logger;
  private readonly clock: Clock;
  /**
   * After a whole pass: the earliest close time (watermark less the allowed lateness) at which a
   * pair's next window is due, its end plus its plugin's ground-truth delay. While a tick's close
   * time is before it, and no endpoint, plugin or setting has changed (each change forgets it), the
   * tick has nothing to dispatch and passes the pairs over without a look at any. Undefined: look.
   */
  private quietUntil: number | undefined;
  /** Changes of endpoints, plugins and settings seen: a pass that saw one begin sets no quietUntil. */
  private changes = 0;
  private readonly unwatch: Array<() => void> = [];
  /** Windows dispatched since start. */
  dispatched = 0;
  /** Pairs (endpoint, app) that ticks looked at since start: none on a quiet tick. */
  pairsLooked = 0;

  private readonly batchStore: BatchStore | undefined;

  constructor(private readonly deps: ControllerDeps) {
    this.log = deps.logger.child({ component: 'controller' });
    this.clock = deps.clock ?? systemClock;
    this.batchStore = deps.batchesKv ? new BatchStore(deps.batchesKv) : undefined;
  }

  start(): void {
    this.stopped = false;
    this.quietUntil = undefined;
    const forget = () => {
      this.changes++;
      this.quietUntil = undefined;
    };
    this.unwatch.push(this.deps.endpoints.onChange(forget), this.deps.plugins.onChange(forget), this.deps.settings.onChange(forget));
    const loop = async () => {
      if (this.stopped) return;
      this.running = this.tick().catch((err: unknown) => {
        if (err instanceof ControllerInactiveError) this.log.warn('controller lease lost during a tick: nothing more dispatched');
        else this.log.error({ err }, 'controller tick failed');
      });
      await this.running;
      if (!this.stopped) this.timer = this.clock.timeout(() => void loop(), this.tickMs());
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    for (const off of this.unwatch.splice(0)) off();
    await this.running;
  }

  private tickMs(): number {
    const s = this.deps.settings.peek(SETTINGS_KEY);
    const period = s?.periods[s.periods.length - 1]?.periodMs ?? 600_000;
    return Math.max(100, Math.min(1000, period / 4));
  }

  /**
   * The arrival time before which every event has been processed: now when the processor
   * is idle, else the arrival time of the first event it has not acknowledged.
   */
  async sourceWatermark(): Promise<number> {
    const now = this.clock.now();
    const ci = await this.deps.jsm.consumers.info(Streams.events, Consumers.stream);
    if (ci.num_pending === 0 && ci.num_ack_pending === 0) return now;
    try {
      const first = await this.deps.jsm.streams.getMessage(Streams.events, { seq: ci.ack_floor.stream_seq + 1 });
      return first ? Math.min(now, first.time.getTime()) : now - 60_000;
    } catch {
      // the message is gone (retention): be conservative
      return now - 60_000;
    }
  }

  /** One pass: dispatch every complete window not yet dispatched. */
  async tick(): Promise<number> {
    const changes = this.changes;
    if (!(await this.deps.settings.get(SETTINGS_KEY))?.enabled) return 0;
    const closeBefore = (await this.sourceWatermark()) - this.deps.allowedLatenessMs;
    // the settings as stored after the watermark was taken: a period change stored later begins
    // after the next boundary, past every window due now, so no window is cut by two layouts
    // (the wall clock, not this.clock: it orders real reads, which the bucket's copy stamps with it)
    const settings = await this.deps.settings.fresh(SETTINGS_KEY, Date.now());
    if (!settings?.enabled) return 0;
    const now = this.clock.now();
    const max = this.deps.maxWindowsPerTick ?? 500;
    const plugins = this.deps.plugins.all().filter((p) => p.status === 'active' && p.activeVersion);
    // each plugin's ground-truth delay: its windows are due that much after the close time
    const delays = new Map(plugins.map((p) => [p, activeVersionOf(p)?.groundTruthDelayMs ?? 0]));
    let total = 0;
    // nothing due since the last whole pass (and nothing changed): no pair to look at
    const quiet = this.quietUntil !== undefined && closeBefore < this.quietUntil;
    const endpoints = quiet ? [] : this.deps.endpoints.all().filter((ep) => ep.monitoring);
    // the progress of every pair, read once, on the first tick: the whole bucket in one pass (a
    // watch of its last values), not a request per (endpoint, app); a pair it does not hold is
    // new and starts from its first window (this controller is the only one writing progress)
    if (!this.progressLoaded) {
      for (const [k, next] of await this.loadAllProgress()) if (!this.progress.has(k)) this.progress.set(k, next);
      this.progressLoaded = true;
    }
    // tasks of many pairs are published together, then their progress saved together: a pair's
    // progress is saved only after its tasks are in MW_TASKS (a crash in between re-publishes
    // them, and JetStream drops the duplicates by message id)
    let pending: Array<{ key: string; next: number; tasks: TaskMessage[]; empty: AppOutputMessage[] }> = [];
    let pendingTasks = 0;
    const flush = async () => {
      if (this.deps.isActive && !this.deps.isActive()) throw new ControllerInactiveError();
      const work = pending;
      pending = [];
      pendingTasks = 0;
      await Promise.all([
        ...work.flatMap((w) => w.tasks.map((t) => this.deps.js.publish(Subjects.tasks(t.app), jsonCodec.encode(t), { msgID: outputKey(t) }))),
        // the empty windows' outputs, under the message id the runner's output of their task would have
        ...work.flatMap((w) =>
          w.empty.map((o) => this.deps.js.publish(Subjects.outputs(o.endpointId), jsonCodec.encode(o), { msgID: outputMsgId(o, o.binding) })),
        ),
      ]);
      if (this.deps.isActive && !this.deps.isActive()) throw new ControllerInactiveError();
      await Promise.all(work.map((w) => this.deps.progressKv.put(w.key, JSON.stringify({ next: w.next } satisfies Progress))));
      for (const w of work) {
        this.progress.set(w.key, w.next);
        total += w.tasks.length + w.empty.length;
        this.deps.metrics?.windowsDispatched(w.tasks);
      }
    };
    // the parts filed under each row subject of a window (the window has closed: its rows are
    // all stored): one listing of MW_ROWS' subjects per start and tick, for every endpoint at once.
    // A window of an app not called on empty windows with none gets no task; the others carry the
    // counts (`rowParts`), so the runner reads the rows without asking for them
    const filed = new Map<number, Promise<Map<string, number>>>();
    const partsOf = async (id: string, w: Window): Promise<number[]> =>
      await Promise.all(
        rowKeysOf(w, settings).map(async (start) => {
          let counts = filed.get(start);
          if (!counts) filed.set(start, (counts = this.rowPartsFiled(start)));
          return (await counts).get(id) ?? 0;
        }),
      );
    // the earliest close time at which a next window this pass leaves is due (the next pass's quietUntil)
    let earliest = Infinity;
    for (const ep of endpoints) {
      for (const p of plugins) {
        this.pairsLooked++;
        const key = `${ep.id}.${p.name}`;
        const delay = delays.get(p)!;
        // the time before which the plugin's windows are due
        const due = closeBefore - delay;
        const stored = this.progress.get(key);
        // the pair's next window: after its progress, or its first
        let w = windowAt(stored ?? Math.max(ep.createdAt, p.createdAt, now - this.deps.retentionMs), settings.periods);
        // most ticks find most pairs with no window due: passed over before anything is made for them
        if (stored !== undefined && w.end > due) {
          earliest = Math.min(earliest, w.end + delay);
          continue;
        }
        let next = stored ?? w.start;
        // a version that does not apply to this endpoint (plugin.json `endpoints`) gets none of its
        // windows: they pass without a task, and progress moves on, so a later version that does
        // apply starts from the next window instead of catching up on these
        const applies = appliesTo(activeVersionOf(p)?.endpoints, ep);
        // the shadow version (plugin publish --shadow) gets a second task for the same windows,
        // from the first window that starts after it was published (ground truth: the active's delay)
        const shadow = shadowVersionOf(p);
        const shadowFrom = shadow && appliesTo(shadow.endpoints, ep) ? p.shadow!.since : Infinity;
        const tasks: TaskMessage[] = [];
        const empty: AppOutputMessage[] = [];
        // a window without rows, for a version not called on empty windows, gets no task: the
        // controller publishes its `empty` output itself (bound like a runner's), so the window is
        // stored and counted (no-data alerts see it) without a runner reading it
        const add = async (t: TaskMessage, w: Window, runsOnEmpty: boolean) => {
          const rowParts = await partsOf(ep.id, w);
          if (!runsOnEmpty && rowParts.every((n) => n === 0))
            empty.push({ ...emptyOutput(t, EMPTY_SOURCE, now), ...(t.binding ? { binding: t.binding } : {}) });
          else tasks.push({ ...t, rowParts });
        };
        const from = next;
        for (let n = 0; w.end <= due && n < max; w = windowAt(w.end, settings.periods), n++) {
          if (applies) await add(this.bind(task(ep.id, ep.name, p, w, now, settings)), w, activeVersionOf(p)?.runOnEmptyWindows ?? false);
          if (w.start >= shadowFrom)
            await add(this.bind({ ...task(ep.id, ep.name, p, w, now, settings), version: shadow!.version, shadow: true }), w, shadow!.runOnEmptyWindows);
          next = w.end;
        }
        // `w` is now the window at `next`
        earliest = Math.min(earliest, w.end + delay);
        if (next === from) {
          this.progress.set(key, next);
          continue;
        }
        pending.push({ key, next, tasks, empty });
        pendingTasks += tasks.length + empty.length;
        if (pendingTasks >= 2000) await flush();
      }
    }
    await flush();
    // a pass that looked at every pair: none has a window due while the close time is before `earliest`
    if (!quiet && this.changes === changes) this.quietUntil = earliest;
    total += await this.dispatchBatches(settings, plugins);
    this.dispatched += total;
    return total;
  }

  /**
   * Dispatch the windows of every batch of historical events the stream processor is done
   * with (its acknowledged floor is past the batch's end marker): one task per (window with
   * rows, active app), under the batch's own id, so a batch never touches live windows. Task
   * message ids make a repeated dispatch (a crash before the record says `dispatched`) a no-op.
   */
  private async dispatchBatches(layout: WindowLayout, plugins: PluginRecord[]): Promise<number> {
    const { batches } = this.deps;
    const batchStore = this.batchStore;
    if (!batches || !batchStore || plugins.length === 0) return 0;
    const waiting = batches.all().filter((b) => b.status === 'ingested');
    if (waiting.length === 0) return 0;
    const floor = (await this.deps.jsm.consumers.info(Streams.events, Consumers.stream)).ack_floor.stream_seq;
    let total = 0;
    for (const b of waiting) {
      if (b.endSeq > floor) continue;
      const ep = await this.deps.endpoints.get(b.endpoint);
      if (!ep || !ep.monitoring) continue;
      const series = batchSeriesId(ep.id, b.batchId);
      const prefix = `${Subjects.rows(series, 0).slice(0, -1)}`;
      const info = await this.deps.jsm.streams.info(Streams.rows, { subjects_filter: `${prefix}*` });
      const filedParts = new Map(Object.entries(info.state.subjects ?? {}).map(([s, n]) => [Number(s.slice(prefix.length)), n]));
      const starts = [...filedParts.keys()].sort((a, c) => a - c);
      const now = this.clock.now();
      // the windows those rows belong to (after a period change, a subject of the old layout
      // may hold rows of several windows of the new one)
      const windows = new Map<number, Window>();
      for (const start of starts) for (const w of windowsHoldingKey(start, layout)) windows.set(w.start, w);
      const tasks: TaskMessage[] = [];
      const apps: string[] = [];
      for (const p of plugins) {
        if (!appliesTo(activeVersionOf(p)?.endpoints, ep)) continue;
        apps.push(p.name);
        for (const w of windows.values()) {
          const t = this.bind(task(series, ep.name, p, w, now, layout));
          // the batch is all filed: the runner reads these counts of parts
          tasks.push({ ...t, rowParts: (t.rowKeys ?? [t.windowStart]).map((k) => filedParts.get(k) ?? 0) });
        }
      }
      await Promise.all(tasks.map((t) => this.deps.js.publish(Subjects.tasks(t.app), jsonCodec.encode(t), { msgID: outputKey(t) })));
      await batchStore.markDispatched(b, windows.size, apps, now);
      total += tasks.length;
      this.deps.metrics?.windowsDispatched(tasks);
      this.log.info({ endpoint: ep.name, batch: b.batchId, windows: windows.size, apps: plugins.length }, 'batch dispatched');
    }
    return total;
  }

  /** The parts filed under a window start, by endpoint (and batch series) id: the `MW_ROWS` subjects `mw.rows.*.<start>` with their counts. */
  private async rowPartsFiled(start: number): Promise<Map<string, number>> {
    const info = await this.deps.jsm.streams.info(Streams.rows, { subjects_filter: Subjects.rows('*', start) });
    return new Map(Object.entries(info.state.subjects ?? {}).map(([s, n]) => [s.split('.')[2]!, n]));
  }

  /** The task with its output binding (the same for every dispatch of the same task). */
  private bind(t: TaskMessage): TaskMessage {
    const key = this.deps.bindingKey;
    return key ? { ...t, binding: outputBinding(key, t) } : t;
  }

  /**
   * Every progress record of the bucket, read in one pass: an ordered consumer of the bucket's
   * last values, stopped at the last one (its pending count 0).
   */
  private async loadAllProgress(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const kv = this.deps.progressKv;
    if ((await kv.status()).values === 0) return out;
    const it = await kv.watch({ include: KvWatchInclude.LastValue });
    for await (const e of it) {
      if (e.operation === 'PUT') {
        try {
          out.set(e.key, e.json<Progress>().next);
        } catch {
          // not ours
        }
      } else out.delete(e.key);
      if (e.delta === 0) break;
    }
    it.stop();
    return out;
  }
}

/** Who an empty window's output says produced it. */
const EMPTY_SOURCE = { runner: 'controller', attempts: 1 } as const;

/** A tick stopped because the controller no longer holds its lease. */
class ControllerInactiveError extends Error {
  constructor() {
    super('the controller no longer holds its lease');
    this.name = 'ControllerInactiveError';
  }
}

/** The task of one window of an app: `rowsId` is the endpoint's id, or its batch series for a batch's windows. */
function task(
  rowsId: string,
  endpointName: string,
  plugin: { name: string; activeVersion: string },
  w: Window,
  now: number,
  layout: WindowLayout,
): TaskMessage {
  const keys = rowKeysOf(w, layout);
  return {
    v: 1,
    endpointId: rowsId,
    endpointName,
    app: plugin.name,
    version: plugin.activeVersion,
    windowStart: w.start,
    windowEnd: w.end,
    dispatchedAt: now,
    ...(keys.length > 1 || keys[0] !== w.start ? { rowKeys: keys } : {}),
  };
}
