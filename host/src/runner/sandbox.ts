import { SourceMap, type SourceMapPayload } from 'node:module';
import { writeSync } from 'node:fs';
import ivm from 'isolated-vm';
import { CRASH_MARKER, type CrashReport, type LostWindow, type PluginLimits } from '@modelwatch/protocol';
import { ModelwatchError, type ErrorCode } from '../errors.js';
import { BUNDLE_GLOBAL } from '../plugins/bundle-format.js';
import { ARTIFACT_NAME_PATTERN, CONTENT_TYPE_PATTERN, DEFAULT_ARTIFACT_LIMITS, MAX_ARTIFACTS_PER_WINDOW, type ArtifactLimits } from '../sdk-internal.js';
import type { PluginBundle } from '../plugins/bundle.js';
import {
  Answer,
  FACTORY_GLOBAL,
  HOST_OPERATIONS,
  MAX_LOG_LINE_CHARS,
  MAX_LOG_LINES_PER_WINDOW,
  MAX_OUTPUT_CHARS,
  type HostOperations,
  type LogLevel,
  type SampleName,
  type SampleSpec,
  type SampleText,
  type WindowMeta,
} from './isolate/contract.js';
import type * as Runtime from './isolate/runtime.js';
import { RUNTIME_FILENAME, sandboxRuntimeCode } from './runtime-bundle.js';

export { MAX_OUTPUT_CHARS };

/** A sample (the window's rows, or the reference's) as the sandbox receives it. */
export interface SampleData {
  length: number;
  /** All column names in order. */
  columns: readonly string[];
  /** Names of the numeric columns, in the order they are packed. */
  numeric: readonly string[];
  /** Column-major float64: each numeric column (`length` values); when `timed`, then the timestamps and latencies. */
  packed: Float64Array;
  strings: Record<string, Array<string | null>>;
  requestIds: Array<string | null>;
  timed: boolean;
}

/** One window as the sandbox receives it. */
export interface SandboxInput {
  applicationName: string;
  endpoint: { id: string; name: string; featureNames: readonly string[]; labelNames: readonly string[] };
  windowStart: number;
  windowEnd: number;
  /** The window's rows. With ground truth, its numeric columns follow the latencies in `sample.packed`. */
  sample: SampleData;
  /** The reference rows, for apps that ask for them (`referenceRows` in plugin.json). */
  reference?: SampleData;
  groundTruth?: { matched: number; numeric: string[]; strings: Record<string, Array<string | null>> };
  sampleStats: unknown;
  featureStats: unknown;
  config: unknown;
  /** A shadow version's window (host-side only: a crash report says so; the app does not see it). */
  shadow?: true;
}

export interface LogLine {
  level: LogLevel;
  message: string;
  fields: string;
}

export interface SandboxOptions {
  name: string;
  version: string;
  code: string;
  limits: PluginLimits;
  /** The bundle's source map (JSON): stack traces are mapped to the plugin's TypeScript. */
  sourceMap?: string;
  /**
   * `window` (default): every window gets a fresh instance of the plugin's module in a pristine
   * realm; nothing a window does reaches the next.
   * `version`: the module is made once per plugin version and kept, with its context: whatever a
   * window leaves in module state, globals or intrinsics is seen by the next windows of the same
   * version (never by another plugin or version: each has its own isolate).
   */
  isolation?: 'window' | 'version';
  /**
   * The check or the dry run at publish (a synthetic window): a crash report says so, and no
   * stored window is marked or recorded as failed for it.
   */
  atPublish?: boolean;
  /**
   * The windows this process is working on, read when a crash of this sandbox's isolate takes the
   * process down: a crash report names them as bystanders (`CrashReport.bystanders`), so their
   * lost delivery does not count as one of their attempts. The window that crashed may be among
   * them. Must not throw.
   */
  inFlight?: () => LostWindow[];
}

/** The limits on one call of a plugin (see PluginSandbox.startClock). */
interface WindowClock {
  began: number;
  /** Rejects with APP_TIMEOUT when a limit is passed (and disposes the isolate). */
  deadline: Promise<never>;
  stop(): void;
}

/** An artifact a window attached (`ctx.logArtifact`), within the plugin's limits. */
export interface WindowArtifact {
  name: string;
  contentType: string;
  body: Uint8Array;
}

export interface RunOptions {
  /** Where the plugin's log lines go (truncated, at most 100 a window). */
  onLog?: (line: LogLine) => void;
  /**
   * Where the window's artifacts go, as the app logs them (a window that then fails had them
   * too: keep them only with an output). Without it, `ctx.logArtifact` still checks and counts.
   */
  onArtifact?: (artifact: WindowArtifact) => void;
  /**
   * The reference rows of an app that asks for them (`referenceRows`), read only if the app reads
   * `ctx.reference`: given instead of `SandboxInput.reference`, the window runs without them
   * first, and once more with them if the app reads `ctx.reference` (what that first run did,
   * its output, error, log lines and artifacts, is dropped). Its rejection is the run's: thrown
   * as it is, not as the app's error.
   */
  loadReference?: () => Promise<SampleData | undefined>;
}

