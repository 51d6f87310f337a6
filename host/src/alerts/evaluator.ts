/**
 * The alert evaluator: reads every app output from `MW_OUTPUTS` through its own durable consumer
 * (`alert-evaluator`), runs the rules over the window's results, keeps one alert per
 * (rule, endpoint, app, result) while it is active, and hands firings and resolutions to the
 * {@link Notifier}. An output is acked only once the notifications it causes are enqueued (stored
 * by the notifier), the alerts and the series states stored: a host killed at any point
 * evaluates that window again, which the series' last window makes idempotent (an alert id and a
 * notification key are derived from the window that fired it, so a repeat is the same one).
 *
 * Exactly one evaluator runs: the one of the host process that runs the controller. With several
 * hosts, `startAlertEvaluator` must be started by the holder of the controller's lease and
 * stopped when it loses it (the consumer is durable: the next holder goes on where it stopped).
 * @module
 */
import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { KvWatchInclude, type KV } from '@nats-io/kv';
import { Consumers, DEAD_LETTER_STAGES, Streams, Subjects, type AppOutputMessage, type EndpointRecord, type PluginRecord } from '@modelwatch/protocol';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { verifyBinding, type BindingKey } from '../domain/binding.js';
import { globMatches } from '../domain/glob.js';
import type { Logger } from '../logger.js';
import { deadLetterMessage } from '../nats/dead-letters.js';
import { isNotFound, isTransient } from '../nats/errors.js';
import { ALERT_ACK_WAIT_MS, createAlertConsumer, dropAlertConsumer, MaxDeliver, restartAlertConsumer, retryDelayMs } from '../nats/topology.js';
import { KeyedQueue } from '../store/keyed-queue.js';
import type { WatchedKv } from '../store/watched-kv.js';
import type { Alert, AlertNotification, Notifier } from './contract.js';
import { alertId, newSeries, resultBreaches, seriesKey, step, type Observation, type SeriesState, type Transition } from './evaluate.js';
import { Repeats } from './repeat.js';
import { compileRule, type CompiledRule } from './rules.js';
import { AlertStore, SeriesStore, type AlertBuckets, type AlertPatch, type AlertRuleStore, type Silence } from './store.js';
import { SystemChecks, type SystemProbes } from './system.js';

export interface AlertEvaluatorDeps {
  js: JetStreamClient;
  buckets: AlertBuckets;
  rules: AlertRuleStore;
  notifier: Notifier;
  endpoints: WatchedKv<EndpointRecord>;
  plugins: WatchedKv<PluginRecord>;
  logger: Logger;
  /** Outputs whose binding does not verify are ignored, as the writer refuses them. */
  bindingKey?: BindingKey;
  clock?: Clock;
  /** Where the system rules (dead letters, runners, writer, TSDB) read the deployment; none: they are not checked. */
  systemProbes?: SystemProbes;
  /** How often the system rules and the repeats are checked (ms). @default 10000 */
  checkIntervalMs?: number;
}

/** A running evaluator. */
export interface AlertEvaluator {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Windows evaluated (not redeliveries), for tests and benches. */
  readonly evaluated: number;
}

export function startAlertEvaluator(deps: AlertEvaluatorDeps): AlertEvaluator {
  return new Evaluator(deps);
}

const STATUS_NAMES: Record<number, string> = { [-1]: 'irrelevant', 0: 'no detection', 1: 'potential detection', 2: 'detected' };

/** One transition to store and tell. */
interface Change {
  rule: CompiledRule;
  series: string;
  state: SeriesState;
  transition: Transition | undefined;
  /** The alert's details, made only when a transition or an open alert needs them. */
  alert: () => Omit<Alert, 'id' | 'state' | 'startsAt' | 'windows'>;
  o: Observation;
}

/**
 * The rules and silences in force, and the pure evaluation of one output against them: what the
 * bench measures (no I/O).
 */
export class RuleSet {
  private compiled: CompiledRule[] = [];
  private readonly byEndpoint = new Map<string, { tags: unknown; rules: CompiledRule[] }>();
  silences: Silence[] = [];
  /** Series keys by (rule, endpoint, app, result): hashed once. */
  private readonly keys = new Map<string, Map<string, Map<string, Map<string, string>>>>();

  constructor(rules: readonly CompiledRule[] = []) {
    this.set(rules);
  }

  set(rules: readonly CompiledRule[]): void {
    this.compiled = [...rules];
    this.byEndpoint.clear();
    this.keys.clear();
  }

  private key(rule: string, subject: string, app = '', result = ''): string {
    // nested maps: no string is built per lookup
    let bySubject = this.keys.get(rule);
    if (!bySubject) this.keys.set(rule, (bySubject = new Map()));
    let byApp = bySubject.get(subject);
    if (!byApp) bySubject.set(subject, (byApp = new Map()));
    let byResult = byApp.get(app);
    if (!byResult) byApp.set(app, (byResult = new Map()));
    let h = byResult.get(result);
    if (h === undefined) byResult.set(result, (h = seriesKey(rule, subject, app, result)));
    return h;
  }

  get rules(): readonly CompiledRule[] {
    return this.compiled;
  }

  /** Whether a rule evaluates app outputs (see {@link readsOutputs}). */
  get readsOutputs(): boolean {
    return this.compiled.some(readsOutputs);
  }

