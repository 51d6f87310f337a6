/*
 * Code that runs INSIDE the sandbox. These functions are turned into source text with
 * Function.prototype.toString and evaluated in each fresh context: they may use nothing
 * from their module scope and no host API.
 */

/** Removes what a plugin must not have. Runs first in every context. */
export function hardenGlobals(): void {
  const g = globalThis as Record<string, unknown>;
  for (const name of ['WebAssembly', 'SharedArrayBuffer', 'Atomics']) {
    try {
      delete g[name];
    } catch {
      /* ignore */
    }
  }
}

/** How a sample (the window, the reference) is laid out in its Float64Array and string arrays. */
export interface SampleSpec {
  length: number;
  /** All column names in order. */
  columns: string[];
  /** Numeric columns, in their order in the buffer (each `length` values). */
  numeric: string[];
  strings: Record<string, Array<string | null>>;
  requestIds: Array<string | null>;
  /** Whether the buffer holds timestamps and latencies after the numeric columns. */
  timed: boolean;
}

/**
 * Builds the MonitoringContext from `metaJson` and the buffers (column-major float64: numeric
 * columns, then timestamps and latencies), instantiates the plugin's default export and
 * returns a promise of the output as JSON text. Called with arguments, so nothing of the
 * host's sits in a global where plugin code could reach it.
 */
export function runWindow(
  metaJson: string,
  buf: ArrayBuffer,
  refBuf: ArrayBuffer | undefined,
  log: (level: string, message: string, fields: string) => void,
): Promise<string> {
  const g = globalThis as Record<string, unknown>;
  const PREFIX = '\u0000mw:';
  const meta = JSON.parse(metaJson) as {
    applicationName: string;
    endpoint: unknown;
    windowStart: number;
    windowEnd: number;
    sample: SampleSpec;
    reference?: SampleSpec;
    groundTruth?: { matched: number; numeric: string[]; strings: Record<string, Array<string | null>> };
    sampleStats: unknown;
    featureStats: unknown;
    config: unknown;
  };

  const makeSample = (spec: SampleSpec, buffer: ArrayBuffer, what: string) => {
    const n = spec.length;
    const f64 = new Float64Array(buffer);
    const cols = new Map<string, Float64Array | Array<string | null>>();
    spec.numeric.forEach((name, i) => cols.set(name, f64.subarray(i * n, (i + 1) * n)));
    for (const name of Object.keys(spec.strings)) cols.set(name, spec.strings[name]!);
    const k = spec.numeric.length;
    const timestamps = spec.timed ? f64.subarray(k * n, (k + 1) * n) : new Float64Array(n).fill(NaN);
    const latencyMicros = spec.timed ? f64.subarray((k + 1) * n, (k + 2) * n) : new Float64Array(n).fill(NaN);
    const columns = Object.freeze(spec.columns.slice());
    const column = (name: string) => {
      const c = cols.get(name);
      if (!c) throw new Error(`${what} has no column '${name}' (it has: ${columns.join(', ')})`);
      return c;
    };
    const row = (i: number) => {
      if (!(i >= 0 && i < n)) throw new RangeError(`row index ${i} is out of range (0..${n - 1})`);
      const r: Record<string, unknown> = {};
      for (const name of columns) {
        const v = cols.get(name)![i];
        r[name] = typeof v === 'number' && Number.isNaN(v) ? null : v;
      }
      return r;
    };
    return Object.freeze({
      length: n,
      columns,
      timestamps,
      latencyMicros,
      requestIds: Object.freeze(spec.requestIds.slice()),
      has: (name: string) => cols.has(name),
      column,
      row,
      *rows() {
        for (let i = 0; i < n; i++) yield row(i);
      },
    });
  };

  const sample = makeSample(meta.sample, buf, 'the window');
  const reference = meta.reference && refBuf ? makeSample(meta.reference, refBuf, 'the reference') : undefined;
  let groundTruth: unknown;
  if (meta.groundTruth) {
    const gt = meta.groundTruth;
    const n = meta.sample.length;
    const k = meta.sample.numeric.length;
    // ground-truth numeric columns follow the sample's timestamps and latencies in the same buffer
    const f64 = new Float64Array(buf);
    const cols = new Map<string, Float64Array | Array<string | null>>();
    gt.numeric.forEach((name, i) => cols.set(name, f64.subarray((k + 2 + i) * n, (k + 3 + i) * n)));
    for (const name of Object.keys(gt.strings)) cols.set(name, gt.strings[name]!);
    groundTruth = Object.freeze({
      matched: gt.matched,
      columns: Object.freeze([...cols.keys()]),
      has: (name: string) => cols.has(name),
      column: (name: string) => {
        const c = cols.get(name);
        if (!c) throw new Error(`no ground truth for '${name}' (known: ${[...cols.keys()].join(', ')})`);
        return c;
      },
    });
  }

  const fieldsText = (f: unknown) => {
    if (f === undefined) return '';
    try {
      return JSON.stringify(f) ?? '';
    } catch {
      return '"[fields not serializable]"';
    }
  };
  let logged = 0;
  const emit = (level: string) => (m: unknown, f?: unknown) => {
    // the host caps lines too; stopping here spares the copies
    if (++logged > 100) return;
    log(level, String(m).slice(0, 4096), fieldsText(f).slice(0, 4096));
  };
  const logger = Object.freeze({ debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') });
  const ctx = Object.freeze({
    applicationName: meta.applicationName,
    endpoint: meta.endpoint,
    windowStart: new Date(meta.windowStart),
    windowEnd: new Date(meta.windowEnd),
    sample,
    reference,
    groundTruth,
    sampleStats: meta.sampleStats,
    featureStats: meta.featureStats,
    config: meta.config,
    logger,
  });
  const mod = g.__mw_plugin as { default?: unknown } | undefined;
  const App = mod && typeof mod === 'object' && 'default' in mod ? mod.default : mod;
  if (typeof App !== 'function') {
    throw new TypeError(`the plugin's entry must default-export a class extending MonitoringApplication, got ${typeof App}`);
  }
  const app = new (App as new () => { doTracking?: unknown })();
  if (typeof app.doTracking !== 'function') {
    throw new TypeError("the plugin's default export has no doTracking(ctx) method");
  }
  const replacer = (_k: string, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return PREFIX + String(v);
    if (typeof v === 'bigint') return `${PREFIX}bigint ${String(v)}n`;
    if (typeof v === 'function') return `${PREFIX}a function`;
    if (typeof v === 'symbol') return `${PREFIX}a symbol`;
    return v;
  };
  return Promise.resolve((app.doTracking as (c: unknown) => unknown)(ctx)).then((out) =>
    out === undefined ? JSON.stringify(`${PREFIX}undefined`) : JSON.stringify(out, replacer),
  );
}