/**
 * A plugin version's sandbox: what the runner, the dry run and the local tools (`plugin build`,
 * `plugin test`) use. Runs are serialised; after any failure the next run starts from a fresh
 * isolate. `createSandbox()` and `sandboxOf()` make one (`PluginSandbox`, on isolated-vm).
 */
export interface Sandbox {
  /** Compile the bundle. @throws {ModelwatchError} PLUGIN_LOAD_FAILED on a syntax error */
  load(): void;
  /**
   * Check that the bundle loads and default-exports a class extending MonitoringApplication with
   * doTracking, without calling it. @throws {ModelwatchError} PLUGIN_LOAD_FAILED saying what is wrong
   */
  check(): Promise<void>;
  /**
   * Run doTracking on one window: its output as JSON text (plain data, at most MAX_OUTPUT_CHARS).
   * @throws {ModelwatchError} APP_ERROR, APP_TIMEOUT, APP_MEMORY_LIMIT, APP_INVALID_OUTPUT or PLUGIN_LOAD_FAILED
   */
  run(input: SandboxInput, options?: RunOptions): Promise<string>;
  /** How many contexts this sandbox made (the first, and one for every window that left its realm changed or failed). */
  readonly contextsCreated: number;
  /** Let go of the isolate; a later run makes a new one. */
  dispose(): void;
}

/** A sandbox for a plugin version. */
export function createSandbox(options: SandboxOptions): Sandbox {
  return new PluginSandbox(options);
}

/** The sandbox of a bundle as `bundlePlugin` made it: its manifest's name, version, limits and isolation, and its source map. */
export function sandboxOf(bundle: PluginBundle, overrides: Partial<SandboxOptions> = {}): Sandbox {
  return PluginSandbox.fromBundle(bundle, overrides);
}

/** How often the CPU-time watchdog looks. */
const WATCHDOG_MS = 25;
/** The least slack the wall-clock backstop gives a call beyond its time limit. */
const BACKSTOP_MS = 2000;
/**
 * Bound on preparing a fresh context (hardening and recording its realm: the host's code, no
 * plugin code runs), which is not charged to the plugin's time limit: about 20 ms on an idle
 * machine, several hundred on a loaded one.
 */
const SETUP_TIMEOUT_MS = 10_000;

/**
 * JSON text of the window and reference statistics, made once per object: every app of a
 * window gets the same sampleStats object, every window of an endpoint the same featureStats
 * (the runner treats both as immutable).
 */
const jsonTexts = new WeakMap<object, string>();
function jsonOf(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value ?? null);
  let text = jsonTexts.get(value);
  if (text === undefined) jsonTexts.set(value, (text = JSON.stringify(value)));
  return text;
}

/**
 * The bundle as a module factory: every call evaluates the plugin's module anew. Defined once per
 * context, on a global the runtime takes and deletes before any plugin code runs; the bundle's
 * lines keep their numbers (the wrapper's first line is line 0).
 */
const factorySource = (code: string) =>
  `Object.defineProperty(globalThis, '${FACTORY_GLOBAL}', { configurable: true, value: function () {\n${code}\n;return typeof ${BUNDLE_GLOBAL} === 'undefined' ? undefined : ${BUNDLE_GLOBAL};\n} });`;

/** A reference to one of the runtime's operations (its exports), typed by the runtime's module. */
/**
 * V8's code cache of the sandbox runtime's module, made by the first isolate that compiles it and
 * given to every later one (a new version, a context replaced after a dirty realm): they skip
 * parsing it. Keyed by the code (one runtime per process); V8 checks the data and rejects what
 * does not fit, and then the next compile makes it anew.
 */
let runtimeCache: { code: string; data: ivm.ExternalCopy<ArrayBuffer> } | undefined;

async function compileRuntime(isolate: ivm.Isolate, code: string): Promise<ivm.Module> {
  const cached = runtimeCache?.code === code ? runtimeCache.data : undefined;
  const module = await isolate.compileModule(code, {
    filename: RUNTIME_FILENAME,
    ...(cached ? { cachedData: cached } : { produceCachedData: true }),
  });
  const result = module as ivm.Module & ivm.CachedDataResult & { cachedDataRejected?: boolean };
  if (cached && result.cachedDataRejected) runtimeCache = undefined;
  else if (!cached && result.cachedData) runtimeCache = { code, data: result.cachedData };
  return module;
}