  /** The rules that pick an endpoint (remembered per endpoint until its tags or the rules change). */
  forEndpoint(name: string, tags: Readonly<Record<string, string>> | undefined): CompiledRule[] {
    const hit = this.byEndpoint.get(name);
    if (hit && hit.tags === tags) return hit.rules;
    const rules = this.compiled.filter((r) => r.matchesEndpoint(name, tags));
    this.byEndpoint.set(name, { tags, rules });
    return rules;
  }

  silenced(rule: string, endpoint: string | undefined, now: number): boolean {
    for (const s of this.silences) {
      if (s.endsAt <= now) continue;
      if (s.rule !== undefined && s.rule !== rule) continue;
      if (s.endpoint !== undefined && (endpoint === undefined || !globOrName(s.endpoint, endpoint))) continue;
      return true;
    }
    return false;
  }

  /**
   * Run one output through the rules: the series it moves, each with its transition. `series`
   * gives (and keeps) the state of a series; `isOpen` says whether an alert is still open.
   */
  evaluate(
    out: AppOutputMessage,
    tags: Readonly<Record<string, string>> | undefined,
    series: (key: string) => SeriesState,
    isOpen: (id: string) => boolean,
    now: number,
  ): Change[] {
    const changes: Change[] = [];
    const rules = this.forEndpoint(out.endpointName, tags);
    if (rules.length === 0) return changes;
    const base = { endpoint: out.endpointName };
    const o0 = { windowStart: out.windowStart, windowEnd: out.windowEnd };
    for (const rule of rules) {
      const name = rule.rule.name;
      const silenced = this.silenced(name, out.endpointName, now);
      const move = (key: string, o: Observation, alert: Change['alert']) => {
        const s = series(key);
        if (o.windowStart <= s.lastWindow) return; // a redelivery, or an older window replaced
        const t = step(rule, s, o, silenced, s.alertId === undefined || isOpen(s.alertId));
        changes.push({ rule, series: key, state: s, transition: t, alert, o });
      };
      const labels = () => ({ ...tags, ...rule.rule.labels });
      if (rule.onResults) {
        if (out.outcome !== 'ok') continue;
        for (const r of out.results) {
          if (!rule.matchesResult(out.app, r.name, r.kind)) continue;
          const breach = resultBreaches(rule, r.value, r.status);
          const threshold = rule.condition === 'status' ? undefined : rule.threshold;
          const what = () =>
            rule.condition === 'status'
              ? `${STATUS_NAMES[r.status] ?? r.status} (${r.value})`
              : `${r.value} ${rule.condition === 'above' ? '>' : '<'} ${rule.threshold}`;
          move(this.key(name, out.endpointName, out.app, r.name), { ...o0, breach, value: r.value, status: r.status }, () => ({
            ...base,
            rule: name,
            severity: rule.severity,
            app: out.app,
            result: r.name,
            summary: `${name}: ${out.endpointName}/${out.app}/${r.name} ${what()}`,
            value: r.value,
            ...(threshold !== undefined && { threshold }),
            status: r.status,
            labels: labels(),
          }));
        }
      } else if (rule.condition === 'window_failed') {
        if (!rule.matchesApp(out.app)) continue;
        const breach = out.outcome === 'error';
        move(this.key(name, out.endpointName, out.app), { ...o0, breach }, () => ({
          ...base,
          rule: name,
          severity: rule.severity,
          app: out.app,
          summary: `${name}: ${out.endpointName}/${out.app} window failed${out.error ? `: ${out.error.code} ${out.error.message}` : ''}`,
          labels: labels(),
        }));
      } else if (rule.condition === 'no_data') {
        const key = this.key(name, out.endpointName);
        const s = series(key);
        if (out.rows > 0) s.lastDataEnd = Math.max(s.lastDataEnd ?? 0, out.windowEnd);
        // the first window seen starts the count
        s.lastDataEnd ??= out.windowStart;
        const gap = out.windowEnd - s.lastDataEnd;
        move(key, { ...o0, breach: gap >= rule.threshold }, () => ({
          ...base,
          rule: name,
          severity: rule.severity,
          summary: `${name}: no events for ${out.endpointName} for ${Math.round(gap / 1000)} s`,
          labels: labels(),
        }));
      }
    }
    return changes;
  }
}

/** Whether a rule evaluates app outputs (results, failed windows, windows without data): the others are checked on a timer or from the plugins' records. */
function readsOutputs(r: CompiledRule): boolean {
  return r.onResults || r.condition === 'window_failed' || r.condition === 'no_data';
}

function globOrName(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  if (!/[*?[\]{}]/.test(pattern)) return false;
  return globMatches(pattern, name);
}

/** Reading outputs again starts this long before the rules over them were stored (clocks of cluster nodes differ a little). */
const RESTART_MARGIN_MS = 1000;

/** ... and not further back than this: a rule made while no evaluator ran (a lease handed over) is evaluated from its making on, not a history. */
const RESTART_LOOKBACK_MS = 10 * 60_000;

/** A failed start or stop of reading outputs is tried again after this long. */
const FOLLOW_RETRY_MS = 5000;

/** Outputs taken from the consumer and not yet acked: below the consumer's `max_ack_pending`. */
const MAX_IN_FLIGHT = 512;

