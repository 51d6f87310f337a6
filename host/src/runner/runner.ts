import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  ARTIFACT_STORE,
  Consumers,
  DEAD_LETTER_STAGES,
  REFERENCE_STORE,
  Streams,
  Subjects,
  type AppOutputMessage,
  type BundleRequest,
  type CheckReply,
  type CheckRequest,
  type CrashReport,
  type DryRunReply,
  type DryRunRequest,
  type DryRunResult,
  type EndpointRecord,
  type EvaluateReply,
  type LostWindow,
  type PluginLimits,
  type PluginLogLine,
  type PluginRecord,
  type PluginVersionRecord,
  type ReferenceTable,
  type TaskMessage,
} from '@modelwatch/protocol';
import { outputMsgId } from '../domain/binding.js';
import { failedOutput, windowOutput } from '../domain/outputs.js';
import { artifactId, artifactKey, outputKey } from '../domain/keys.js';
import { compactProfile } from '../domain/profiles.js';
import { errorData, isRetryable, ModelwatchError, type ErrorData } from '../errors.js';
import type { Logger } from '../logger.js';
import { jsonCodec } from '../nats/codec.js';
import { deadLetterMessage } from '../nats/dead-letters.js';
import { putObject, readObject } from '../nats/objects.js';
import { MaxDeliver, openBuckets, slotConsumerName, type Buckets } from '../nats/topology.js';
import { countUnrunDelivery, unrunDeliveries } from '../nats/unrun.js';
import { bundleName, DEFAULT_LIMITS } from '../store/plugins.js';
import { WatchedKv } from '../store/watched-kv.js';
import { dryRunInput, dryRunLimits, endsDryRun, runDryWindow, DRY_RUN_BUDGET_MS } from './dry-run.js';
import { watchMemory, type MemoryWatch } from './memory.js';
import { limitsOutputs, outputBytesLimit, outputTooLarge } from './output-limit.js';
import { loadSandboxRuntime } from './runtime-bundle.js';
import { createSandbox, MAX_OUTPUT_CHARS, type LogLine, type SampleData, type Sandbox, type SandboxInput, type WindowArtifact } from './sandbox.js';
import { buildWindowData, readLabels, readWindowRows, referenceSample, withGroundTruth, type WindowData } from './window-data.js';
import { ReferenceCache } from '@modelwatch/sdk/stats';
import { normalizeAppOutput } from '../sdk-internal.js';

export interface AppRunnerOptions {
  nc: NatsConnection;
  logger: Logger;
  /** Windows worked on at once. @default 2 */
  concurrency?: number;
  /** Tries of a window before it is recorded as failed. @default 3 */
  windowAttempts?: number;
  /** Shown in outputs and logs. @default `<hostname>:<pid>` */
  name?: string;
  /**
   * Windows of one plugin worked on at once (of `concurrency`): a task of a plugin at its count is
   * handed back (nak, after DEFER_MS) without counting as an attempt, so the other slots stay for
   * other plugins. @default concurrency - 1, at least 1
   */
  appConcurrency?: number;
  /** Memory bound of this process in MiB: past it, the runner reports the window it ran and stops (see memory.ts). */
  memoryMb?: number;
}

/** How long a task handed back for its plugin's share of the slots waits before it is delivered again. */
export const DEFER_MS = 1000;
/** Tasks handed back in a row, per slot, before a runner waits for one of its windows to end before it takes more. */
const MAX_DEFERRALS_PER_SLOT = 4;
/** How long a pull for free slots waits for tasks before the next one is sent (an idle runner's pull requests). */
const TASK_PULL_EXPIRES_MS = 10_000;

/**
 * Deliveries of a task beyond its attempts: a runner that dies takes the windows it was
 * working on with it, and those windows did nothing wrong; they are redelivered and tried again.
 */
export const CRASH_TOLERANCE = 3;
/** From this delivery of a task on, a runner records its window as `WINDOW_FAILED` (two before MW_TASKS' cap: one more may be lost too). */
const LAST_CHANCE_DELIVERY = MaxDeliver[Consumers.runners] - 1;
const MAX_SANDBOXES = 64;
/** How long a runner goes on without a plugin's slots it could not find before it looks again. */
const SLOT_LOOKUP_MS = 10_000;

/** A slot token held while its window runs: kept alive every second, handed back when it ends. */
interface HeldSlot {
  working(): void;
  release(): void;
}
/**
 * How long a token of a window that ended is kept for the plugin's next window on this runner
 * before it is handed back: the next task is usually in the runner's buffer already, and taking
 * the token again cost a request, its reply, a `-NAK` and the server's advisory of it. Well
 * under the slot consumer's ack wait (SLOT_ACK_WAIT_MS), so a kept token needs no keep-alive.
 */
export const SLOT_KEEP_MS = 100;
/** An output as it is published: the message, and its bytes. */
interface OutputMessage {
  output: AppOutputMessage;
  data: Uint8Array;
}
/** A token kept after its window ended, with its hand-back due. */
interface KeptSlot {
  ackSubject: string;
  timer: NodeJS.Timeout;
  /** When the server last heard of the token (taken, or kept alive). */
  signalled: number;
}
const MAX_CACHED_WINDOWS = 8;
/**
 * The endpoints' reference samples (for `referenceRows` apps) kept, by endpoint and reference
 * revision, up to this many bytes: a reference read from the object store, parsed and packed
 * anew for every window (a metadata read and an ordered consumer for its chunks) cost an app more
 * than its work.
 */
