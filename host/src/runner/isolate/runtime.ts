/*
 * The sandbox runtime: the code that runs INSIDE each isolate context, bundled by esbuild into one
 * ES module (../runtime-bundle.ts) and evaluated in every fresh context before any plugin code. Its
 * exports are the operations the host calls (`typeof import('./runtime.js')` types them on the
 * host). An ES module is strict code: a sloppy plugin function's `.caller` (and a stack frame's
 * `getFunction()`) gives nothing of it. Nothing of it is on `globalThis`.
 */
import { APPLICATION_MARK, createArtifactLog, createContext, createGroundTruth, createLogger, createSample, type ColumnValues } from '../../sdk-internal.js';
import { ModelwatchSdkError, type FeatureStatsMap, type JsonValue, type Sample } from '@modelwatch/sdk';
import {
  Answer,
  FACTORY_GLOBAL,
  HOST_OPERATIONS,
  type HostOperationList,
  type HostOperations,
  type SampleName,
  type SampleSpec,
  type SampleText,
  type WindowMeta,
  type WindowStatsText,
} from './contract.js';
import { windowLog } from './logs.js';
import { InvalidOutput, serializeOutput } from './output.js';
import { hardenRealm } from './realm.js';

// the first thing that runs in the context: every function the realm check keeps is the original
const realm = hardenRealm();

/** The plugin's module factory (the script wrapping its bundle defines it; taken before any plugin code runs). */
let factory: (() => unknown) | undefined;
let host: Readonly<HostOperations> | undefined;
/** With `"isolation": "version"`: the plugin's module, made once and kept. */
let keptModule: unknown;
/** The settled outcome of the last window started. */
let done: { seq: number; value?: string; error?: unknown; failed?: true } | undefined;

function takeFactory(): () => unknown {
  if (!factory) {
    const g = globalThis as Record<string, unknown>;
    const f = g[FACTORY_GLOBAL];
    delete g[FACTORY_GLOBAL];
    factory = typeof f === 'function' ? (f as () => unknown) : () => undefined;
  }
  return factory;
}

/**
 * Takes the host's operations (in the order of HOST_OPERATIONS) and the plugin's module factory,
 * and records the pristine realm: after the plugin's bundle is defined, before any plugin code
 * runs. Later calls change nothing.
 */
export function bindHost(...operations: HostOperationList): void {
  if (host) return;
  takeFactory();
  const ops: Partial<Record<keyof HostOperations, unknown>> = {};
  for (let i = 0; i < HOST_OPERATIONS.length; i++) ops[HOST_OPERATIONS[i]!] = operations[i];
  host = Object.freeze(ops as HostOperations);
  realm.pristine();
}

/**
 * Starts a window: checks the realm is pristine (unless `keepModule`), builds its context from
 * `metaJson` ({@link WindowMeta}), makes the plugin's module (a fresh instance every window, unless
 * `keepModule`) and calls doTracking; its microtasks run before this returns. Answers
 * `Answer.dirty` when the realm is not as the first window found it (nothing ran); the output
 * (JSON text, or `Answer.invalid` and what is wrong) when doTracking returned it, not a promise;
 * else undefined: `takeOutput` gives the outcome.
 */
export function runWindow(keepModule: boolean, seq: number, metaJson: string, sampleStats?: string, referenceStats?: string): string | undefined {
  done = undefined;
  // before any plugin code runs: the realm must be as the first window found it
  if (!keepModule && !realm.pristine()) return Answer.dirty;
  const out = startWindow(keepModule, seq, metaJson, { sample: sampleStats, reference: referenceStats });
  if (typeof out === 'string') return out;
  out.then(
    (value) => {
      done = { seq, value };
    },
    (error: unknown) => {
      done = { seq, error, failed: true };
    },
  );
  return undefined;
}

/**
 * The outcome of window `seq`: its output as JSON text (or `Answer.invalid` and what is wrong),
 * its error thrown, or `Answer.pending` when its promise has not settled: nothing in the sandbox
 * could settle it any more (no timers, no I/O).
 */
export function takeOutput(seq: number): string {
  const d = done;
  done = undefined;
  if (!d || d.seq !== seq) return Answer.pending;
  if (d.failed) throw d.error;
  return d.value!;
}

/**
 * Whether the plugin's module loads and default-exports a class extending MonitoringApplication
 * with doTracking (not called): '' when it does, else what is wrong. Throws what loading it threw.
 */
export function checkPlugin(): string {
  const m = takeFactory()();
  const A = m && typeof m === 'object' && 'default' in m ? (m as { default: unknown }).default : m;
  if (typeof A !== 'function') return `the entry must default-export a class extending MonitoringApplication, got ${typeof A}`;
  const proto = (A as { prototype?: { doTracking?: unknown } }).prototype;
  if (!proto || typeof proto.doTracking !== 'function') return 'the default export has no doTracking(ctx) method';
  if ((A as unknown as Record<symbol, unknown>)[APPLICATION_MARK] !== true) {
    return `the default export${A.name ? ` (class ${A.name})` : ''} does not extend MonitoringApplication from '@modelwatch/sdk'`;
  }
  return '';
}

/** A sample's two parts, fetched from the host the first time the app reads them. */
function samplePartsOf(seq: number, sample: SampleName) {
  let f64: Float64Array | undefined;
  let text: SampleText | undefined;
  return {
    // nothing comes for an empty sample
    buffer: (): Float64Array => (f64 ??= host!.sampleColumns(seq, sample) ?? new Float64Array(0)),
    text: (): SampleText => (text ??= JSON.parse(host!.sampleText(seq, sample)) as SampleText),
  };
}