/**
 * The outputs of one endpoint that count in {@link MAX_IN_FLIGHT}: the endpoint's outputs taken
 * while it holds this many wait in its queue uncounted (bounded by the consumer's
 * `max_ack_pending`), so an endpoint held up by a failing window leaves the rest of
 * MAX_IN_FLIGHT to the others.
 */
const MAX_HELD_PER_ENDPOINT = 64;

/**
 * Attempts at a batch that fails on NATS trouble that passes (`isTransient`: a timeout, no
 * responders, the connection, JetStream unavailable) before its windows are given up: the budget
 * its redeliveries had (1 s doubling to 60 s, about an hour and a half).
 */
const MAX_ATTEMPTS = MaxDeliver[Consumers.alerts];

/**
 * Attempts at a batch that fails for a reason that would come again (a value over the bucket's
 * `max_msg_size`, a malformed output) before its outputs are tried one by one, and at one output
 * before it is given up (dead-lettered): 1 + 2 + 4 s.
 */
const REPEATED_FAILURES = 4;

/** How a batch's attempts ended. */
type Attempts = { kind: 'done' } | { kind: 'stopped' } | { kind: 'failed'; err: unknown; transient: boolean };

/** One output taken from the consumer, waiting in its endpoint's queue. */
interface Taken {
  m: JsMsg;
  out: AppOutputMessage;
}

/** What a batch does to one alert, in order: stored (and told) after the batch is evaluated. */
type AlertOp =
  { kind: 'fire'; alert: Alert; rule: CompiledRule } | { kind: 'update'; id: string; patch: AlertPatch } | { kind: 'resolve'; id: string; rule: CompiledRule };

/**
 * What of a series is worth storing: all but the newest window seen (a redelivered window that
 * changes nothing is harmless) and, while no alert is open, the count of normal windows (only an
 * open alert's reset reads it; a breach sets it to 0).
 */
function storedForm(s: SeriesState): string {
  return JSON.stringify({ ...s, lastWindow: 0, normals: s.alertId === undefined ? 0 : s.normals });
}

const copySeries = (s: SeriesState): SeriesState => ({ ...s, windows: [...s.windows] });

class Evaluator implements AlertEvaluator {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly alerts: AlertStore;
  private readonly seriesStore: SeriesStore;
  private readonly ruleSet = new RuleSet();
  private series = new Map<string, SeriesState>();
  /** The stored form of each series as it is in KV: an unchanged one is not written again. */
  private readonly storedForms = new Map<string, string>();
  /** Open alerts (firing or acknowledged) by id, kept fresh by a watch (people ack and resolve them). */
  private readonly open = new Map<string, Alert>();
  /** The revision of each open alert as the evaluator last saw it (its writes go against it). */
  private readonly revisions = new Map<string, number>();
  /** Reloads of the rules or silences after a change their watch brought, while they run. */
  private readonly reloading = new Set<Promise<void>>();
  /** The outputs of one endpoint in order, a batch at a time; endpoints concurrently. */
  private readonly queue = new KeyedQueue<Taken, void>((endpoint, batch) => this.handleBatch(endpoint, batch));
  private inFlight = 0;
  /** Outputs taken per endpoint and not yet settled. */
  private readonly held = new Map<string, number>();
  /** The messages taken and not yet settled: kept from redelivery while they wait (`working()`). */
  private readonly unsettled = new Set<JsMsg>();
  private keepAlive: Timer | undefined;
  /** The waits of failing batches before their next attempt: a stop ends them. */
  private readonly pauses = new Set<() => void>();
  /**
   * Endpoints whose last output tried was given up for a failure that comes again (until one of
   * theirs is evaluated): their next outputs are tried one by one, once each.
   */
  private readonly failingForGood = new Set<string>();
  /** Endpoints whose failing batch a stop interrupted: their later outputs are left to the next evaluator. */
  private readonly interrupted = new Set<string>();
  /** Who waits for an output to be settled (a free place in MAX_IN_FLIGHT, the last one at a stop). */
  private readonly wakers = new Set<() => void>();
  /** The outputs being read: only while a rule evaluates them (see {@link follow}). */
  private reading: { messages: ConsumerMessages; loop: Promise<void> } | undefined;
  /** Rules and reading started: a change of the rules starts or stops reading outputs. */
  private following = false;
  /** The reads started and stopped, one after another. */
  private followChain: Promise<void> = Promise.resolve();
  /** Not reading outputs since the start or since the last rule over them was removed (its consumer removed). */
  private idle = false;
  /** Idle, and the consumer's removal not yet done (it failed: tried again). */
  private dropPending = false;
  private followRetry: NodeJS.Timeout | undefined;
  private readonly stops: Array<() => void> = [];
  private quarantineChain: Promise<void> = Promise.resolve();
  evaluated = 0;
  private stopped = false;
  private timed: SystemChecks | undefined;
  private readonly repeats = new Repeats();

  constructor(private readonly deps: AlertEvaluatorDeps) {
    this.log = deps.logger.child({ component: 'alerts' });
    this.clock = deps.clock ?? systemClock;
    this.alerts = new AlertStore(deps.buckets.alerts);
    this.seriesStore = new SeriesStore(deps.buckets.series);
  }

