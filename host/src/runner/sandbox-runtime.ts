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

/**
 * Builds the MonitoringContext from `metaJson` and `buf` (ArrayBuffer of column-major float64
 * numeric columns, then timestamps), instantiates the plugin's default export and returns a
 * promise of the output as JSON text. Called with arguments, so nothing of the host's sits in
 * a global where plugin code could reach it.
 */
export function runWindow(metaJson: string, buf: ArrayBuffer, log: (level: string, message: string, fields: string) => void): Promise<string> {
  const g = globalThis as Record<string, unknown>;
  const PREFIX = '\u0000mw:';
  const meta = JSON.parse(metaJson) as {
    applicationName: string;
    endpoint: unknown;
    windowStart: number;
    windowEnd: number;
    length: number;
    columns: string[];
    numeric: string[];
    strings: Record<string, Array<string | null>>;
    sampleStats: unknown;
    featureStats: unknown;
    config: unknown;
  };
  const n = meta.length;
  const f64 = new Float64Array(buf);
  const cols = new Map<string, Float64Array | Array<string | null>>();
  meta.numeric.forEach((name, i) => cols.set(name, f64.subarray(i * n, (i + 1) * n)));
  for (const name of Object.keys(meta.strings)) cols.set(name, meta.strings[name]!);
  const timestamps = f64.subarray(meta.numeric.length * n, (meta.numeric.length + 1) * n);
  const columns = Object.freeze(meta.columns.slice());
  const column = (name: string) => {
    const c = cols.get(name);
    if (!c) throw new Error(`the window has no column '${name}' (it has: ${columns.join(', ')})`);
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
  const sample = Object.freeze({
    length: n,
    columns,
    timestamps,
    has: (name: string) => cols.has(name),
    column,
    row,
    *rows() {
      for (let i = 0; i < n; i++) yield row(i);
    },
  });
  const fieldsText = (f: unknown) => {
    if (f === undefined) return '';
    try {
      return JSON.stringify(f) ?? '';
    } catch {
      return '"[fields not serializable]"';
    }
  };
  const logger = Object.freeze({
    debug: (m: unknown, f?: unknown) => log('debug', String(m), fieldsText(f)),
    info: (m: unknown, f?: unknown) => log('info', String(m), fieldsText(f)),
    warn: (m: unknown, f?: unknown) => log('warn', String(m), fieldsText(f)),
    error: (m: unknown, f?: unknown) => log('error', String(m), fieldsText(f)),
  });
  const ctx = Object.freeze({
    applicationName: meta.applicationName,
    endpoint: meta.endpoint,
    windowStart: new Date(meta.windowStart),
    windowEnd: new Date(meta.windowEnd),
    sample,
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