type SampleParts = ReturnType<typeof samplePartsOf>;

/** A sample over its packed buffer: `ctx.sample.column(name)` is a zero-copy view. */
function packedSample(spec: SampleSpec, data: SampleParts, what: string): Sample {
  const n = spec.length;
  const k = spec.numeric.length;
  const slot = new Map<string, number>();
  spec.numeric.forEach((name, i) => slot.set(name, i));
  const strings = new Set(spec.stringColumns);
  const missing = () => new Float64Array(n).fill(NaN);
  return createSample(
    {
      length: n,
      columns: spec.columns,
      has: (name) => slot.has(name) || strings.has(name),
      column: (name): ColumnValues | undefined => {
        const i = slot.get(name);
        if (i !== undefined) return data.buffer().subarray(i * n, (i + 1) * n);
        if (strings.has(name)) return data.text().strings[name];
        return undefined;
      },
      timestamps: () => (spec.timed ? data.buffer().subarray(k * n, (k + 1) * n) : missing()),
      latencyMicros: () => (spec.timed ? data.buffer().subarray((k + 1) * n, (k + 2) * n) : missing()),
      requestIds: () => data.text().requestIds ?? new Array<string | null>(n).fill(null),
    },
    what,
  );
}

function fieldsText(f: unknown): string {
  if (f === undefined) return '';
  try {
    return JSON.stringify(f) ?? '';
  } catch {
    return '"[fields not serializable]"';
  }
}

/**
 * The window's context, its app made and called: the output as JSON text when doTracking returned
 * it as it is, else a promise of it.
 */
function startWindow(keepModule: boolean, seq: number, metaJson: string, stats: WindowStatsText = {}): string | Promise<string> {
  const ops = host!;
  const meta = JSON.parse(metaJson) as WindowMeta;
  const window = samplePartsOf(seq, 'window');
  let groundTruth;
  if (meta.groundTruth) {
    const gt = meta.groundTruth;
    const n = meta.sample.length;
    const k = meta.sample.numeric.length;
    groundTruth = createGroundTruth({
      matched: gt.matched,
      columns: [...gt.numeric, ...gt.strings],
      column: (name) => {
        const i = gt.numeric.indexOf(name);
        // ground-truth numeric columns follow the window's timestamps and latencies in its buffer
        if (i >= 0) return window.buffer().subarray((k + 2 + i) * n, (k + 3 + i) * n);
        if (gt.strings.includes(name)) return window.text().groundTruth![name];
        return undefined;
      },
    });
  }
  // cut here, before crossing: the host caps lines too
  const log = windowLog((level, message, fields) => ops.log(seq, level, message, fields));
  const logger = createLogger((level, message, fields) => log.write(level, message, fieldsText(fields)));
  const ctx = createContext({
    applicationName: meta.applicationName,
    endpoint: meta.endpoint,
    windowStart: new Date(meta.windowStart),
    windowEnd: new Date(meta.windowEnd),
    sample: packedSample(meta.sample, window, 'the window'),
    reference: meta.reference ? packedSample(meta.reference, samplePartsOf(seq, 'reference'), 'the reference') : undefined,
    // a deferred reference: the host is told, and this run is over (caught or not, the host runs
    // the window again with the reference and drops what this run did)
    ...(meta.referenceDeferred
      ? {
          referenceOnRead: (): never => {
            ops.wantReference(seq);
            throw new Error('ctx.reference is read on first use: this window runs again with it (not an error of the app)');
          },
        }
      : {}),
    groundTruth,
    // the statistics, too, come in when first read (or with the call, see WindowStatsText)
    sampleStats: () => JSON.parse(stats.sample ?? ops.sampleStats(seq)) as FeatureStatsMap,
    featureStats: () => JSON.parse(stats.reference ?? ops.featureStats(seq)) as FeatureStatsMap,
    config: meta.config as Record<string, JsonValue>,
    logger,
    logArtifact: createArtifactLog(meta.artifactLimits, (a) => {
      const refused = ops.artifact(seq, a.name, a.contentType, a.body);
      if (refused) throw new ModelwatchSdkError('INVALID_ARTIFACT', refused);
    }),
  });
  const make = takeFactory();
  const mod = (keepModule ? (keptModule ??= make()) : make()) as { default?: unknown } | undefined;
  const App = mod && typeof mod === 'object' && 'default' in mod ? mod.default : mod;
  if (typeof App !== 'function') {
    throw new TypeError(`the plugin's entry must default-export a class extending MonitoringApplication, got ${typeof App}`);
  }
  const app = new (App as new () => { doTracking?: unknown })();
  if (typeof app.doTracking !== 'function') {
    throw new TypeError("the plugin's default export has no doTracking(ctx) method");
  }
  const result = (app.doTracking as (c: unknown) => unknown)(ctx);
  // an output returned as it is (not a promise or other thenable) is taken in this call: the host
  // makes no second call for it
  if (!isThenable(result)) {
    log.end();
    return outputText(result);
  }
  const run = Promise.resolve(result);
  run.then(log.end, log.end);
  return run.then(outputText);
}

/** Whether Promise.resolve would follow `value` (reads its `then` once, as Promise.resolve does). */
function isThenable(value: unknown): boolean {
  if ((typeof value !== 'object' || value === null) && typeof value !== 'function') return false;
  return typeof (value as { then?: unknown }).then === 'function';
}

/** The window's output as JSON text, or `Answer.invalid` and what is wrong with it. */
function outputText(out: unknown): string {
  try {
    return serializeOutput(out, realm.isProxy);
  } catch (e) {
    if (e instanceof InvalidOutput) return Answer.invalid + e.message;
    throw e;
  }
}