type RuntimeOperation<K extends keyof typeof Runtime> = ivm.Reference<(typeof Runtime)[K]>;

/** A context with the runtime evaluated in it and the plugin's factory defined. */
interface PreparedContext {
  operation<K extends keyof typeof Runtime>(name: K): Promise<RuntimeOperation<K>>;
  release(): void;
}

/**
 * A plugin version's isolate. Every window gets a fresh instance of the plugin's module, in a
 * realm that is as the first window found it: the context is kept from window to window only
 * while the realm stays pristine (checked before each window; globals a window added are
 * deleted), and replaced by a fresh one as soon as a window changed any intrinsic. So the JIT
 * keeps its work across windows, and nothing a window does reaches the next. After any
 * failure the isolate is thrown away and a new one made for the next window.
 */
export class PluginSandbox implements Sandbox {
  private isolate: ivm.Isolate | undefined;
  /** The plugin's bundle wrapped as a module factory, compiled once per isolate. */
  private plugin: ivm.Script | undefined;
  /** The sandbox runtime's module (see runtime-bundle.ts), evaluated in every fresh context. */
  private runtimeCode = '';
  private readonly filename: string;
  /** The window running now on the isolate, or the last one run there (for its crash report). */
  private current: { window?: NonNullable<CrashReport['window']> } = {};
  /** The context windows run in, with the runtime's operations, kept while its realm stays pristine. */
  private live:
    | {
        isolate: ivm.Isolate;
        prepared: PreparedContext;
        runWindow: RuntimeOperation<'runWindow'>;
        takeOutput: RuntimeOperation<'takeOutput'>;
      }
    | undefined;
  /** Runs are serialised: an isolate executes one thing at a time anyway, and a failing window must not take others down with it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The window running now: what the context's host operations answer for. */
  private active:
    | {
        seq: number;
        input: SandboxInput;
        artifacts: { names: Set<string>; bytes: number; onArtifact: RunOptions['onArtifact'] };
        /** A run whose reference is deferred: set when the app reads `ctx.reference`. */
        deferral?: { wanted: boolean };
      }
    | undefined;
  /** Late log lines (the log callback is asynchronous) still go to their window's onLog for a moment. */
  private readonly recent = new Map<number, { onLog: ((line: LogLine) => void) | undefined; logs: number }>();
  private seq = 0;
  /**
   * The statistics this version's app read in a window (through `sampleStats`/`featureStats`):
   * from then on they come with each window's call (`WindowStatsText`), not by a call back.
   */
  private readonly readsStats = { sample: false, reference: false };
  /** How many times the app's statistics came by a call back (for tests: once each, in the first window that reads them). */
  statsCalledBack = 0;
  /** How many contexts this sandbox made (the first, and one for every window that left its realm changed or failed). */
  contextsCreated = 0;

  private readonly mapper: StackMapper;
  /** The host's operations, as the runtime calls them (each checks its window is the one running). */
  private readonly hostOperations: HostOperations = {
    sampleColumns: (seq, sample) => this.sampleColumns(seq, sample),
    sampleText: (seq, sample) => this.sampleText(seq, sample),
    sampleStats: (seq) => {
      this.readsStats.sample = true;
      this.statsCalledBack++;
      return jsonOf(this.window(seq).sampleStats);
    },
    featureStats: (seq) => {
      this.readsStats.reference = true;
      this.statsCalledBack++;
      return jsonOf(this.window(seq).featureStats);
    },
    log: (seq, level, message, fields) => this.log(seq, level, message, fields),
    artifact: (seq, name, contentType, body) => this.artifact(seq, name, contentType, body),
    wantReference: (seq) => {
      const active = this.active;
      if (active && active.seq === seq && active.deferral) active.deferral.wanted = true;
    },
  };

  constructor(private readonly opts: SandboxOptions) {
    this.filename = `file:///plugins/${opts.name}@${opts.version}/plugin.js`;
    this.mapper = new StackMapper(this.filename, opts.sourceMap);
  }

  /** The sandbox of a bundle as `bundlePlugin` made it: its manifest's name, version, limits and isolation, and its source map. */
  static fromBundle(bundle: PluginBundle, overrides: Partial<SandboxOptions> = {}): PluginSandbox {
    const m = bundle.manifest;
    return new PluginSandbox({
      name: m.name,
      version: m.version,
      code: bundle.code,
      limits: m.limits,
      sourceMap: bundle.map,
      ...(m.isolation ? { isolation: m.isolation } : {}),
      ...overrides,
    });
  }

  /** Compile the bundle (throws PLUGIN_LOAD_FAILED on a syntax error). */
  load(): void {
    this.ensure();
  }

