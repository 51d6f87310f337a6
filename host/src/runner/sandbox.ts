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
}

export interface RunOptions {
  /** Where the plugin's log lines go (truncated, at most 100 a window). */
  onLog?: (line: LogLine) => void;
}

/** Largest output (JSON text) an app may return. */
export const MAX_OUTPUT_CHARS = 8 * 1024 * 1024;
const MAX_LOG_LINES_PER_WINDOW = 100;
const MAX_LOG_LINE_CHARS = 4096;
const HARDEN = `(${hardenGlobals.toString()})()`;
const RUN = `return (${runWindow.toString()})($0, $1, $2, $3)`;

/**
 * A plugin version's isolate. Each window runs in a fresh context of it; after any failure
 * the isolate is thrown away and a new one made for the next window.
 */
export class PluginSandbox {
  private isolate: ivm.Isolate | undefined;
  private scripts: { plugin: ivm.Script; harden: ivm.Script } | undefined;
  private readonly filename: string;
  /** Runs are serialised: an isolate executes one thing at a time anyway, and a failing window must not take others down with it. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: SandboxOptions) {
    this.filename = `file:///plugins/${opts.name}@${opts.version}/plugin.js`;
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
      // V8 cannot recover from this; only this process dies and its supervisor restarts it.
      onCatastrophicError: () => process.abort(),
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
    const timeout = this.opts.limits.timeoutMs;
    let context: ivm.Context | undefined;
    let timer: NodeJS.Timeout | undefined;
    let failed = false;
    let logs = 0;
    const began = Date.now();
    const onLog = runOptions.onLog;
    try {
      context = await isolate.createContext();
      await scripts.harden.run(context, { timeout });
      const { sample, reference, ...rest } = input;
      const spec = ({ packed: _p, ...sp }: SampleData) => sp;
      const meta = { ...rest, sample: spec(sample), ...(reference ? { reference: spec(reference) } : {}) };
      const started = Date.now();
      await scripts.plugin.run(context, { timeout });
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
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new ModelwatchError('APP_TIMEOUT', `${this.label()} did not finish within its time limit of ${timeout} ms`));
          isolate.dispose();
        }, remaining + 50);
      });
      const transfer = (a: Float64Array) => {
        const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
        return new ivm.ExternalCopy(whole ? a.buffer : a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)).copyInto({ release: true });
      };
      const args = [JSON.stringify(meta), transfer(sample.packed), reference ? transfer(reference.packed) : undefined, log];
      const call = context.evalClosure(RUN, args, {
        filename: 'file:///modelwatch/run.js',
        timeout: remaining,
        result: { promise: true, copy: true },
      });
      const out = (await Promise.race([call, deadline])) as unknown;
      if (typeof out !== 'string') throw new ModelwatchError('APP_INVALID_OUTPUT', `${this.label()} returned no JSON output`);
      if (out.length > MAX_OUTPUT_CHARS) {
        throw new ModelwatchError('APP_INVALID_OUTPUT', `${this.label()} returned ${out.length} characters of output, over the limit of ${MAX_OUTPUT_CHARS}`);
      }
      return out;
    } catch (err) {
      failed = true;
      throw this.mapError(err, isolate, timeout, Date.now() - began);
    } finally {
      clearTimeout(timer);
      try {
        context?.release();
      } catch {
        /* isolate already gone */
      }
      // After a failure the isolate may hold late rejections or broken state: start over.
      if (failed || isolate.isDisposed) this.disposeIsolate();
    }
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
    return new ModelwatchError(code, `${this.label()} threw: ${message || 'an error without a message'}`);
  }

  private disposeIsolate(): void {
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