const REFERENCE_CACHE_BYTES = 64 * 1024 * 1024;

/** About what a sample holds in memory: its numbers, and its strings and request ids. */
function sampleBytes(s: SampleData): number {
  let bytes = s.packed.byteLength + 8 * s.length * (1 + Object.keys(s.strings).length);
  for (const column of [...Object.values(s.strings), s.requestIds]) for (const v of column) if (v) bytes += 2 * v.length;
  return bytes;
}
/**
 * Takes tasks from the work queue and runs each app's doTracking for its window in a
 * sandbox. Needs nothing but NATS: any number can run, on any machine.
 */
export class AppRunner {
  private js!: JetStreamClient;
  private jsm!: JetStreamManager;
  private buckets!: Buckets;
  private endpoints!: WatchedKv<EndpointRecord>;
  private plugins!: WatchedKv<PluginRecord>;
  /** The task fetches waiting for tasks, and how many tasks they ask for still. */
  private readonly fetches = new Set<ConsumerMessages>();
  private asked = 0;
  /** Wakes the loop that pulls tasks (a slot freed, a fetch ended, the runner stopping). */
  private wakeLoop: () => void = () => undefined;
  private subs: Subscription[] = [];
  private loop: Promise<void> | undefined;
  private stopping = false;
  private readonly inflight = new Set<Promise<void>>();
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly windows = new Map<string, Promise<WindowData>>();
  private readonly references = new ReferenceCache<{ sample: Promise<SampleData | undefined>; bytes: number }>((e) => e.bytes, {
    maxBytes: REFERENCE_CACHE_BYTES,
    maxEntries: Number.MAX_SAFE_INTEGER,
  });
  private readonly log: Logger;
  private readonly name: string;
  private readonly attempts: number;
  private readonly appLimit: number;
  /**
   * The `referenceRows` plugin versions (`<app>@<version>` and their config, which `plugin
   * configure` changes in place) that read `ctx.reference`: their
   * windows get the reference read with their rows. The others' windows get it only if they read it
   * (`RunOptions.loadReference`), so an app that asks for the rows and does not use them
   * (histogram-data-drift unless its decision is `calibrated`) costs no read a window.
   */
  private readonly referenceReaders = new Set<string>();
  /** Windows worked on now per plugin version (`<app>@<version>`). */
  private readonly perApp = new Map<string, number>();
  /** The windows in a sandbox now: what a crash report of this runner names. */
  private readonly inSandbox = new Set<CrashReport>();
  /** The tasks being worked on (from a slot taken to the output sent): the bystanders a crash report names. */
  private readonly inFlight = new Set<TaskMessage>();
  /** Those of `inFlight` that have entered a sandbox (a memory-bound report names only the others). */
  private readonly entered = new WeakSet<TaskMessage>();
  private memoryWatch: MemoryWatch | undefined;
  /** Windows being worked on (tasks handed back are not). */
  private readonly windowsRunning = new Set<Promise<void>>();
  /** Whether a plugin's slots (`slots-<app>-<kind>`) were there, with when that was looked up. */
  private readonly slotConsumers = new Map<string, { there: boolean; at: number }>();
  /** Tokens kept after their window ended, by slot consumer, for the plugin's next window here (SLOT_KEEP_MS). */
  private readonly keptSlots = new Map<string, KeptSlot[]>();
  /** Tasks being handed back unrun by the pull loop (their deferrals being counted). */
  private readonly handingBack = new Set<Promise<void>>();
  /** Tasks handed back since a window last started. */
  private deferredInARow = 0;
  /** Where this runner answers that it is connected (what its supervisor's readiness check asks). */
  readonly pingSubject = Subjects.runnerPing(randomUUID().replaceAll('-', ''));

  constructor(private readonly opts: AppRunnerOptions) {
    this.name = opts.name ?? `${hostname()}:${process.pid}`;
    this.attempts = opts.windowAttempts ?? 3;
    this.appLimit = opts.appConcurrency ?? Math.max(1, (opts.concurrency ?? 2) - 1);
    this.log = opts.logger.child({ component: 'runner', runner: this.name });
  }