  private ensure(): { isolate: ivm.Isolate; plugin: ivm.Script } {
    if (this.isolate && !this.isolate.isDisposed && this.plugin) return { isolate: this.isolate, plugin: this.plugin };
    this.disposeIsolate();
    // the runtime first: a broken installation is not the plugin's fault
    const runtimeCode = sandboxRuntimeCode();
    // the crash report names the window this isolate last ran, even once a newer isolate runs another
    const current: PluginSandbox['current'] = (this.current = {});
    const isolate = new ivm.Isolate({
      memoryLimit: Math.max(8, this.opts.limits.memoryMb),
      // V8 cannot recover from this: say which window did it (synchronously, on stderr, for the
      // supervisor), then abort; only this runner process dies and the supervisor restarts it.
      onCatastrophicError: (message: string) => {
        try {
          const report: CrashReport = {
            app: this.opts.name,
            version: this.opts.version,
            message,
            window: current.window ?? null,
            ...(this.opts.atPublish ? { atPublish: true } : {}),
          };
          const bystanders = this.opts.inFlight?.();
          if (bystanders?.length) report.bystanders = bystanders;
          writeSync(2, `${CRASH_MARKER}${JSON.stringify(report)}\n`);
        } finally {
          process.abort();
        }
      },
    });
    try {
      this.plugin = isolate.compileScriptSync(factorySource(this.opts.code), { filename: this.filename, lineOffset: -1 });
    } catch (err) {
      isolate.dispose();
      throw new ModelwatchError('PLUGIN_LOAD_FAILED', `${this.opts.name}@${this.opts.version} does not compile: ${(err as Error).message}`);
    }
    this.isolate = isolate;
    this.runtimeCode = runtimeCode;
    return { isolate, plugin: this.plugin };
  }

  /**
   * Run doTracking for one window. Resolves to the output's JSON text; rejects with a
   * ModelwatchError (APP_ERROR, APP_TIMEOUT, APP_MEMORY_LIMIT) that names the problem.
   */
  run(input: SandboxInput, runOptions: RunOptions = {}): Promise<string> {
    const { loadReference, ...options } = runOptions;
    if (!loadReference || input.reference) return this.queued(() => this.runOnce(input, options));
    return this.runDeferred(input, options, loadReference);
  }

  /** `f` after the runs queued before it. */
  private queued<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(f);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * A window whose reference is read only if the app reads it (`RunOptions.loadReference`): the
   * reference is read between the two runs, outside the queue (the version's other windows run
   * meanwhile).
   */
  private async runDeferred(
    input: SandboxInput,
    options: Omit<RunOptions, 'loadReference'>,
    loadReference: NonNullable<RunOptions['loadReference']>,
  ): Promise<string> {
    // the reference deferred: what this run does is held until it is known to count
    const deferral = { wanted: false };
    let verdict: 'keep' | 'drop' | undefined;
    const held: Array<() => void> = [];
    const hold =
      <T>(deliver: ((x: T) => void) | undefined) =>
      (x: T) => {
        if (!deliver || verdict === 'drop') return;
        if (verdict === 'keep') deliver(x);
        else held.push(() => deliver(x));
      };
    const first = await this.queued(() => this.runOnce(input, { onLog: hold(options.onLog), onArtifact: hold(options.onArtifact) }, deferral)).then(
      (out) => ({ out }),
      (err: unknown) => ({ err }),
    );
    if (!deferral.wanted) {
      verdict = 'keep';
      for (const deliver of held.splice(0)) deliver();
      if ('err' in first) throw first.err;
      return first.out;
    }
    verdict = 'drop';
    held.length = 0;
    const reference = await loadReference();
    return await this.queued(() => this.runOnce(reference ? { ...input, reference } : input, options));
  }

