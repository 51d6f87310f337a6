import { SourceMap, type SourceMapPayload } from 'node:module';
import { writeSync } from 'node:fs';
import ivm from 'isolated-vm';
import { ModelwatchError, type ErrorCode } from '../errors.js';
import type { PluginLimits } from '../store/plugins.js';
import { hardenGlobals, runWindow } from './sandbox-runtime.js';

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
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
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
   * `window` (default): a fresh context for every window; nothing a window does reaches the next.
   * `version`: one context per plugin version, kept across windows so the JIT keeps its work;
   * whatever a window leaves in globals or module state is seen by the next windows of the same
   * version (never by another plugin or version: each has its own isolate).
   */
  isolation?: 'window' | 'version';
}

export interface RunOptions {
  /** Where the plugin's log lines go (truncated, at most 100 a window). */
  onLog?: (line: LogLine) => void;
}

/** Starts the stderr line a runner writes when a plugin crashes V8 (the supervisor reads it). */
export const CRASH_MARKER = 'MODELWATCH_CRASH ';

/** What follows CRASH_MARKER. */
export interface CrashReport {
  app: string;
  version: string;
  message: string;
  window: { endpointId: string; endpointName: string; windowStart: number; windowEnd: number } | null;
}

/** Prefix of the runtime's answer when the output is not plain data. */
const INVALID = '\u0000invalid:';
/** How often the CPU-time watchdog looks. */
const WATCHDOG_MS = 25;

/** Largest output (JSON text) an app may return. */
export const MAX_OUTPUT_CHARS = 8 * 1024 * 1024;
const MAX_LOG_LINES_PER_WINDOW = 100;
const MAX_LOG_LINE_CHARS = 4096;
// Runs first in every context, compiled once per isolate: hardens the globals and defines the
// runtime entry as a property the plugin's code (which runs after) can neither replace nor delete.
const HARDEN = `(${hardenGlobals.toString()})();
Object.defineProperty(globalThis, '__mw_run', { value: ${runWindow.toString()}, writable: false, configurable: false, enumerable: false });`;

/**
 * A plugin version's isolate. Each window runs in a fresh context of it; after any failure
 * the isolate is thrown away and a new one made for the next window.
 */
export class PluginSandbox {
  private isolate: ivm.Isolate | undefined;
  private scripts: { plugin: ivm.Script; harden: ivm.Script } | undefined;
  private readonly filename: string;
  /** The window running now (for the crash report). */
  private current: { endpointId: string; endpointName: string; windowStart: number; windowEnd: number } | undefined;
  /** With `isolation: 'version'`: the loaded, frozen context and its entry, reused across windows. */
  private warm: { isolate: ivm.Isolate; context: ivm.Context; entry: ivm.Reference<(...a: unknown[]) => Promise<string>> } | undefined;
  /** Runs are serialised: an isolate executes one thing at a time anyway, and a failing window must not take others down with it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The next window's context, made (and hardened) ahead while the host does other work. */
  private spare: { isolate: ivm.Isolate; context: Promise<ivm.Context> } | undefined;

  private readonly mapper: StackMapper;

  constructor(private readonly opts: SandboxOptions) {
    this.filename = `file:///plugins/${opts.name}@${opts.version}/plugin.js`;
    this.mapper = new StackMapper(this.filename, opts.sourceMap);
  }

  /** Compile the bundle (throws PLUGIN_LOAD_FAILED on a syntax error). */
  load(): void {
    this.ensure();
  }

  private ensure(): { isolate: ivm.Isolate; scripts: NonNullable<PluginSandbox['scripts']> } {
    if (this.isolate && !this.isolate.isDisposed && this.scripts) return { isolate: this.isolate, scripts: this.scripts };
    this.disposeIsolate();
    const isolate = new ivm.Isolate({
      memoryLimit: Math.max(8, this.opts.limits.memoryMb),
      // V8 cannot recover from this: say which window did it (synchronously, on stderr, for the
      // supervisor), then abort; only this runner process dies and the supervisor restarts it.
      onCatastrophicError: (message: string) => {
        try {
          writeSync(2, `${CRASH_MARKER}${JSON.stringify({ app: this.opts.name, version: this.opts.version, message, window: this.current ?? null })}\n`);
        } finally {
          process.abort();
        }
      },
    });
    try {
      this.scripts = {
        plugin: isolate.compileScriptSync(this.opts.code, { filename: this.filename }),
        harden: isolate.compileScriptSync(HARDEN, { filename: 'file:///modelwatch/harden.js' }),
      };
    } catch (err) {
      isolate.dispose();
      throw new ModelwatchError('PLUGIN_LOAD_FAILED', `${this.opts.name}@${this.opts.version} does not compile: ${(err as Error).message}`);
    }
    this.isolate = isolate;
    return { isolate, scripts: this.scripts };
  }