  async start(): Promise<void> {
    const { buckets } = this.deps;
    this.series = await this.seriesStore.load();
    for (const [k, s] of this.series) this.storedForms.set(k, storedForm(s));
    for (const a of await this.alerts.list({ active: true })) this.open.set(a.id, a);
    // rules and silences change through the API on any host: watch them (a burst of changes is
    // one reload: a reload asked for while one runs runs once more after it). The watch starts
    // before the first load, so a rule made while the evaluator starts is never missed.
    const watch = async (kv: KV, reload: () => Promise<void>, what: string) => {
      const w = await kv.watch({ include: KvWatchInclude.UpdatesOnly, ignoreDeletes: false });
      this.onStop(() => w.stop());
      let running: Promise<void> | undefined;
      let again = false;
      // a load is over: the next, if a change came while it ran
      const settled = (): void => {
        running = undefined;
        if (again && !this.stopped) {
          again = false;
          run();
        }
      };
      const run = (): void => {
        if (running) {
          again = true;
          return;
        }
        const current = reload()
          .catch((err: unknown) => {
            if (!this.stopped) this.log.error({ err }, `could not load the ${what}`);
          })
          .finally(() => {
            this.reloading.delete(current);
            settled();
          });
        running = current;
        this.reloading.add(current);
      };
      void (async () => {
        for await (const _ of w) run();
      })();
      // the first load: its error fails the start; a change meanwhile loads again after it
      running = reload().finally(settled);
      await running;
    };
    await watch(buckets.rules, () => this.reloadRules(), 'alert rules');
    await watch(buckets.silences, () => this.reloadSilences(), 'silences');
    const alertWatch = await buckets.alerts.watch({ include: KvWatchInclude.UpdatesOnly });
    this.onStop(() => alertWatch.stop());
    void (async () => {
      for await (const e of alertWatch) {
        if (e.operation !== 'PUT') continue;
        this.known(e.json<Alert>(), e.revision);
      }
    })();
    // quarantines are plugin records' states, not windows
    this.onStop(this.deps.plugins.onChange((name, rec) => this.onPlugin(name, rec)));
    // a stop while this start ran (the lease lost meanwhile): nothing more is started
    if (this.stopped) return;
    // outputs waiting behind a failing batch of their endpoint (or a long one) are not redelivered
    // while this evaluator is alive: a third of the ack wait, on the server's (wall) clock
    this.keepAlive = systemClock.interval(
      () => {
        for (const m of this.unsettled) m.working();
      },
      Math.max(1000, ALERT_ACK_WAIT_MS / 3),
    );
    this.following = true;
    // a failure is tried again by follow itself: the system rules are checked meanwhile
    await this.follow();
    if (this.stopped) return;
    this.timed = this.startTimedChecks();
    this.log.info({ rules: this.ruleSet.rules.length }, 'alert evaluator running');
  }

  /** What a stop undoes; at once when the stop came already (while the start ran). */
  private onStop(undo: () => void): void {
    if (this.stopped) undo();
    else this.stops.push(undo);
  }

  async stop(): Promise<void> {
    // both at once: a reload finishing meanwhile must not take the stop for the last rule's removal
    this.stopped = true;
    this.following = false;
    clearTimeout(this.followRetry);
    for (const s of this.stops.splice(0)) s();
    await this.timed?.stop();
    await this.followChain;
    const reading = this.reading;
    this.reading = undefined;
    await reading?.messages.close();
    // after the pulls end: a nacked output is redelivered at once, to the next evaluator, not to
    // this one's closed pull (where it would wait out the ack wait)
    for (const wake of this.pauses) wake();
    await reading?.loop;
    while (this.unsettled.size > 0) await new Promise<void>((r) => this.wakers.add(r));
    this.keepAlive?.cancel();
    await this.quarantineChain;
  }

  private async reloadRules(): Promise<void> {
    const rules = await this.deps.rules.list();
    this.ruleSet.set(rules.map(compileRule));
    // its failure is follow's to log and retry, not taken for the rules' load failing
    if (this.following) await this.follow();
  }

  /**
   * Read outputs while a rule evaluates them, and only then: with none, every output would be a
   * delivery and an ack for nothing (two of the twenty-odd NATS messages of a window). Reading
   * stops with the last such rule, and its consumer is removed (no backlog builds up for it, none
   * shows in the metrics). Reading starts again from where the consumer is when it is there (a
   * start, as after a crash), else with the consumer made again from {@link readingSince}. A
   * failed start or stop is logged and tried again after FOLLOW_RETRY_MS: the returned promise
   * never rejects.
   */
  private follow(): Promise<void> {
    const next = this.followChain.then(async () => {
      clearTimeout(this.followRetry);
      if (!this.following || this.stopped) return;
      const wanted = this.ruleSet.readsOutputs;
      if (wanted && !this.reading) {
        // idle: the consumer there may be one a drop left behind, or one whose start is too old
        if (this.idle) await restartAlertConsumer(await this.deps.js.jetstreamManager(), await this.readingSince());
        this.idle = false;
        this.dropPending = false;
        this.reading = await this.startReading();
        this.log.info({ rules: this.ruleSet.rules.length }, 'reading app outputs: a rule evaluates them');
      } else if (!wanted && (!this.idle || this.dropPending)) {
        const reading = this.reading;
        this.reading = undefined;
        // idle from here on (a failed drop is tried again, and a rule over outputs makes the consumer anew)
        this.idle = true;
        this.dropPending = true;
        // the outputs taken are evaluated (by no rule) and acked; none is waited for
        await reading?.messages.close();
        await dropAlertConsumer(await this.deps.js.jetstreamManager());
        this.dropPending = false;
        this.log.info('no rule evaluates app outputs: not reading them');
      }
    });
    this.followChain = next.catch((err: unknown) => {
      if (this.stopped) return;
      this.log.error({ err }, `could not start or stop reading app outputs; trying again in ${FOLLOW_RETRY_MS} ms`);
      this.followRetry = setTimeout(() => void this.follow(), FOLLOW_RETRY_MS);
    });
    // settles once done; a failure is logged and tried again here, never rejected to the caller
    return this.followChain;
  }