  private async runOnce(input: SandboxInput, runOptions: RunOptions, deferral?: { wanted: boolean }): Promise<string> {
    const { isolate, plugin } = this.ensure();
    this.current.window = {
      endpointId: input.endpoint.id,
      endpointName: input.endpoint.name,
      windowStart: input.windowStart,
      windowEnd: input.windowEnd,
      ...(input.shadow ? { shadow: true as const } : {}),
    };
    const timeout = this.opts.limits.timeoutMs;
    let clock: WindowClock | undefined;
    let failed = false;
    const onLog = runOptions.onLog;
    try {
      const keepModule = this.opts.isolation === 'version';
      const { sample, reference, groundTruth, sampleStats: _s, featureStats: _f, shadow: _shadow, ...head } = input;
      const spec = (sp: SampleData): SampleSpec => ({
        length: sp.length,
        columns: [...sp.columns],
        numeric: [...sp.numeric],
        stringColumns: Object.keys(sp.strings),
        timed: sp.timed,
      });
      const windowMeta: WindowMeta = {
        ...head,
        sample: spec(sample),
        ...(reference ? { reference: spec(reference) } : deferral ? { referenceDeferred: true as const } : {}),
        ...(groundTruth ? { groundTruth: { matched: groundTruth.matched, numeric: groundTruth.numeric, strings: Object.keys(groundTruth.strings) } } : {}),
        artifactLimits: this.artifactLimits(),
      };
      const meta = JSON.stringify(windowMeta);
      const seq = ++this.seq;
      this.active = { seq, input, artifacts: { names: new Set(), bytes: 0, onArtifact: runOptions.onArtifact }, ...(deferral ? { deferral } : {}) };
      if (onLog) this.recent.set(seq, { onLog, logs: 0 });
      let out: unknown;
      // a realm the last window left changed answers Answer.dirty without running anything: once
      // more in a fresh context (which is pristine by construction)
      for (let attempt = 0; attempt < 2; attempt++) {
        // a fresh context is the host's work, bounded on its own: the plugin's limits start after it
        // (charged to the plugin, it failed well-behaved windows on a loaded machine)
        const live = await this.liveContext(isolate, plugin);
        clock = this.startClock(isolate, timeout);
        const { began, deadline } = clock;
        // (not isolated-vm's promise results: in a long-lived context they hold native memory)
        const stats = [
          this.readsStats.sample ? jsonOf(input.sampleStats) : undefined,
          this.readsStats.reference ? jsonOf(input.featureStats) : undefined,
        ] as const;
        const call = live.runWindow.apply(undefined, [keepModule, seq, meta, ...stats], {
          timeout: Math.max(1, timeout - (Date.now() - began)),
          result: { copy: true },
        });
        call.catch(() => undefined); // raced below: a late rejection must not go unhandled
        out = await Promise.race([call, deadline]);
        if (out === Answer.dirty) {
          clock.stop();
          clock = undefined;
          this.dropContext();
          continue;
        }
        // an output doTracking returned as it is came with runWindow; a promise's is taken now
        if (out === undefined) {
          const take = live.takeOutput.apply(undefined, [seq], { timeout: Math.max(1, timeout - (Date.now() - began)), result: { copy: true } });
          take.catch(() => undefined);
          out = await Promise.race([take, deadline]);
        }
        if (out === Answer.pending)
          throw new ModelwatchError('APP_TIMEOUT', `${this.label()} did not finish: its promise can never settle (nothing is left to run in the sandbox)`);
        break;
      }
      if (typeof out !== 'string' || out === Answer.dirty) throw new ModelwatchError('APP_INVALID_OUTPUT', `${this.label()} returned no JSON output`);
      if (out.startsWith(Answer.invalid))
        throw new ModelwatchError('APP_INVALID_OUTPUT', `${this.label()} returned an invalid output: ${out.slice(Answer.invalid.length)}`);
      if (out.length > MAX_OUTPUT_CHARS) {
        throw new ModelwatchError('APP_INVALID_OUTPUT', `${this.label()} returned ${out.length} characters of output, over the limit of ${MAX_OUTPUT_CHARS}`);
      }
      this.checkMemory(isolate);
      return out;
    } catch (err) {
      const mapped = this.mapError(err, isolate, timeout, clock ? Date.now() - clock.began : 0);
      // what reading a deferred reference threw (or anything the app threw after it) keeps the
      // isolate, and the module a version keeps, for the run with the reference: the next run's
      // realm check still applies
      failed = !(deferral?.wanted && mapped.code === 'APP_ERROR');
      throw mapped;
    } finally {
      // this.current.window stays: an isolate that could not be stopped (one long builtin
      // operation past its deadline) may still crash V8 after the run is over, and that is this
      // window's doing
      const done = this.active;
      this.active = undefined;
      if (done && this.recent.has(done.seq)) setTimeout(() => this.recent.delete(done.seq), 1000).unref();
      clock?.stop();
      // After a failure the isolate may hold late rejections or broken state: start over.
      if (failed || isolate.isDisposed) this.disposeIsolate();
    }
  }

  /**
   * What the isolate holds once the call is over, its heap and what lives outside it (ArrayBuffers
   * and other external allocations), against the plugin's limit: over it, the window fails with
   * APP_MEMORY_LIMIT and the isolate is thrown away (isolated-vm checks at its garbage
   * collections and allocations, which a window can end between).
   */
  private checkMemory(isolate: ivm.Isolate): void {
    // synchronous: the isolate is idle once the call is over, and an asynchronous look would cost
    // the window one more hop to the isolate's thread and back
    const heap = isolate.getHeapStatisticsSync();
    const used = heap.used_heap_size + heap.externally_allocated_size;
    const limit = this.opts.limits.memoryMb * 1024 * 1024;
    if (used > limit) {
      throw new ModelwatchError(
        'APP_MEMORY_LIMIT',
        `${this.label()} exceeded its memory limit of ${this.opts.limits.memoryMb} MB: it holds ${Math.round(used / 1048576)} MB (heap and external allocations) after its window`,
      );
    }
  }