  /**
   * Run doTracking for one window. Resolves to the output's JSON text; rejects with a
   * ModelwatchError (APP_ERROR, APP_TIMEOUT, APP_MEMORY_LIMIT) that names the problem.
   */
  run(input: SandboxInput, runOptions: RunOptions = {}): Promise<string> {
    const next = this.queue.then(() => this.runNow(input, runOptions));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runNow(input: SandboxInput, runOptions: RunOptions): Promise<string> {
    const { isolate, scripts } = this.ensure();
    this.current = { endpointId: input.endpoint.id, endpointName: input.endpoint.name, windowStart: input.windowStart, windowEnd: input.windowEnd };
    const timeout = this.opts.limits.timeoutMs;
    let context: ivm.Context | undefined;
    let timer: NodeJS.Timeout | undefined;
    let watchdog: NodeJS.Timeout | undefined;
    let entry: ivm.Reference | undefined;
    let failed = false;
    let logs = 0;
    const began = Date.now();
    const onLog = runOptions.onLog;
    try {
      const reuse = this.opts.isolation === 'version';
      const warm = reuse && this.warm?.isolate === isolate ? this.warm : undefined;
      const { sample, reference, ...rest } = input;
      const spec = ({ packed: _p, requestIds, ...sp }: SampleData) => ({ ...sp, requestIds: requestIds.some((r) => r !== null) ? requestIds : null });
      const meta = { ...rest, sample: spec(sample), ...(reference ? { reference: spec(reference) } : {}) };
      const started = Date.now();
      if (warm) {
        context = warm.context;
        entry = warm.entry;
      } else {
        context = await this.takeContext(isolate, scripts.harden, timeout);
        await scripts.plugin.run(context, { timeout });
        if (reuse) {
          entry = (await context.global.get('__mw_run', { reference: true })) as ivm.Reference<(...a: unknown[]) => Promise<string>>;
          this.warm = { isolate, context, entry: entry as ivm.Reference<(...a: unknown[]) => Promise<string>> };
        }
      }
      const log = new ivm.Callback(
          (level: unknown, message: unknown, fields: unknown) => {
            if (!onLog || ++logs > MAX_LOG_LINES_PER_WINDOW) return;
            const lvl = level === 'debug' || level === 'warn' || level === 'error' ? level : 'info';
            onLog({
              level: lvl,
              message: String(message).slice(0, MAX_LOG_LINE_CHARS),
              fields: String(fields).slice(0, MAX_LOG_LINE_CHARS),
            });
          },
          { ignored: true },
        );
      const remaining = Math.max(1, timeout - (Date.now() - started));
      // The isolate's own timeout does not cover promises that never settle: a wall-clock
      // deadline disposes the isolate.
      // Three layers: the isolate's own timeout (sync and microtask loops), this wall-clock
      // deadline (promises that never settle), and a CPU-time watchdog (anything else).
      const deadline = new Promise<never>((_, reject) => {
        const kill = (why: string) => {
          reject(new ModelwatchError('APP_TIMEOUT', `${this.label()} ${why}`));
          if (!isolate.isDisposed) isolate.dispose();
        };
        timer = setTimeout(() => kill(`did not finish within its time limit of ${timeout} ms`), remaining + 50);
        const cpuStart = isolate.cpuTime;
        const cpuLimit = BigInt(Math.round(timeout * 1e6));
        watchdog = setInterval(() => {
          if (!isolate.isDisposed && isolate.cpuTime - cpuStart > cpuLimit) kill(`used more than its ${timeout} ms of CPU time`);
        }, WATCHDOG_MS);
      });
      // one host-side copy that the isolate then takes over (transferOut/transferIn move the
      // memory instead of copying it twice); the caller's array stays usable for other apps
      const transfer = (a: Float64Array) =>
        new ivm.ExternalCopy(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength), { transferOut: true }).copyInto({ release: true, transferIn: true });
      const args = [JSON.stringify(meta), transfer(sample.packed), reference ? transfer(reference.packed) : undefined, log];
      entry ??= (await context.global.get('__mw_run', { reference: true })) as ivm.Reference<(...a: unknown[]) => Promise<string>>;
      const call = entry.apply(undefined, args, { timeout: remaining, result: { promise: true, copy: true } });
      call.catch(() => undefined); // raced below: a late rejection must not go unhandled
      deadline.catch(() => undefined); // may fire after the race is settled
      const out = (await Promise.race([call, deadline])) as unknown;
      if (typeof out !== 'string') throw new ModelwatchError('APP_INVALID_OUTPUT', `${this.label()} returned no JSON output`);
      if (out.startsWith(INVALID)) throw new ModelwatchError('APP_INVALID_OUTPUT', `${this.label()} returned an invalid output: ${out.slice(INVALID.length)}`);
      if (out.length > MAX_OUTPUT_CHARS) {
        throw new ModelwatchError('APP_INVALID_OUTPUT', `${this.label()} returned ${out.length} characters of output, over the limit of ${MAX_OUTPUT_CHARS}`);
      }
      return out;
    } catch (err) {
      failed = true;
      throw this.mapError(err, isolate, timeout, Date.now() - began);
    } finally {
      this.current = undefined;
      clearTimeout(timer);
      clearInterval(watchdog);
      const kept = this.warm?.context === context && !failed;
      try {
        if (!kept && !isolate.isDisposed) entry?.release();
        if (!kept && !isolate.isDisposed) context?.release();
      } catch {
        /* isolate already gone */
      }
      // After a failure the isolate may hold late rejections or broken state: start over.
      if (failed || isolate.isDisposed) this.disposeIsolate();
      else if (this.opts.isolation !== 'version') this.prepareSpare(isolate, scripts.harden, timeout);
    }
  }