  /**
   * Where reading starts when the consumer is made again: at the earliest store of the rules over
   * outputs there are now (the server's time of their KV entries; a file's rules at their load),
   * less RESTART_MARGIN_MS, and not before RESTART_LOOKBACK_MS ago. Each of those rules was stored
   * while none read outputs (else reading would not have stopped), so the windows from the first
   * one's making on are evaluated, not those of the time without rules; nor is one rule change that
   * was never read (a rule made and removed) able to move the start back.
   */
  private async readingSince(): Promise<Date> {
    const stored = await Promise.all(
      this.ruleSet.rules
        .filter(readsOutputs)
        .map(async (r) =>
          r.rule.source === 'api' ? ((await this.deps.buckets.rules.get(r.rule.name))?.created.getTime() ?? r.rule.createdAt) : r.rule.createdAt,
        ),
    );
    const earliest = Math.min(Date.now(), ...stored);
    return new Date(Math.max(earliest, Date.now() - RESTART_LOOKBACK_MS) - RESTART_MARGIN_MS);
  }

  private async startReading(): Promise<{ messages: ConsumerMessages; loop: Promise<void> }> {
    let consumer;
    try {
      consumer = await this.deps.js.consumers.get(Streams.outputs, Consumers.alerts);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // none yet, or removed while no rule read outputs (by an evaluator before this one): made,
      // with nothing to drop first
      await createAlertConsumer(await this.deps.js.jetstreamManager(), await this.readingSince());
      consumer = await this.deps.js.consumers.get(Streams.outputs, Consumers.alerts);
    }
    const messages = await consumer.consume({ max_messages: 256 });
    const loop = (async () => {
      for await (const m of messages) {
        const out = this.take(m);
        if (!out) continue;
        const endpoint = out.endpointName;
        const held = (this.held.get(endpoint) ?? 0) + 1;
        this.held.set(endpoint, held);
        // an endpoint's outputs over its share wait in its queue without taking the others' places
        const counted = held <= MAX_HELD_PER_ENDPOINT;
        if (counted) {
          while (this.inFlight >= MAX_IN_FLIGHT) await new Promise<void>((r) => this.wakers.add(r));
          this.inFlight++;
        }
        this.unsettled.add(m);
        void this.queue.push(endpoint, { m, out }).finally(() => {
          this.unsettled.delete(m);
          const left = this.held.get(endpoint)! - 1;
          if (left > 0) this.held.set(endpoint, left);
          else this.held.delete(endpoint);
          if (counted) this.inFlight--;
          const woken = [...this.wakers];
          this.wakers.clear();
          for (const w of woken) w();
        });
      }
    })();
    return { messages, loop };
  }

  private async reloadSilences(): Promise<void> {
    const list: Silence[] = [];
    for await (const k of await this.deps.buckets.silences.keys()) {
      const e = await this.deps.buckets.silences.get(k);
      if (e && e.operation === 'PUT') list.push(e.json<Silence>());
    }
    this.ruleSet.silences = list;
  }

  private seriesOf = (key: string): SeriesState => {
    let s = this.series.get(key);
    if (!s) {
      s = newSeries();
      this.series.set(key, s);
    }
    return s;
  };

  /** An output to evaluate, or undefined when it was settled here (not an output, a shadow's, a forged one). */
  private take(m: JsMsg): AppOutputMessage | undefined {
    // an endpoint's purge (mw.purges.<id>) travels among the outputs for the writers: nothing to evaluate
    if (m.subject.startsWith(Subjects.purges(''))) {
      m.ack();
      return undefined;
    }
    let out: AppOutputMessage;
    try {
      out = m.json<AppOutputMessage>();
      if (typeof out.endpointName !== 'string' || typeof out.windowStart !== 'number' || !Array.isArray(out.results)) throw new Error('not an output');
    } catch {
      m.term(); // the writer dead-letters it
      return undefined;
    }
    const key = this.deps.bindingKey;
    if (out.shadow || (key && !verifyBinding(key, out, out.binding))) {
      m.ack();
      return undefined;
    }
    return out;
  }