  /**
   * The plugin's limits on one call, from now. Three layers: the isolate's own timeout (sync
   * and microtask loops, given by the caller from `began`), a CPU-time watchdog (anything that
   * keeps the isolate's thread busy), and a wall-clock backstop for a call that neither runs nor
   * returns. The backstop leaves room for a call queued behind other plugins' calls on the
   * runner's threads: a busy runner must not fail a quick plugin. (A promise that can never
   * settle is found at once, see Answer.pending.)
   */
  private startClock(isolate: ivm.Isolate, timeout: number): WindowClock {
    let timer: NodeJS.Timeout | undefined;
    let watchdog: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      const kill = (why: string) => {
        reject(new ModelwatchError('APP_TIMEOUT', `${this.label()} ${why}`));
        if (!isolate.isDisposed) isolate.dispose();
      };
      timer = setTimeout(() => kill(`did not finish within its time limit of ${timeout} ms`), timeout + Math.max(timeout, BACKSTOP_MS));
      const cpuStart = isolate.cpuTime;
      const cpuLimit = BigInt(Math.round(timeout * 1e6));
      watchdog = setInterval(() => {
        if (!isolate.isDisposed && isolate.cpuTime - cpuStart > cpuLimit) kill(`used more than its ${timeout} ms of CPU time`);
      }, WATCHDOG_MS);
    });
    deadline.catch(() => undefined); // may fire after the race is settled
    return {
      began: Date.now(),
      deadline,
      stop: () => {
        clearTimeout(timer);
        clearInterval(watchdog);
      },
    };
  }

  /**
   * The context windows run in: the live one, or a fresh one (the runtime evaluated, the host's
   * operations bound, the pristine realm recorded; no plugin code runs here), within
   * SETUP_TIMEOUT_MS.
   */
  private async liveContext(isolate: ivm.Isolate, plugin: ivm.Script): Promise<NonNullable<PluginSandbox['live']>> {
    if (this.live?.isolate === isolate) return this.live;
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new ModelwatchError('APP_TIMEOUT', `${this.label()} could not be given a fresh context within ${SETUP_TIMEOUT_MS} ms (the runner is overloaded)`),
        );
        if (!isolate.isDisposed) isolate.dispose();
      }, SETUP_TIMEOUT_MS);
    });
    slow.catch(() => undefined);
    try {
      return await Promise.race([this.bindContext(isolate, plugin), slow]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async bindContext(isolate: ivm.Isolate, plugin: ivm.Script): Promise<NonNullable<PluginSandbox['live']>> {
    const timeout = SETUP_TIMEOUT_MS;
    const prepared = await this.prepareContext(isolate, plugin, timeout);
    try {
      const bindHost = await prepared.operation('bindHost');
      const ops = this.hostOperations;
      await bindHost.apply(
        undefined,
        HOST_OPERATIONS.map((name) =>
          name === 'log'
            ? new ivm.Callback(ops.log as (...a: unknown[]) => void, { ignored: true })
            : new ivm.Callback(ops[name] as (...a: unknown[]) => unknown),
        ) as unknown as Parameters<typeof Runtime.bindHost>,
        { timeout },
      );
      bindHost.release();
      const runWindow = await prepared.operation('runWindow');
      const takeOutput = await prepared.operation('takeOutput');
      this.live = { isolate, prepared, runWindow, takeOutput };
      return this.live;
    } catch (err) {
      prepared.release();
      throw err;
    }
  }

  /**
   * A fresh context: the runtime's module evaluated first (it hardens the realm before anything
   * else runs), then the plugin's factory defined (no plugin code runs).
   */
  private async prepareContext(isolate: ivm.Isolate, plugin: ivm.Script, timeout: number): Promise<PreparedContext> {
    const context = await isolate.createContext();
    this.contextsCreated++;
    let runtime: ivm.Module | undefined;
    let namespace: ivm.Reference<typeof Runtime> | undefined;
    // the module, its namespace and the context each hold the context until released
    const release = () => {
      for (const r of [namespace, runtime, context]) {
        try {
          r?.release();
        } catch {
          /* isolate already gone */
        }
      }
    };
    try {
      runtime = await compileRuntime(isolate, this.runtimeCode);
      await runtime.instantiate(context, (specifier) => {
        throw new Error(`the sandbox runtime imports nothing (it asked for '${specifier}')`);
      });
      await runtime.evaluate({ timeout });
      await plugin.run(context, { timeout });
      const exports = (namespace = runtime.namespace as ivm.Reference<typeof Runtime>);
      return {
        operation: async (name) => (await exports.get(name, { reference: true })) as RuntimeOperation<typeof name>,
        release,
      };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** The window `seq`, if it is the one running now: a context kept past its window gets nothing of another. */
  private window(seq: unknown): SandboxInput {
    const active = this.active;
    if (!active || active.seq !== seq) throw new Error('this window is over: its data is gone');
    return active.input;
  }

  private sampleOf(seq: unknown, sample: SampleName): SampleData {
    const input = this.window(seq);
    const s = sample === 'window' ? input.sample : sample === 'reference' ? input.reference : undefined;
    if (!s) throw new Error('no such sample');
    return s;
  }

  /** A sample's numbers, moved in: one host-side copy the isolate takes over. */
  private sampleColumns(seq: unknown, sample: SampleName): Float64Array | undefined {
    const a = this.sampleOf(seq, sample).packed;
    if (a.byteLength === 0) return undefined;
    return new ivm.ExternalCopy(a).copyInto({ release: true, transferIn: true }) as unknown as Float64Array;
  }

  /** A sample's strings and request ids (and the window's ground-truth strings) as JSON. */
  private sampleText(seq: unknown, sample: SampleName): string {
    const s = this.sampleOf(seq, sample);
    const input = this.window(seq);
    const text: SampleText = {
      strings: s.strings,
      requestIds: s.requestIds.some((r) => r !== null) ? s.requestIds : null,
      ...(sample === 'window' && input.groundTruth ? { groundTruth: input.groundTruth.strings } : {}),
    };
    return JSON.stringify(text);
  }

  /**
   * A log line of a window, cut in the isolate already (isolate/logs.ts); checked again: at most
   * MAX_LOG_LINES_PER_WINDOW a window and the line saying how many more were dropped, each part at
   * most MAX_LOG_LINE_CHARS.
   */
  private log(seq: unknown, level: unknown, message: unknown, fields: unknown): void {
    const w = typeof seq === 'number' ? this.recent.get(seq) : undefined;
    if (!w?.onLog || ++w.logs > MAX_LOG_LINES_PER_WINDOW + 1) return;
    const lvl = level === 'debug' || level === 'warn' || level === 'error' ? level : 'info';
    w.onLog({ level: lvl, message: String(message).slice(0, MAX_LOG_LINE_CHARS), fields: String(fields).slice(0, MAX_LOG_LINE_CHARS) });
  }

  /** The limits of `ctx.logArtifact` (a version recorded before they existed has the defaults). */
  private artifactLimits(): ArtifactLimits {
    const l = this.opts.limits;
    return {
      artifactBytes: l.artifactBytes ?? DEFAULT_ARTIFACT_LIMITS.artifactBytes,
      windowArtifactBytes: l.windowArtifactBytes ?? DEFAULT_ARTIFACT_LIMITS.windowArtifactBytes,
    };
  }

  /**
   * An artifact of window `seq`, checked again (the runtime checked it before copying it out):
   * '' when taken, else why not. Never throws (a host error would carry host frames in).
   */
  private artifact(seq: unknown, name: unknown, contentType: unknown, body: unknown): string {
    const active = this.active;
    if (!active || active.seq !== seq) return 'this window is over';
    const limits = this.artifactLimits();
    const a = active.artifacts;
    if (typeof name !== 'string' || !ARTIFACT_NAME_PATTERN.test(name) || a.names.has(name) || a.names.size >= MAX_ARTIFACTS_PER_WINDOW)
      return 'artifact refused: its name is not valid or already used, or the window has too many';
    if (typeof contentType !== 'string' || contentType.length > 255 || !CONTENT_TYPE_PATTERN.test(contentType))
      return `artifact '${name}' refused: contentType is not a MIME type`;
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body instanceof Uint8Array ? body : undefined;
    if (!bytes) return `artifact '${name}' refused: the body must be a string or a Uint8Array`;
    if (bytes.byteLength > limits.artifactBytes)
      return `artifact '${name}' is ${bytes.byteLength} bytes, over the limit of ${limits.artifactBytes} bytes per artifact`;
    if (a.bytes + bytes.byteLength > limits.windowArtifactBytes)
      return `artifact '${name}' would bring this window's artifacts over the limit of ${limits.windowArtifactBytes} bytes per window`;
    a.names.add(name);
    a.bytes += bytes.byteLength;
    a.onArtifact?.({ name, contentType, body: bytes });
    return '';
  }

  /** Let go of the live context (its realm was changed): the next window gets a fresh one. */
  private dropContext(): void {
    const live = this.live;
    this.live = undefined;
    if (!live || live.isolate.isDisposed) return;
    try {
      live.runWindow.release();
      live.takeOutput.release();
    } catch {
      /* isolate already gone */
    }
    live.prepared.release();
  }

  /**
   * Check that the bundle loads and default-exports a class extending MonitoringApplication
   * with doTracking, without calling it. Throws PLUGIN_LOAD_FAILED saying what is wrong.
   */
  async check(): Promise<void> {
    const { isolate, plugin } = this.ensure();
    let prepared: PreparedContext | undefined;
    try {
      prepared = await this.prepareContext(isolate, plugin, this.opts.limits.timeoutMs);
      const checkPlugin = await prepared.operation('checkPlugin');
      const verdict = await checkPlugin.apply(undefined, [], { timeout: this.opts.limits.timeoutMs, result: { copy: true } });
      checkPlugin.release();
      if (verdict) throw new ModelwatchError('PLUGIN_LOAD_FAILED', `${this.label()}: ${verdict}`);
    } catch (err) {
      this.disposeIsolate();
      if (err instanceof ModelwatchError) throw err;
      throw new ModelwatchError('PLUGIN_LOAD_FAILED', `${this.label()} fails when loaded: ${(err as Error).message}`);
    } finally {
      prepared?.release();
    }
  }

  private label(): string {
    return `${this.opts.name}@${this.opts.version}`;
  }

  /** isolated-vm's own timeout and memory errors, told apart from a plugin's errors with the same words. */
  private mapError(err: unknown, isolate: ivm.Isolate, timeout: number, elapsedMs: number): ModelwatchError {
    if (err instanceof ModelwatchError) return err;
    let message: string;
    try {
      message = err instanceof Error ? err.message : String(err);
    } catch {
      message = '';
    }
    if (message === 'Script execution timed out.' && elapsedMs >= timeout * 0.9) {
      return new ModelwatchError('APP_TIMEOUT', `${this.label()} did not finish within its time limit of ${timeout} ms`);
    }
    if (isolate.isDisposed && /^Isolate was disposed during execution( due to memory limit)?$/.test(message)) {
      return new ModelwatchError('APP_MEMORY_LIMIT', `${this.label()} exceeded its memory limit of ${this.opts.limits.memoryMb} MB`);
    }
    const code: ErrorCode = 'APP_ERROR';
    let stack: string | undefined;
    try {
      stack = err instanceof Error && typeof err.stack === 'string' ? this.mapper.map(err.stack) : undefined;
    } catch {
      stack = undefined;
    }
    const where = stack ? /\(?([^()\s]+:\d+:\d+)\)?$/m.exec(stack.split('\n').find((l) => l.trimStart().startsWith('at ')) ?? '')?.[1] : undefined;
    const e = new ModelwatchError(code, `${this.label()} threw: ${message || 'an error without a message'}${where ? ` (at ${where})` : ''}`);
    if (stack) e.pluginStack = stack;
    return e;
  }

  private disposeIsolate(): void {
    this.dropContext();
    if (this.isolate && !this.isolate.isDisposed) {
      try {
        this.isolate.dispose();
      } catch {
        /* already disposed */
      }
    }
    this.isolate = undefined;
    this.plugin = undefined;
  }

  dispose(): void {
    this.disposeIsolate();
  }
}

/**
 * Maps stack frames of the bundle to the plugin's sources (file:line:column) with the source
 * map kept on the host, and drops every frame that is not the plugin's.
 */
export class StackMapper {
  private sourceMap: SourceMap | undefined;

  constructor(
    private readonly filename: string,
    sourceMap: string | undefined,
  ) {
    if (sourceMap) {
      try {
        this.sourceMap = new SourceMap(JSON.parse(sourceMap) as SourceMapPayload);
      } catch {
        this.sourceMap = undefined;
      }
    }
  }

  map(stack: string): string {
    const lines = stack.split('\n');
    const out: string[] = [];
    for (const line of lines) {
      if (!line.trimStart().startsWith('at ')) {
        if (out.length === 0) out.push(line);
        continue;
      }
      if (line.includes('<isolated-vm boundary>')) break;
      if (!line.includes(this.filename)) continue;
      out.push(
        line.replace(new RegExp(`${escapeRe(this.filename)}:(\\d+):(\\d+)`), (whole, l: string, c: string) => {
          const e = this.sourceMap?.findEntry(Number(l) - 1, Number(c) - 1);
          if (!e || !('originalSource' in e) || !e.originalSource) return whole;
          return `${e.originalSource.replace(/^(\.\.\/)+/, '')}:${e.originalLine + 1}:${e.originalColumn + 1}`;
        }),
      );
    }
    return out.join('\n');
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
