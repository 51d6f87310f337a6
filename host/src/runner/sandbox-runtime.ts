/*
 * Code that runs INSIDE the sandbox. These functions are turned into source text with
 * Function.prototype.toString and evaluated in each fresh context: they may use nothing
 * from their module scope and no host API.
 */

/**
 * Removes what a plugin must not have, and wraps `Proxy` so the output check can tell a
 * proxy from plain data. Runs first in every context.
 */
export function hardenGlobals(): void {
  const g = globalThis as Record<string, unknown>;
  for (const name of ['WebAssembly', 'SharedArrayBuffer', 'Atomics']) {
    try {
      delete g[name];
    } catch {
      /* ignore */
    }
  }
  const RealProxy = Proxy;
  const proxies = new WeakSet<object>();
  const revocable = (target: object, handler: ProxyHandler<object>) => {
    const r = RealProxy.revocable(target, handler);
    proxies.add(r.proxy);
    return r;
  };
  g.Proxy = new RealProxy(RealProxy, {
    construct(target, args, newTarget) {
      const p = Reflect.construct(target, args, newTarget) as object;
      proxies.add(p);
      return p;
    },
    get(target, prop, receiver) {
      return prop === 'revocable' ? revocable : Reflect.get(target, prop, receiver);
    },
  });
  Object.defineProperty(g, '__mw_isProxy', { value: (o: object) => proxies.has(o), enumerable: false, writable: false, configurable: false });
}

/** How a sample (the window, the reference) is laid out in its Float64Array and string arrays. */
export interface SampleSpec {
  length: number;
  /** All column names in order. */
  columns: string[];
  /** Numeric columns, in their order in the buffer (each `length` values). */
  numeric: string[];
  strings: Record<string, Array<string | null>>;
  /** null when no row has one (sent compactly). */
  requestIds: Array<string | null> | null;
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
      requestIds: Object.freeze(spec.requestIds ?? new Array<string | null>(n).fill(null)),
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
  // The output as JSON text, or INVALID + what is wrong: only plain data leaves the sandbox.
  const INVALID = '\u0000invalid:';
  const MAX_CHARS = 8 * 1024 * 1024;
  const isProxy = g.__mw_isProxy as (o: object) => boolean;
  class Invalid extends Error {}
  const serialize = (out: unknown): string => {
    const parts: string[] = [];
    let size = 0;
    const ancestors: object[] = [];
    const push = (s: string) => {
      size += s.length;
      if (size > MAX_CHARS) throw new Invalid(`the output is more than ${MAX_CHARS} characters of JSON`);
      parts.push(s);
    };
    const walk = (v: unknown, path: string): void => {
      switch (typeof v) {
        case 'number':
          if (!Number.isFinite(v)) throw new Invalid(`${path} is ${String(v)}, which JSON cannot carry`);
          return push(String(v));
        case 'string':
          return push(JSON.stringify(v));
        case 'boolean':
          return push(v ? 'true' : 'false');
        case 'undefined':
          return push('null');
        case 'function':
          throw new Invalid(`${path} is a function`);
        case 'bigint':
          throw new Invalid(`${path} is a bigint (${String(v)}n); use a number`);
        case 'symbol':
          throw new Invalid(`${path} is a symbol`);
      }
      if (v === null) return push('null');
      const o = v as object;
      if (isProxy(o)) throw new Invalid(`${path} is a Proxy; return plain objects and arrays`);
      if (ancestors.includes(o)) throw new Invalid(`${path} refers back to an enclosing object (a cycle)`);
      if (ancestors.length >= 64) throw new Invalid(`${path} is nested more than 64 levels deep`);
      ancestors.push(o);
      if (ArrayBuffer.isView(o) && !(o instanceof DataView)) {
        push('[');
        const a = o as unknown as ArrayLike<number>;
        for (let i = 0; i < a.length; i++) {
          if (i) push(',');
          walk(typeof a[i] === 'bigint' ? a[i] : Number(a[i]), `${path}[${i}]`);
        }
        push(']');
      } else if (Array.isArray(o)) {
        push('[');
        for (let i = 0; i < o.length; i++) {
          if (i) push(',');
          const d = Object.getOwnPropertyDescriptor(o, i);
          if (d && (d.get || d.set)) throw new Invalid(`${path}[${i}] is a getter; return plain data`);
          walk(d?.value, `${path}[${i}]`);
        }
        push(']');
      } else {
        if (o instanceof Map || o instanceof Set || o instanceof Date || o instanceof RegExp || o instanceof Promise) {
          throw new Invalid(`${path} is a ${o.constructor.name}; return plain objects and arrays`);
        }
        push('{');
        let first = true;
        for (const k of Object.keys(o)) {
          const d = Object.getOwnPropertyDescriptor(o, k)!;
          if (d.get || d.set) throw new Invalid(`${path}.${k} is a getter; return plain data`);
          if (d.value === undefined) continue;
          if (!first) push(',');
          first = false;
          push(`${JSON.stringify(k)}:`);
          walk(d.value, `${path}.${k}`);
        }
        push('}');
      }
      ancestors.pop();
    };
    if (out === undefined) throw new Invalid('doTracking returned undefined: return a result, a metric, an array of them, or an object of metric names to numbers');
    walk(out, 'output');
    return parts.join('');
  };
  return Promise.resolve((app.doTracking as (c: unknown) => unknown)(ctx)).then((out) => {
    try {
      return serialize(out);
    } catch (e) {
      if (e instanceof Invalid) return INVALID + e.message;
      throw e;
    }
  });
}