  async start(): Promise<void> {
    const { nc } = this.opts;
    // the sandbox runtime, bundled before the first window needs it (a broken installation fails here)
    await loadSandboxRuntime();
    if (this.opts.memoryMb)
      this.memoryWatch = watchMemory(
        this.opts.memoryMb,
        () => [...this.inSandbox],
        () => this.lostWindows([...this.inFlight].filter((t) => !this.entered.has(t))),
      );
    this.js = jetstream(nc);
    this.jsm = await jetstreamManager(nc);
    this.buckets = await openBuckets(nc);
    this.endpoints = new WatchedKv(this.buckets.endpoints);
    this.plugins = new WatchedKv(this.buckets.plugins);
    await Promise.all([this.endpoints.start(), this.plugins.start()]);
    const maxPayload = this.maxPayload();
    if (maxPayload !== undefined && limitsOutputs(maxPayload)) {
      this.log.warn(
        { maxPayload, outputLimit: outputBytesLimit(maxPayload) },
        `the NATS server's max_payload (${maxPayload} bytes) is under what an app may return (${MAX_OUTPUT_CHARS} characters of JSON): ` +
          `a window whose output is over ${outputBytesLimit(maxPayload)} bytes fails (APP_INVALID_OUTPUT); give the server max_payload: 16MB to allow more`,
      );
    }
    this.subs.push(
      nc.subscribe(Subjects.runnerCheck, {
        queue: 'runners',
        callback: (err, msg) => {
          if (!err) void this.check(msg);
        },
      }),
    );
    this.subs.push(
      nc.subscribe(Subjects.runnerDryRun, {
        queue: 'runners',
        callback: (err, msg) => {
          if (!err) void this.dryRun(msg);
        },
      }),
    );
    // a ping answers its supervisor; the roll call, every runner, answers whoever counts them (the alert evaluator)
    for (const subject of [this.pingSubject, Subjects.runnerRollCall]) {
      this.subs.push(
        nc.subscribe(subject, {
          callback: (err, msg) => {
            if (!err) msg.respond();
          },
        }),
      );
    }
    this.subs.push(
      nc.subscribe(Subjects.runnerEvaluate, {
        queue: 'runners',
        callback: (err, msg) => {
          if (!err) void this.evaluate(msg);
        },
      }),
    );
    const consumer = await this.js.consumers.get(Streams.tasks, Consumers.runners);
    const limit = this.opts.concurrency ?? 2;
    // pulled only for free slots, so no task waits here unstarted (past its ack wait it would be
    // redelivered to another runner, run twice, and count as an attempt more): a fetch of as many
    // as there are slots neither running a window nor asked for by a fetch still waiting, each task
    // started as it comes; a slot freed while a fetch waits is asked for by another
    const changed = () => new Promise<void>((resolve) => (this.wakeLoop = resolve));
    const pull = async (n: number) => {
      this.asked += n;
      let batch: ConsumerMessages | undefined;
      try {
        batch = await consumer.fetch({ max_messages: n, expires: TASK_PULL_EXPIRES_MS });
        this.fetches.add(batch);
        if (this.stopping) await batch.close();
        for await (const m of batch) {
          n--;
          this.asked--;
          // handed back unrun, counted as a deferral (not an attempt): a task fetched as the runner
          // stops, and one past the runner's slots (after a reconnect the client asks for its fetch's
          // whole batch again, whatever it already delivered)
          if (this.stopping || this.inflight.size >= limit) {
            const p = this.handBackTask(m).finally(() => this.handingBack.delete(p));
            this.handingBack.add(p);
            continue;
          }
          const p = this.handle(m).finally(() => {
            this.inflight.delete(p);
            this.wakeLoop();
          });
          this.inflight.add(p);
        }
      } catch (err) {
        if (!this.stopping && !nc.isClosed()) {
          this.log.warn({ err: String(err) }, 'task pull failed; pulling again');
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      } finally {
        this.asked -= n;
        if (batch) this.fetches.delete(batch);
        this.wakeLoop();
      }
    };
    this.loop = (async () => {
      const pulls = new Set<Promise<void>>();
      while (!this.stopping && !nc.isClosed()) {
        const woken = changed();
        // handing back task after task of plugins at their share (one plugin's backlog): wait for
        // a window to end instead of cycling through the backlog
        if (this.deferredInARow >= limit * MAX_DEFERRALS_PER_SLOT && this.windowsRunning.size > 0) {
          await Promise.race(this.windowsRunning);
          this.deferredInARow = 0;
          continue;
        }
        const free = limit - this.inflight.size - this.asked;
        if (free > 0) {
          const p = pull(free).finally(() => pulls.delete(p));
          pulls.add(p);
        }
        await woken;
      }
      await Promise.all([...pulls]);
    })();
    this.log.info({ concurrency: limit }, 'runner started');
  }

  async stop(): Promise<void> {
    this.memoryWatch?.stop();
    for (const s of this.subs) s.unsubscribe();
    this.stopping = true;
    await Promise.all([...this.fetches].map((f) => f.close()));
    this.wakeLoop();
    await this.loop;
    await Promise.allSettled([...this.inflight, ...this.handingBack]);
    // the kept tokens back to their plugins' shares, now (the server would only after the ack wait)
    for (const [name, kept] of [...this.keptSlots]) for (const k of [...kept]) this.handBack(name, k);
    this.endpoints?.stop();
    this.plugins?.stop();
    for (const sb of this.sandboxes.values()) sb.dispose();
    this.sandboxes.clear();
  }

  /**
   * Load a bundle and check what can be checked without an endpoint: it compiles, its module
   * loads, and it default-exports a class extending MonitoringApplication with doTracking.
   * doTracking is not called.
   */
  private async check(msg: Msg): Promise<void> {
    let reply: CheckReply = { ok: true };
    let sb: Sandbox | undefined;
    try {
      const req = jsonCodec.decode<CheckRequest>(msg.data);
      sb = this.bundleSandbox(req, { ...DEFAULT_LIMITS, ...req.limits });
      await sb.check();
    } catch (err) {
      reply = { ok: false, error: errorData(err, 'PLUGIN_LOAD_FAILED') };
    } finally {
      sb?.dispose();
    }
    msg.respond(jsonCodec.encode(reply));
  }

  /**
   * Run a bundle once on a small synthetic window of each endpoint (its columns, values
   * consistent with its reference statistics, its real reference rows for apps that ask), in
   * order, as long as the budget lasts and no window hit a limit. Nothing is stored; a crash of
   * this runner is reported as one at publish (no stored window is concerned).
   */
  private async dryRun(msg: Msg): Promise<void> {
    let reply: DryRunReply;
    let sb: Sandbox | undefined;
    try {
      const req = jsonCodec.decode<DryRunRequest>(msg.data);
      const limits = dryRunLimits({ ...DEFAULT_LIMITS, ...req.limits });
      sb = this.bundleSandbox(req, limits);
      const began = Date.now();
      const results: DryRunResult[] = [];
      let stop: string | undefined;
      for (const name of req.endpoints) {
        const skipped = (reason: string) => results.push({ endpoint: name, outcome: 'skipped', rows: 0, durationMs: 0, reason });
        if (stop) {
          skipped(stop);
          continue;
        }
        if (Date.now() - began > DRY_RUN_BUDGET_MS) {
          stop = `not run: the dry run's ${DRY_RUN_BUDGET_MS / 1000} s were used up`;
          skipped(stop);
          continue;
        }
        const endpoint = await this.endpoints.get(name);
        if (!endpoint) {
          skipped(`not run: no endpoint named '${name}'`);
          continue;
        }
        const input = dryRunInput(endpoint, {
          applicationName: req.name,
          config: req.config,
          windowStart: req.windowStart,
          windowEnd: req.windowEnd,
          referenceRows: req.referenceRows,
          groundTruth: req.groundTruth,
          ...(req.referenceRows ? { reference: await this.referenceData(endpoint) } : {}),
        });
        const r = await runDryWindow(sb, input, limits, this.maxPayload());
        results.push(r);
        if (endsDryRun(r)) stop = `not run: the dry run on '${name}' hit a limit (${r.error!.code})`;
      }
      reply = { ok: true, endpoints: results };
    } catch (err) {
      reply = { ok: false, error: errorData(err, 'PLUGIN_LOAD_FAILED') };
    } finally {
      sb?.dispose();
    }
    msg.respond(jsonCodec.encode(reply));
  }

  /** A sandbox for a bundle being published: a crash in it concerns no stored window. */
  private bundleSandbox(req: BundleRequest, limits: PluginLimits): Sandbox {
    return createSandbox({
      name: req.name,
      version: req.version,
      code: req.code,
      limits,
      ...(req.map ? { sourceMap: req.map } : {}),
      ...(req.isolation ? { isolation: req.isolation } : {}),
      atPublish: true,
      inFlight: this.lostWindows,
    });
  }

  private async evaluate(msg: Msg): Promise<void> {
    let reply: EvaluateReply;
    try {
      const task = jsonCodec.decode<TaskMessage>(msg.data);
      // nothing of an evaluation is stored by the runner: its output names no artifact; one too
      // large for a NATS message is the window's failure, as it is for a dispatched window
      const { artifacts: _artifacts, ...output } = this.message(task, await this.analyse(task, 1)).output;
      reply = { ok: true, output };
    } catch (err) {
      reply = { ok: false, error: errorData(err, 'APP_ERROR') };
    }
    msg.respond(jsonCodec.encode(reply));
  }

  private async handle(m: JsMsg): Promise<void> {
    let task: TaskMessage;
    try {
      task = jsonCodec.decode<TaskMessage>(m.data);
    } catch (err) {
      // dead-lettered with the reason, once: never redelivered, never in the way of the tasks behind it
      this.log.error({ seq: m.seq }, 'task is not valid JSON; dead-lettered');
      await deadLetterMessage(
        this.js,
        m,
        { stage: DEAD_LETTER_STAGES.tasks, stream: Streams.tasks, consumer: Consumers.runners },
        'INVALID_TASK',
        `the task is not JSON: ${(err as Error).message}`,
      ).catch((e: unknown) => {
        this.log.warn({ err: e, seq: m.seq }, 'could not dead-letter a task; it will be redelivered');
        m.nak(2000);
      });
      return;
    }
    // this plugin version has its share of the slots: hand the task back, for other plugins'
    // tasks to pass (a shadow version has a share of its own: it never holds up the active one)
    const share = `${task.app}@${task.version}`;
    // its last deliveries (handed back unrun, or lost with runners other windows crashed, which
    // are not attempts, up to MW_TASKS' cap): recorded as failed, not handed back nor run, so that
    // it does not end without an outcome at the cap
    const lastChance = m.info.deliveryCount >= LAST_CHANCE_DELIVERY;
    const running = this.perApp.get(share) ?? 0;
    if (!lastChance && running >= this.appLimit) return this.defer(m, task);
    // and one of the plugin's slots across every runner (MW_SLOTS): none free, the task goes back
    let slot: HeldSlot | undefined;
    try {
      const taken = lastChance ? undefined : await this.takeSlot(task);
      if (taken === 'full') return this.defer(m, task);
      slot = taken;
    } catch (err) {
      this.log.warn({ err, app: task.app }, "could not take one of the plugin's slots; the task will be redelivered");
      m.nak(2000);
      return;
    }
    this.perApp.set(share, (this.perApp.get(share) ?? 0) + 1);
    this.deferredInARow = 0;
    const keepAlive = setInterval(() => {
      m.working();
      slot?.working();
    }, 1_000);
    let ended!: () => void;
    const window = new Promise<void>((resolve) => (ended = resolve));
    this.windowsRunning.add(window);
    this.inFlight.add(task);
    try {
      // deliveries handed back unrun are not attempts; this one is, whatever the count says: a
      // later delivery of the task (its ack wait ran out while this one waited for its slot) may
      // have been handed back already, and an output of attempt 0 is not valid (the writer would
      // dead-letter it, and the window would be lost). A poison mark is looked for, with the count,
      // by its deliveries, not its attempt: the delivery that crashed may not have been counted as one
      const redelivered = m.info.deliveryCount > 1;
      const [deferred, poisoned] = redelivered
        ? await Promise.all([unrunDeliveries(this.buckets.deferrals, outputKey(task)), this.buckets.poison.get(outputKey(task))])
        : [0, null];
      const attempt = Math.max(1, m.info.deliveryCount - deferred);
      let message: OutputMessage;
      const artifacts: WindowArtifact[] = [];
      if (poisoned) {
        // this window crashed a runner; the supervisor has recorded it as failed
        m.ack();
        return;
      }
      if (lastChance) {
        message = this.message(
          task,
          this.failed(task, attempt, {
            code: 'WINDOW_FAILED',
            message: `gave up at delivery ${m.info.deliveryCount} of at most ${MaxDeliver[Consumers.runners]}: its deliveries were handed back unrun (its plugin's slots were taken) or lost with runners other windows crashed`,
          }),
        );
      } else if (attempt >= this.attempts + CRASH_TOLERANCE) {
        // every earlier delivery ended without an outcome: runners died or lost NATS each time
        message = this.message(
          task,
          this.failed(task, attempt - 1, {
            code: 'WINDOW_FAILED',
            message: `gave up after ${attempt - 1} deliveries ended without an outcome (the runner died or lost NATS each time)`,
          }),
        );
      } else {
        // an output too large for a NATS message comes back as the app's failure, tried as any other
        message = this.message(task, await this.analyse(task, attempt, artifacts));
        const { outcome, error } = message.output;
        if (outcome === 'error' && error && isRetryable(error.code) && attempt < this.attempts) {
          // a retryable failure (errors.ts): the next attempt may run elsewhere or with more luck
          this.log.info(
            { app: task.app, endpoint: task.endpointName, windowStart: task.windowStart, attempt, error: error.code },
            'window failed; it will be tried again',
          );
          m.nak(500 * attempt);
          return;
        }
      }
      const { output, data } = message;
      // stored before the output that names them: a crash in between leaves them to be put again
      if (output.artifacts) await this.storeArtifacts(task, artifacts);
      await this.js.publish(Subjects.outputs(task.endpointId), data, { msgID: outputMsgId(task, task.binding) });
      m.ack();
    } catch (err) {
      // NATS trouble: the task comes back to this or another runner.
      this.log.warn({ err, task }, 'task failed for lack of NATS, will be redelivered');
      m.nak(2000);
    } finally {
      clearInterval(keepAlive);
      // the slot back to the plugin's share, for this or another runner's next window
      slot?.release();
      this.windowsRunning.delete(window);
      this.inFlight.delete(task);
      ended();
      const left = (this.perApp.get(share) ?? 1) - 1;
      if (left > 0) this.perApp.set(share, left);
      else this.perApp.delete(share);
    }
  }

  /**
   * One of the task's plugin's slots across every runner: a token of its slot consumer, held until
   * the window ends (`max_ack_pending` of the consumer is the cap). `'full'` when none came within
   * SLOT_WAIT_MS; undefined when the plugin has no slots (not made yet, or by a host before them):
   * the window then runs under this runner's own cap alone.
   */
  private async takeSlot(task: TaskMessage): Promise<HeldSlot | 'full' | undefined> {
    const name = slotConsumerName(task.app, task.shadow ? 'shadow' : 'active');
    let known = this.slotConsumers.get(name);
    if (!known || (!known.there && Date.now() - known.at > SLOT_LOOKUP_MS)) {
      let there = false;
      try {
        await this.jsm.consumers.info(Streams.slots, name);
        there = true;
      } catch (err) {
        this.log.debug({ err, app: task.app }, "the plugin's slots are not there; its windows run under this runner's cap");
      }
      known = { there, at: Date.now() };
      this.slotConsumers.set(name, known);
    }
    if (!known.there) return undefined;
    // a token of the plugin's last window here, kept for this one: no request
    const kept = this.keptSlots.get(name)?.pop();
    if (kept) {
      clearTimeout(kept.timer);
      // kept alive now if the server last heard of it a while ago (its window's keep-alives are a second apart)
      let signalled = kept.signalled;
      if (Date.now() - signalled > 500) {
        this.opts.nc.publish(kept.ackSubject, '+WPI');
        signalled = Date.now();
      }
      // when the server last heard of it, not now: else back-to-back windows never keep it alive
      return this.heldSlot(name, kept.ackSubject, signalled);
    }
    // a pull of one token that does not wait (the client's own pulls wait at least a second):
    // a status instead of a token (no token free, the plugin at its cap) says the slots are full
    const { nc } = this.opts;
    const got = await nc.request(`$JS.API.CONSUMER.MSG.NEXT.${Streams.slots}.${name}`, jsonCodec.encode({ batch: 1, no_wait: true }), {
      timeout: 5000,
      // a reply of its own: the token is a stream message with headers, which the shared reply subscription does not take
      noMux: true,
    });
    if (got.headers?.hasError || got.headers?.code || !got.reply) return 'full';
    return this.heldSlot(name, got.reply);
  }

  /**
   * A token held for a window: released, it is kept SLOT_KEEP_MS for the plugin's next window
   * here, then handed back (`-NAK`). Held or kept, it counts in the consumer's `num_ack_pending`,
   * so the cap holds: a kept token is a window of this runner about to start, or back in the
   * plugin's share within SLOT_KEEP_MS.
   */
  private heldSlot(name: string, ackSubject: string, signalledAt = Date.now()): HeldSlot {
    const { nc } = this.opts;
    let signalled = signalledAt;
    return {
      working: () => {
        nc.publish(ackSubject, '+WPI');
        signalled = Date.now();
      },
      release: () => {
        const kept: KeptSlot = { ackSubject, signalled, timer: setTimeout(() => this.handBack(name, kept), SLOT_KEEP_MS) };
        kept.timer.unref();
        const list = this.keptSlots.get(name);
        if (list) list.push(kept);
        else this.keptSlots.set(name, [kept]);
      },
    };
  }

  /** A kept token back to its plugin's share. */
  private handBack(name: string, kept: KeptSlot): void {
    clearTimeout(kept.timer);
    const list = this.keptSlots.get(name);
    const i = list?.indexOf(kept) ?? -1;
    if (i < 0) return;
    list!.splice(i, 1);
    if (list!.length === 0) this.keptSlots.delete(name);
    try {
      this.opts.nc.publish(kept.ackSubject, '-NAK');
    } catch (err) {
      // the connection is closing: the server takes the token back after the ack wait
      this.log.debug({ err }, 'could not hand a slot token back');
    }
  }

  /** Hand a task back unrun (its plugin has its share of this runner's slots), counted so it is not taken for an attempt. */
  private async defer(m: JsMsg, task: TaskMessage): Promise<void> {
    this.deferredInARow++;
    try {
      await countUnrunDelivery(this.buckets.deferrals, outputKey(task));
    } catch (err) {
      this.log.warn({ err, app: task.app }, 'could not count a deferred task');
    }
    m.nak(DEFER_MS);
  }

  /** Hand a task back unrun, as `defer` does; one that is not JSON is left for the delivery that runs it (and dead-letters it). */
  private async handBackTask(m: JsMsg): Promise<void> {
    let task: TaskMessage;
    try {
      task = jsonCodec.decode<TaskMessage>(m.data);
    } catch {
      m.nak(DEFER_MS);
      return;
    }
    await this.defer(m, task);
  }

  /** The windows being worked on, as a crash report names them (read as the process dies: must not throw). */
  private readonly lostWindows = (tasks: Iterable<TaskMessage> = this.inFlight): LostWindow[] =>
    [...tasks].map((t) => ({
      endpointId: t.endpointId,
      app: t.app,
      version: t.version,
      windowStart: t.windowStart,
      ...(t.shadow ? { shadow: true as const } : {}),
    }));

  private base(task: TaskMessage, attempts: number): AppOutputMessage {
    return windowOutput(task, { runner: this.name, attempts });
  }

  /**
   * A window's output as the message that carries it. One larger than the NATS server takes
   * (output-limit.ts) is replaced by the window's failure, the app's: its publish, refused, was
   * taken for NATS trouble, and the window ran delivery after delivery until WINDOW_FAILED.
   */
  private message(task: TaskMessage, output: AppOutputMessage): OutputMessage {
    if (task.shadow && output.artifacts) {
      // a shadow's artifacts are not kept: mw_artifacts names a window's artifacts without a
      // version, so they would replace the active version's
      const { artifacts: _dropped, ...rest } = output;
      output = rest;
    }
    // the task's binding, echoed: the writer stores the output only when it verifies, and the
    // message id carries part of it, so nobody without it can take this output's id first
    const binding = task.binding ? { binding: task.binding } : {};
    if (task.binding) output = { ...output, ...binding };
    const data = jsonCodec.encode(output);
    const maxPayload = this.maxPayload();
    if (maxPayload === undefined || data.byteLength <= outputBytesLimit(maxPayload)) return { output, data };
    const failed: AppOutputMessage = {
      ...this.failed(task, output.attempts ?? 1, outputTooLarge(data.byteLength, maxPayload), output.rows),
      durationMs: output.durationMs,
      ...binding,
    };
    // with the window's profile, unless the profile is what does not fit (thousands of features)
    if (output.profile) {
      const withProfile = { ...failed, profile: output.profile };
      const bytes = jsonCodec.encode(withProfile);
      if (bytes.byteLength <= outputBytesLimit(maxPayload)) return { output: withProfile, data: bytes };
    }
    return { output: failed, data: jsonCodec.encode(failed) };
  }

  /** The NATS server's max payload (of the server connected to now: servers of a cluster may differ). */
  private maxPayload(): number | undefined {
    return this.opts.nc.info?.max_payload;
  }

  private failed(task: TaskMessage, attempts: number, error: ErrorData, rows = 0): AppOutputMessage {
    const where = `${task.app}@${task.version} on endpoint ${task.endpointName}, window ${new Date(task.windowStart).toISOString()}`;
    this.log.warn({ app: task.app, version: task.version, endpoint: task.endpointName, windowStart: task.windowStart, attempts, error }, 'app failed');
    return failedOutput(task, { ...error, message: `${where}: ${error.message}` }, { runner: this.name, attempts, rows });
  }

  /** A window's artifacts into `mw_artifacts`, under `<endpoint id>/<app>/<window start>/<name>`, with what the listing shows. */
  private async storeArtifacts(task: TaskMessage, artifacts: readonly WindowArtifact[]): Promise<void> {
    // put together: each is its own object (one that fits in a chunk is two publishes, see objects.ts)
    await Promise.all(
      artifacts.map((a) =>
        putObject(
          this.opts.nc,
          this.js,
          this.jsm,
          this.buckets.artifacts,
          ARTIFACT_STORE,
          {
            name: artifactKey(task.endpointId, task.app, task.windowStart, a.name),
            // named by its window: stored before only when the task ran before
            fresh: true,
            metadata: {
              endpoint: task.endpointName,
              app: task.app,
              version: task.version,
              windowStart: String(task.windowStart),
              windowEnd: String(task.windowEnd),
              contentType: a.contentType,
            },
          },
          a.body,
          this.log,
        ),
      ),
    );
  }

  /**
   * Analyse one window. Never throws for anything the app or its data did: that is an outcome.
   * NATS trouble throws. `artifacts` receives the artifacts of an `ok` outcome, which names them.
   */
  private async analyse(task: TaskMessage, attempt: number, artifacts: WindowArtifact[] = []): Promise<AppOutputMessage> {
    const base = this.base(task, attempt);
    const endpoint = await this.endpoints.get(task.endpointName);
    if (!endpoint) return this.failed(task, attempt, { code: 'NOT_FOUND', message: `endpoint '${task.endpointName}' no longer exists` });
    const plugin = await this.plugins.get(task.app);
    const version = plugin?.versions.find((v) => v.version === task.version);
    if (!plugin || !version) return this.failed(task, attempt, { code: 'NOT_FOUND', message: `plugin ${task.app}@${task.version} is not registered` });
    // the endpoint's reference asked for with the rows, not after them (kept by referenceData: input() takes it from there)
    const versionKey = `${plugin.name}@${version.version}\u0000${JSON.stringify(version.config ?? null)}`;
    const eagerReference = version.referenceRows === true && this.referenceReaders.has(versionKey);
    if (eagerReference) this.referenceData(endpoint).catch(() => undefined);
    const data = await this.windowData(endpoint, task, task.endpointId);
    base.rows = data.length;
    // the window's profile goes with every outcome that read rows: the writer keeps it once per window
    if (data.length > 0) base.profile = compactProfile(data.sampleStats);
    if (data.length === 0 && !version.runOnEmptyWindows) return { ...base, outcome: 'empty', completedAt: Date.now() };
    let sandbox: Sandbox;
    try {
      sandbox = await this.sandbox(plugin.name, version);
    } catch (err) {
      if (err instanceof ModelwatchError)
        return { ...this.failed(task, attempt, errorData(err), data.length), ...(base.profile ? { profile: base.profile } : {}) };
      throw err;
    }
    const input = await this.input(task, endpoint, plugin, version, data, eagerReference);
    // a reference read on the app's demand that failed is NATS trouble, not the app's
    let referenceFailed: { err: unknown } | undefined;
    const loadReference =
      version.referenceRows && !eagerReference && endpoint.referenceRevision
        ? () => {
            this.referenceReaders.add(versionKey);
            return this.referenceData(endpoint).catch((err: unknown) => {
              referenceFailed = { err };
              throw err;
            });
          }
        : undefined;
    const started = performance.now();
    try {
      const logged: WindowArtifact[] = [];
      const running: CrashReport = {
        app: task.app,
        version: task.version,
        message: '',
        window: {
          endpointId: task.endpointId,
          endpointName: task.endpointName,
          windowStart: task.windowStart,
          windowEnd: task.windowEnd,
          ...(task.shadow ? { shadow: true as const } : {}),
        },
      };
      this.inSandbox.add(running);
      this.entered.add(task);
      this.memoryWatch?.wake();
      let json: string;
      try {
        json = await sandbox.run(input, {
          onLog: (line) => this.pluginLog(line, task),
          onArtifact: (a) => logged.push(a),
          ...(loadReference ? { loadReference } : {}),
        });
      } finally {
        this.inSandbox.delete(running);
      }
      const durationMs = performance.now() - started;
      let normalized;
      try {
        normalized = normalizeAppOutput(JSON.parse(json), { maxExtraDataBytes: version.limits.extraDataBytes });
      } catch (err) {
        throw new ModelwatchError('APP_INVALID_OUTPUT', `returned an invalid output: ${(err as Error).message}`);
      }
      artifacts.push(...logged);
      const refs = logged.map((a) => ({
        id: artifactId(task.app, task.windowStart, a.name),
        name: a.name,
        contentType: a.contentType,
        size: a.body.byteLength,
      }));
      return { ...base, ...normalized, durationMs, completedAt: Date.now(), ...(refs.length ? { artifacts: refs } : {}) };
    } catch (err) {
      if (referenceFailed) throw referenceFailed.err;
      return {
        ...this.failed(task, attempt, errorData(err, 'APP_ERROR'), data.length),
        durationMs: performance.now() - started,
        ...(base.profile ? { profile: base.profile } : {}),
      };
    }
  }

  private async input(
    task: TaskMessage,
    endpoint: EndpointRecord,
    plugin: PluginRecord,
    version: PluginVersionRecord,
    data: WindowData,
    withReference: boolean,
  ): Promise<SandboxInput> {
    const input: SandboxInput = {
      applicationName: plugin.name,
      endpoint: { id: endpoint.id, name: endpoint.name, featureNames: endpoint.featureNames, labelNames: endpoint.labelNames },
      windowStart: task.windowStart,
      windowEnd: task.windowEnd,
      sample: data,
      sampleStats: data.sampleStats,
      featureStats: endpoint.featureStats,
      config: version.config,
      ...(task.shadow ? { shadow: true as const } : {}),
    };
    if (withReference) {
      const reference = await this.referenceData(endpoint);
      if (reference) input.reference = reference;
    }
    if (version.groundTruthDelayMs !== undefined) {
      const labels = await readLabels(this.js, endpoint, task.windowStart - 60_000);
      const joined = withGroundTruth(data, endpoint.labelNames, labels);
      input.sample = joined.sample;
      input.groundTruth = joined.groundTruth;
    }
    return input;
  }

  /** A plugin's log line: to this process's log, and to `mw.logs.<app>` for `modelwatch plugin logs`. */
  private pluginLog(line: LogLine, task: TaskMessage): void {
    this.log[line.level](
      { plugin: task.app, version: task.version, endpoint: task.endpointName, windowStart: task.windowStart, pluginFields: line.fields || undefined },
      line.message,
    );
    const entry: PluginLogLine = {
      time: Date.now(),
      level: line.level,
      plugin: task.app,
      version: task.version,
      endpoint: task.endpointName,
      windowStart: task.windowStart,
      message: line.message,
      ...(line.fields ? { fields: line.fields } : {}),
    };
    try {
      this.opts.nc.publish(Subjects.logs(task.app), jsonCodec.encode(entry));
    } catch {
      /* logs are best effort */
    }
  }

  private async referenceData(endpoint: EndpointRecord): Promise<SampleData | undefined> {
    if (!endpoint.referenceRevision) return undefined;
    // packed by the endpoint's feature names and statistics: a change of the endpoint packs it again
    const key = `${endpoint.id}.${endpoint.referenceRevision}.${endpoint.updatedAt}`;
    const entry = this.references.getOrCreate(key, () => {
      const e = {
        bytes: 0,
        // one chunk (most references) by two gets, not a consumer made for it
        sample: readObject(this.jsm, this.buckets.references, REFERENCE_STORE, `${endpoint.id}.json`).then((blob) => {
          if (!blob) return undefined;
          const table = JSON.parse(new TextDecoder().decode(blob)) as ReferenceTable;
          return referenceSample(table, endpoint);
        }),
      };
      // counted once loaded; a failed load is not kept
      e.sample.then(
        (sample) => {
          if (!sample) return;
          e.bytes = sampleBytes(sample);
          this.references.resize(key);
        },
        () => this.references.delete(key),
      );
      return e;
    });
    return await entry.sample;
  }

  /** `rowsId`: the endpoint's id, or `<id>-<batch>` for the windows of a batch of historical events. */
  private async windowData(
    endpoint: EndpointRecord,
    w: Pick<TaskMessage, 'windowStart' | 'windowEnd' | 'rowKeys' | 'rowParts'>,
    rowsId = endpoint.id,
  ): Promise<WindowData> {
    const keys = w.rowKeys ?? [w.windowStart];
    const key = `${rowsId}.${w.windowStart}.${w.windowEnd}.${keys.join(',')}.${endpoint.updatedAt}`;
    let p = this.windows.get(key);
    if (!p) {
      // rows read from the subjects of other windows too are kept by their time
      const within = w.rowKeys ? { start: w.windowStart, end: w.windowEnd } : undefined;
      p = readWindowRows(this.js, this.jsm, rowsId, keys, w.rowParts).then((batches) => buildWindowData(batches, endpoint, within));
      this.windows.set(key, p);
      p.catch(() => this.windows.delete(key));
      while (this.windows.size > MAX_CACHED_WINDOWS) this.windows.delete(this.windows.keys().next().value!);
    }
    return await p;
  }

  /** The sandbox of a plugin version: one isolate per version, the newest used kept (LRU). */
  private async sandbox(name: string, version: PluginVersionRecord): Promise<Sandbox> {
    const key = `${name}@${version.version}`;
    let sb = this.sandboxes.get(key);
    if (sb) {
      this.sandboxes.delete(key);
      this.sandboxes.set(key, sb);
      return sb;
    }
    const [code, map] = await Promise.all([
      this.buckets.bundles.getBlob(bundleName(name, version.version)),
      this.buckets.bundles.getBlob(`${bundleName(name, version.version)}.map`).catch(() => null),
    ]);
    if (!code) throw new ModelwatchError('NOT_FOUND', `the bundle of ${key} is missing from the bundle store`);
    const dec = new TextDecoder();
    sb = createSandbox({
      name,
      version: version.version,
      code: dec.decode(code),
      limits: version.limits,
      ...(version.isolation ? { isolation: version.isolation } : {}),
      ...(map ? { sourceMap: dec.decode(map) } : {}),
      inFlight: this.lostWindows,
    });
    sb.load();
    this.sandboxes.set(key, sb);
    while (this.sandboxes.size > MAX_SANDBOXES) {
      const [oldKey, old] = this.sandboxes.entries().next().value!;
      old.dispose();
      this.sandboxes.delete(oldKey);
    }
    return sb;
  }
}

export { failedOutput, windowOutput, type OutputSource, type OutputWindow } from '../domain/outputs.js';