  /**
   * Outputs of one endpoint, in order: evaluated, stored, then acked together. A batch that fails
   * is tried again here before its endpoint's later outputs, which wait behind it in the queue:
   * were it nacked, a later window could move the series past it before its redelivery, which
   * would then count for nothing. On NATS trouble that passes it is tried for
   * {@link MAX_ATTEMPTS} (1 s doubling to 60 s), then given up; on a failure that comes again, its
   * outputs are tried one by one after {@link REPEATED_FAILURES} attempts, and an output that
   * fails so is given up (dead-lettered) for the next ones; the endpoint's next outputs, until one
   * of them is evaluated, are tried one by one and once each (an endpoint whose every output fails
   * so gets through them as fast as they fail, not one per 7 s). A stop meanwhile nacks the outputs not
   * yet evaluated and the endpoint's later ones, for the next evaluator.
   */
  private async handleBatch(endpoint: string, batch: Taken[]): Promise<void> {
    // a change of the rules or silences being loaded (its watch came, its reads not yet): the
    // outputs wait for it, so a silence made before an output was published holds for it
    while (this.reloading.size > 0) await Promise.all([...this.reloading]);
    if (this.interrupted.has(endpoint)) {
      for (const t of batch) t.m.nak();
      return;
    }
    if (!this.failingForGood.has(endpoint)) {
      const r = await this.attempts(endpoint, batch, REPEATED_FAILURES);
      if (r.kind === 'done') return;
      if (r.kind === 'stopped') return this.interrupt(endpoint, batch);
      if (r.transient || batch.length === 1) {
        if (!r.transient) this.failingForGood.add(endpoint);
        // concurrently: after NATS trouble its letters may each wait out a publish timeout
        await Promise.all(batch.map((t) => this.giveUp(endpoint, t, r.err)));
        return;
      }
      this.log.warn(
        { endpoint, windows: batch.length, windowStart: batch[0]!.out.windowStart },
        'the alert rules fail on a batch of windows; they are evaluated one by one',
      );
    }
    for (const [i, t] of batch.entries()) {
      const failing = this.failingForGood.has(endpoint);
      const one = await this.attempts(endpoint, [t], failing ? 1 : REPEATED_FAILURES);
      if (one.kind === 'stopped') return this.interrupt(endpoint, batch.slice(i));
      if (one.kind === 'failed') {
        if (!one.transient) this.failingForGood.add(endpoint);
        await this.giveUp(endpoint, t, one.err);
      } else if (failing) {
        // the endpoint's outputs are evaluated again: the rest of the batch together
        this.failingForGood.delete(endpoint);
        return this.handleBatch(endpoint, batch.slice(i + 1));
      }
    }
  }