  /** A fresh hardened context: the spare made ahead when there is one, else a new one. */
  private async takeContext(isolate: ivm.Isolate, harden: ivm.Script, timeout: number): Promise<ivm.Context> {
    const make = async () => {
      const c = await isolate.createContext();
      await harden.run(c, { timeout });
      return c;
    };
    const spare = this.spare?.isolate === isolate ? this.spare.context : undefined;
    this.spare = undefined;
    return spare ? await spare.catch(make) : await make();
  }

  /** Make the next window's context now, while the host fetches and prepares that window. */
  private prepareSpare(isolate: ivm.Isolate, harden: ivm.Script, timeout: number): void {
    if (isolate.isDisposed || this.spare) return;
    const context = (async () => {
      const c = await isolate.createContext();
      await harden.run(c, { timeout });
      return c;
    })();
    context.catch(() => undefined);
    this.spare = { isolate, context };
  }

  /**
   * Check that the bundle loads and default-exports a class with doTracking, without
   * calling it. Throws PLUGIN_LOAD_FAILED saying what is wrong.
   */
  async check(): Promise<void> {
    const { isolate, scripts } = this.ensure();
    const context = await isolate.createContext();
    try {
      await scripts.harden.run(context, { timeout: this.opts.limits.timeoutMs });
      await scripts.plugin.run(context, { timeout: this.opts.limits.timeoutMs });
      const verdict = (await context.eval(
        `(() => { const m = globalThis.__mw_plugin; const A = m && typeof m === 'object' && 'default' in m ? m.default : m;
          if (typeof A !== 'function') return 'the entry must default-export a class extending MonitoringApplication, got ' + typeof A;
          if (!A.prototype || typeof A.prototype.doTracking !== 'function') return 'the default export has no doTracking(ctx) method';
          return ''; })()`,
        { timeout: this.opts.limits.timeoutMs },
      )) as string;
      if (verdict) throw new ModelwatchError('PLUGIN_LOAD_FAILED', `${this.label()}: ${verdict}`);
    } catch (err) {
      this.disposeIsolate();
      if (err instanceof ModelwatchError) throw err;
      throw new ModelwatchError('PLUGIN_LOAD_FAILED', `${this.label()} fails when loaded: ${(err as Error).message}`);
    } finally {
      try {
        context.release();
      } catch {
        /* gone */
      }
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
    this.warm = undefined;
    const spare = this.spare;
    this.spare = undefined;
    const old = this.isolate;
    void spare?.context.then(
      (c) => {
        try {
          if (old && !old.isDisposed) c.release();
        } catch {
          /* its isolate is gone */
        }
      },
      () => undefined,
    );
    if (this.isolate && !this.isolate.isDisposed) {
      try {
        this.isolate.dispose();
      } catch {
        /* already disposed */
      }
    }
    this.isolate = undefined;
    this.scripts = undefined;
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