  /**
   * Evaluate outputs and ack them, tried again while they fail (see {@link handleBatch}): for
   * {@link MAX_ATTEMPTS} on NATS trouble that passes, `repeats` times on a failure that comes again.
   */
  private async attempts(endpoint: string, batch: readonly Taken[], repeats: number): Promise<Attempts> {
    if (batch.length === 0) return { kind: 'done' };
    let repeated = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.applyAll(batch.map((t) => t.out));
        for (const t of batch) t.m.ack();
        if (attempt > 1) this.log.info({ endpoint, windows: batch.length, attempts: attempt }, 'evaluated the alert rules after failures');
        return { kind: 'done' };
      } catch (err) {
        const transient = isTransient(err);
        if (!transient) repeated++;
        const at = { err, endpoint, windows: batch.length, windowStart: batch[0]!.out.windowStart, attempt, transient };
        if (attempt >= MAX_ATTEMPTS || repeated >= repeats) {
          this.log.error(at, 'could not evaluate the alert rules');
          return { kind: 'failed', err, transient };
        }
        this.log.error(at, "could not evaluate the alert rules; the windows will be evaluated again before the endpoint's later ones");
        if (!(await this.pause(retryDelayMs(attempt)))) return { kind: 'stopped' };
      }
    }
  }

  /** A stop interrupted the endpoint's failing batch: its outputs not evaluated and the later ones are nacked. */
  private interrupt(endpoint: string, rest: readonly Taken[]): void {
    this.interrupted.add(endpoint);
    for (const t of rest) t.m.nak();
  }

  /**
   * An output the rules could not be evaluated on: logged, dead-lettered (`_outputs`, as the writer
   * letters an output it cannot store; one letter per output whoever writes it) and terminated.
   * Never throws: a letter that cannot be published is logged and the output terminated.
   */
  private async giveUp(endpoint: string, t: Taken, err: unknown): Promise<void> {
    const { m, out } = t;
    this.log.error(
      { err, endpoint, app: out.app, windowStart: out.windowStart, seq: m.seq },
      'could not evaluate the alert rules on a window; it is given up and dead-lettered',
    );
    const where = { stage: DEAD_LETTER_STAGES.outputs, stream: Streams.outputs, consumer: Consumers.alerts };
    const why = `the alert rules could not be evaluated: ${err instanceof Error ? err.message : String(err)}`;
    try {
      await deadLetterMessage(this.deps.js, m, where, 'MAX_DELIVERIES', why);
    } catch (letterErr) {
      this.log.error(
        { err: letterErr, endpoint, seq: m.seq },
        'could not dead-letter a window the alert rules gave up on; it is terminated (this log is its record)',
      );
      m.term();
    }
  }

  /** Wait `ms` (wall clock): true, or false when the evaluator stops meanwhile. */
  private pause(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const wake = () => {
        timer.cancel();
        this.pauses.delete(wake);
        resolve(!this.stopped);
      };
      const timer = systemClock.timeout(wake, ms);
      this.pauses.add(wake);
    });
  }

  /** Evaluate one output: enqueue the notifications, store the alerts, then the series. */
  async apply(out: AppOutputMessage): Promise<void> {
    await this.applyAll([out]);
  }

  /**
   * Evaluate outputs of one endpoint in order, on copies of their series: then, alert by alert
   * (alerts concurrently), enqueue the notifications and store the alerts; then store the series
   * that changed, in one round; only then are the copies the evaluator's. A failure leaves the
   * series as they were, so the redelivered windows fire the same alerts (same ids and keys).
   */
  private async applyAll(outs: readonly AppOutputMessage[]): Promise<void> {
    const work = new Map<string, SeriesState>();
    const seriesOf = (key: string): SeriesState => {
      let s = work.get(key);
      if (!s) {
        const cur = this.series.get(key);
        work.set(key, (s = cur ? copySeries(cur) : newSeries()));
      }
      return s;
    };
    const opened = new Set<string>();
    const closed = new Set<string>();
    const isOpen = (id: string) => opened.has(id) || (!closed.has(id) && this.open.has(id));
    /** By alert id: alerts are stored concurrently, the operations of one in order. */
    const ops = new Map<string, AlertOp[]>();
    const now = this.clock.now();
    for (const out of outs) {
      const tags = this.deps.endpoints.peek(out.endpointName)?.tags;
      const changes = this.ruleSet.evaluate(out, tags, seriesOf, isOpen, now);
      if (changes.length === 0) continue;
      this.evaluated++;
      for (const c of changes) {
        const op = this.transition(c, opened, closed);
        if (!op) continue;
        const id = op.kind === 'fire' ? op.alert.id : op.id;
        const list = ops.get(id);
        if (list) list.push(op);
        else ops.set(id, [op]);
      }
    }
    if (work.size === 0) return;
    await Promise.all([...ops.values()].map((list) => this.store(list, now)));
    await this.saveSeries(work);
  }

  /** A change's transition, made on its series (a copy) and returned as what to store. */
  private transition(c: Change, opened: Set<string>, closed: Set<string>): AlertOp | undefined {
    const s = c.state;
    if (c.transition === 'fire') {
      const id = alertId(c.series, c.o.windowStart);
      const details = c.alert();
      const alert: Alert = {
        ...details,
        id,
        state: 'firing',
        windows: [...s.windows],
        windowStart: c.o.windowStart,
        windowEnd: c.o.windowEnd,
        startsAt: c.o.windowEnd,
        summary: `${details.summary} in ${s.windows.length} window${s.windows.length === 1 ? '' : 's'}`,
      };
      s.alertId = id;
      opened.add(id);
      return { kind: 'fire', alert, rule: c.rule };
    }
    if (c.transition === 'resolve' && s.alertId !== undefined) {
      const id = s.alertId;
      opened.delete(id);
      closed.add(id);
      s.alertId = undefined;
      s.resolvedAt = c.o.windowEnd;
      s.windows = [];
      return { kind: 'resolve', id, rule: c.rule };
    }
    if (s.alertId !== undefined && c.o.breach) {
      const details = c.alert();
      const patch = {
        windows: [...s.windows],
        windowStart: c.o.windowStart,
        windowEnd: c.o.windowEnd,
        summary: details.summary,
        ...(details.value !== undefined && { value: details.value }),
        ...(details.status !== undefined && { status: details.status }),
      };
      return { kind: 'update', id: s.alertId, patch };
    }
    return undefined;
  }

  /**
   * One alert's operations of a batch, stored in one go: a firing is told, then the alert created
   * as the batch leaves it (updated, or resolved and told so too): one round trip. When it exists
   * already (a redelivered window), or was opened before the batch, the newest window and the
   * resolution are compare-and-set on what is stored.
   */
  private async store(ops: readonly AlertOp[], now: number): Promise<void> {
    let fire: Extract<AlertOp, { kind: 'fire' }> | undefined;
    let patch: AlertPatch | undefined;
    let resolve: Extract<AlertOp, { kind: 'resolve' }> | undefined;
    for (const op of ops) {
      if (op.kind === 'fire') fire = op;
      else if (op.kind === 'update') patch = op.patch;
      else resolve = op;
    }
    if (fire) {
      await this.notify('firing', fire.alert, fire.rule, now);
      const alert: Alert = resolve ? { ...fire.alert, ...patch, state: 'resolved', resolvedAt: now } : { ...fire.alert, ...patch };
      if (resolve) await this.notify('resolved', alert, resolve.rule, now);
      const { alert: a, created, revision } = await this.alerts.create(alert);
      if (created) {
        this.known(a, revision);
        return;
      }
    }
    const id = fire?.alert.id ?? resolve?.id ?? (ops[0] as Extract<AlertOp, { kind: 'update' }>).id;
    if (!resolve && !patch) return;
    const open = this.open.get(id);
    const revision = this.revisions.get(id);
    const known = open && revision !== undefined ? { value: open, revision } : undefined;
    // a resolution is told before it is stored, as a firing is: a host that dies between the two
    // tells it again when the window is redelivered (the same key: received once)
    let told = false;
    if (resolve && open && open.state !== 'resolved') {
      await this.notify('resolved', { ...open, ...patch, state: 'resolved', resolvedAt: now }, resolve.rule, now);
      told = true;
    }
    const { alert, resolved } = await this.alerts.advance(id, known, patch, resolve ? now : undefined);
    if (resolve && resolved && alert && !told) await this.notify('resolved', alert.value, resolve.rule, now);
    if (alert) this.known(alert.value, alert.revision);
    else this.known(undefined, undefined, id);
  }

  /** Remember an alert as stored (the open ones, with their revision). */
  private known(a: Alert | undefined, revision: number | undefined, id = a?.id): void {
    if (id === undefined) return;
    if (!a || a.state === 'resolved') {
      this.open.delete(id);
      this.revisions.delete(id);
      return;
    }
    const seen = this.revisions.get(id);
    if (revision !== undefined && seen !== undefined && revision < seen) return; // a watch behind the evaluator's own writes
    this.open.set(id, a);
    if (revision === undefined) this.revisions.delete(id);
    else this.revisions.set(id, revision);
  }

  /** Store the series whose stored form changed (all in one round), then make them the evaluator's. */
  private async saveSeries(states: ReadonlyMap<string, SeriesState>): Promise<void> {
    const changed = new Map<string, SeriesState>();
    const forms = new Map<string, string>();
    for (const [k, s] of states) {
      const form = storedForm(s);
      if (this.storedForms.get(k) === form) continue;
      changed.set(k, s);
      forms.set(k, form);
    }
    if (changed.size > 0) await this.seriesStore.save(changed);
    for (const [k, f] of forms) this.storedForms.set(k, f);
    for (const [k, s] of states) this.series.set(k, s);
  }

  private async notify(kind: AlertNotification['kind'], alert: Alert, rule: CompiledRule, at: number, n = 1): Promise<void> {
    await this.deps.notifier.enqueue({ key: `${alert.id}:${kind}:${n}`, kind, alert, channels: rule.rule.channels ?? [], at });
  }

  /** The timer of the system rules (`system.ts`) and the repeats (`repeat.ts`). */
  private startTimedChecks(): SystemChecks {
    const timed = new SystemChecks(
      {
        rules: () => this.ruleSet.rules,
        silenced: (rule, endpoint, now) => this.ruleSet.silenced(rule, endpoint, now),
        series: this.seriesOf,
        isOpen: (id) => this.open.has(id),
        endpointTags: (name) => this.deps.endpoints.peek(name)?.tags,
        alerts: this.alerts,
        notify: (kind, alert, rule, at) => this.notify(kind, alert, rule, at),
        saveSeries: (states) => this.seriesStore.save(states),
        opened: (a) => this.known(a, undefined),
        closed: (id) => this.known(undefined, undefined, id),
        clock: this.clock,
        logger: this.log,
        afterCheck: (now) =>
          this.repeats.check(
            {
              open: () => this.open.values(),
              rule: (name) => this.ruleSet.rules.find((r) => r.rule.name === name),
              silenced: (rule, endpoint, at) => this.ruleSet.silenced(rule, endpoint, at),
              notify: (kind, alert, rule, at, n) => this.notify(kind, alert, rule, at, n),
            },
            now,
          ),
      },
      this.deps.systemProbes,
      this.deps.checkIntervalMs ?? 10_000,
    );
    timed.start();
    return timed;
  }

  /** A plugin record changed: quarantine rules fire on its quarantine, resolve when it is active again. */
  private onPlugin(name: string, rec: PluginRecord | undefined): void {
    const rules = this.ruleSet.rules.filter((r) => r.condition === 'plugin_quarantined' && r.matchesApp(name));
    if (rules.length === 0) return;
    const quarantined = rec?.status === 'quarantined';
    this.quarantineChain = this.quarantineChain
      .then(async () => {
        for (const rule of rules) {
          const key = seriesKey(rule.rule.name, `plugin:${name}`);
          const s = this.seriesOf(key);
          const now = this.clock.now();
          if (quarantined && s.alertId === undefined && !this.ruleSet.silenced(rule.rule.name, undefined, now)) {
            const id = alertId(key, now);
            const alert: Alert = {
              id,
              rule: rule.rule.name,
              severity: rule.severity,
              state: 'firing',
              app: name,
              summary: `${rule.rule.name}: plugin ${name} is quarantined${rec?.statusReason ? `: ${rec.statusReason}` : ''}`,
              windows: [],
              labels: { ...rule.rule.labels },
              startsAt: now,
            };
            await this.notify('firing', alert, rule, now);
            const { alert: a, revision } = await this.alerts.create(alert);
            this.known(a, revision);
            s.alertId = id;
            await this.saveSeries(new Map([[key, s]]));
          } else if (!quarantined && s.alertId !== undefined && rule.autoResolve > 0) {
            const { alert, changed } = await this.alerts.resolve(s.alertId, now);
            if (changed) await this.notify('resolved', alert, rule, now);
            this.known(undefined, undefined, s.alertId);
            s.alertId = undefined;
            await this.saveSeries(new Map([[key, s]]));
          }
        }
      })
      .catch((err: unknown) => this.log.error({ err, plugin: name }, 'could not evaluate a quarantine'));
  }
}

/** The notifier of a host given none: it logs each notification (the channels are another module's). */
export function logNotifier(logger: Logger): Notifier {
  const log = logger.child({ component: 'alerts' });
  return {
    enqueue: (n) => {
      log.info({ key: n.key, kind: n.kind, rule: n.alert.rule, endpoint: n.alert.endpoint, severity: n.alert.severity }, n.alert.summary);
      return Promise.resolve();
    },
  };
}
