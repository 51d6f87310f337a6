/*
 * Code that runs INSIDE the sandbox. These functions are turned into source text with
 * Function.prototype.toString and evaluated in each fresh context: they may use nothing
 * from their module scope and no host API.
 */

/** What the runtime keeps of a context's realm: the proxy check and the pristine check. */
export interface Realm {
  /** Whether an object is a Proxy made in this context. */
  isProxy: (o: object) => boolean;
  /**
   * Whether the realm is as the first window found it: every intrinsic object (the globals and
   * the anonymous ones, such as the iterator prototypes) with the same own properties, property
   * attributes and values, prototype and extensibility. Globals a window added are deleted
   * (false when one cannot be). The first call records the state the later calls compare with
   * (and freezes the built-in methods); it is made when the context is, before any plugin code.
   */
  pristine: () => boolean;
  /** With `"isolation": "version"`: the plugin's module, made once and kept. */
  module?: unknown;
}

/**
 * Prepares a fresh context and returns its Realm. Removes what a plugin must not have,
 * wraps `Proxy` so the output check can tell a proxy from plain data. Runs first in every
 * context, before any plugin code, so every function it keeps is the original.
 */
export function hardenRealm(): Realm {
  const g = globalThis as Record<string | symbol, unknown>;
  // FinalizationRegistry: a cleanup callback would run in whatever window is running when
  // the garbage collector gets to it, with the state of the window that registered it
  for (const name of ['WebAssembly', 'SharedArrayBuffer', 'Atomics', 'FinalizationRegistry']) {
    try {
      delete g[name];
    } catch {
      /* ignore */
    }
  }
  const RealProxy = Proxy;
  const proxies = new WeakSet<object>();
  const weakHas = WeakSet.prototype.has;
  const weakAdd = WeakSet.prototype.add;
  const apply = Reflect.apply;
  const revocable = (target: object, handler: ProxyHandler<object>) => {
    const r = RealProxy.revocable(target, handler);
    apply(weakAdd, proxies, [r.proxy]);
    return r;
  };
  g.Proxy = new RealProxy(RealProxy, {
    construct(target, args, newTarget) {
      const p = Reflect.construct(target, args, newTarget) as object;
      apply(weakAdd, proxies, [p]);
      return p;
    },
    get(target, prop, receiver) {
      return prop === 'revocable' ? revocable : Reflect.get(target, prop, receiver);
    },
  });

  // The pristine check uses only what is captured here, and no iterator, spread or method
  // call that plugin code could have replaced: it runs before anything else in a window.
  const ownKeys = Reflect.ownKeys;
  const gopd = Object.getOwnPropertyDescriptor;
  const protoOf = Object.getPrototypeOf;
  const extensible = Object.isExtensible;
  const del = Reflect.deleteProperty;
  const is = Object.is;
  const freeze = Object.freeze;
  const hasOwn = Object.hasOwn;
  const setHas = Set.prototype.has;
  const setAdd = Set.prototype.add;
  const regexpExec = RegExp.prototype.exec;
  const SetCtor = Set;
  type Entry = { o: object; proto: object | null; ext: boolean; keys: Array<string | symbol>; values: unknown[] };
  let entries: Entry[] | undefined;
  let globalKeys: Set<string | symbol> | undefined;

  /** Intrinsics no global leads to: reachable only from instances. */
  const anonymous = (): unknown[] => {
    const out: unknown[] = [];
    const tries: Array<() => unknown> = [
      () => protoOf(function* () {}),
      () => protoOf(async function () {}),
      () => protoOf(async function* () {}),
      () => protoOf([][Symbol.iterator]()),
      () => protoOf(new Map()[Symbol.iterator]()),
      () => protoOf(new Set()[Symbol.iterator]()),
      () => protoOf(''[Symbol.iterator]()),
      () => protoOf(/a/[Symbol.matchAll]('')),
      () => protoOf((function* () {})()),
      () => protoOf((async function* () {})()),
      () => protoOf(([].values() as unknown as { map: (f: (x: unknown) => unknown) => object }).map((x) => x)),
      () => protoOf((g.Iterator as { from: (o: object) => object }).from({ next: () => ({ done: true, value: undefined }) })),
      () => protoOf(new Intl.Segmenter().segment('')),
      () => protoOf(new Intl.Segmenter().segment('')[Symbol.iterator]()),
      () => gopd(Function.prototype, 'caller')?.get,
    ];
    for (let i = 0; i < tries.length; i++) {
      try {
        out[out.length] = tries[i]!();
      } catch {
        /* not in this V8 */
      }
    }
    return out;
  };

  /**
   * Intrinsics frozen whole instead of checked: namespaces real code does not write to (Intl
   * and its constructors and prototypes, Reflect, JSON). Prototypes and constructors code does
   * change or inherit own names from (Object, Function, Array, String, Error, Promise, Map,
   * Set, Date, RegExp...), Math and the global object stay open and are checked.
   */
  const sealedFamilies = (): Set<object> => {
    const out = new SetCtor<object>();
    const add = (v: unknown): void => {
      if ((typeof v !== 'object' && typeof v !== 'function') || v === null) return;
      apply(setAdd, out, [v]);
      const p = typeof v === 'function' ? gopd(v, 'prototype')?.value : undefined;
      if (typeof p === 'object' && p !== null) apply(setAdd, out, [p]);
    };
    // not the typed arrays, buffers or iterator prototypes: freezing those trips V8's protectors
    // (species, array iteration) and slows every typed-array loop down several times
    const names = ['Reflect', 'JSON', 'Intl'];
    for (let i = 0; i < names.length; i++) add(g[names[i]!]);
    const intl = g.Intl as Record<string, unknown> | undefined;
    if (intl) {
      const keys = ownKeys(intl);
      for (let i = 0; i < keys.length; i++) add(gopd(intl, keys[i]!)?.value);
    }
    return out;
  };

  const record = (): void => {
    const list: Entry[] = [];
    const seen = new SetCtor<object>();
    const sealed = sealedFamilies();
    const visit = (v: unknown): void => {
      if ((typeof v !== 'object' && typeof v !== 'function') || v === null || apply(setHas, seen, [v])) return;
      const o = v as object;
      apply(setAdd, seen, [o]);
      const keys = ownKeys(o);
      const values: unknown[] = [];
      for (let i = 0; i < keys.length; i++) {
        const d = gopd(o, keys[i]!)!;
        values[values.length] = d.value;
        values[values.length] = d.get;
        values[values.length] = d.set;
        values[values.length] = (d.writable ? 1 : 0) | (d.enumerable ? 2 : 0) | (d.configurable ? 4 : 0);
      }
      const proto = protoOf(o) as object | null;
      // Built-in methods (functions that are not constructors: most of the intrinsics) and the
      // sealed families are frozen instead of checked: nobody adds properties to
      // Array.prototype.map, and a frozen object cannot change. Constructors (statics such as
      // Error.stackTraceLimit are set by libraries) and prototypes stay open and are checked.
      if ((typeof o === 'function' && !hasOwn(o, 'prototype') && o !== Function.prototype) || apply(setHas, sealed, [o])) freeze(o);
      else list[list.length] = { o, proto, ext: extensible(o), keys, values };
      visit(proto);
      for (let i = 0; i < values.length; i += 4) {
        visit(values[i]);
        visit(values[i + 1]);
        visit(values[i + 2]);
      }
    };
    // Object.prototype first: every descriptor the check reads inherits from it
    visit(Object.prototype);
    const roots = anonymous();
    for (let i = 0; i < roots.length; i++) visit(roots[i]);
    visit(revocable);
    visit(globalThis);
    entries = list;
    globalKeys = new SetCtor(ownKeys(globalThis));
  };

  const same = (e: Entry): boolean => {
    const o = e.o;
    if (protoOf(o) !== e.proto || extensible(o) !== e.ext) return false;
    const keys = ownKeys(o);
    const isGlobal = o === globalThis;
    if (isGlobal ? keys.length < e.keys.length : keys.length !== e.keys.length) return false;
    for (let i = 0; i < e.keys.length; i++) {
      const k = e.keys[i]!;
      if (!isGlobal && keys[i] !== k) return false;
      const d = gopd(o, k);
      if (!d) return false;
      const flags = (d.writable ? 1 : 0) | (d.enumerable ? 2 : 0) | (d.configurable ? 4 : 0);
      if (!is(d.value, e.values[4 * i]) || d.get !== e.values[4 * i + 1] || d.set !== e.values[4 * i + 2] || flags !== e.values[4 * i + 3]) return false;
    }
    if (isGlobal && keys.length > e.keys.length) {
      // globals a window added: gone with it
      for (let i = 0; i < keys.length; i++) if (!apply(setHas, globalKeys!, [keys[i]]) && !del(globalThis, keys[i]!)) return false;
    }
    return true;
  };

  const pristine = (): boolean => {
    if (!entries) {
      record();
      return true;
    }
    const list = entries;
    // Object.prototype (first in the list) is checked before any other descriptor is read
    for (let i = 0; i < list.length; i++) if (!same(list[i]!)) return false;
    // RegExp's legacy statics (RegExp.$1, lastMatch, input) hold the last match: reset them
    apply(regexpExec, /(?:)/, ['']);
    return true;
  };

  return { isProxy: (o: object) => apply(weakHas, proxies, [o]) as boolean, pristine };
}

/** How a sample (the window, the reference) is laid out in its Float64Array. */
export interface SampleSpec {
  length: number;
  /** All column names in order. */
  columns: string[];
  /** Numeric columns, in their order in the buffer (each `length` values). */
  numeric: string[];
  /** String columns (their values come with the sample's text part). */
  stringColumns: string[];
  /** Whether the buffer holds timestamps and latencies after the numeric columns. */
  timed: boolean;
}

/** The text part of a sample, fetched when first needed. */
export interface SampleText {
  strings: Record<string, Array<string | null>>;
  /** null when no row has one. */
  requestIds: Array<string | null> | null;
  /** The ground truth's string columns (the window's text part only). */
  groundTruth?: Record<string, Array<string | null>>;
}

/**
 * The host's callbacks, handed to a context once when it is made (a callback made per window
 * would hold native memory until the isolate's garbage collector gets round to it). Each call
 * names its window by sequence number: the host answers only for the window running now.
 */
export interface HostCallbacks {
  /** which 0 = the window, 1 = the reference; part 0 = its Float64Array, 1 = its text part as JSON, 2 and 3 = the window's and the reference's statistics as JSON. */
  fetch: (seq: number, which: number, part: number) => Float64Array | string | undefined;
  log: (seq: number, level: string, message: string, fields: string) => void;
}

/** Answer of runWindow when the realm is not as the first window found it: the host starts a fresh context. */
export const DIRTY = '\u0000dirty';

/**
 * Builds the MonitoringContext from `metaJson`, makes the plugin's module (a fresh instance
 * for every window, unless `keepModule`), instantiates its default export and returns a
 * promise of the output as JSON text. The rows are not in `metaJson`: `fetch(which, part)`
 * (a host callback; which 0 = the window, 1 = the reference; part 0 = the Float64Array,
 * 1 = the text part as JSON, 2 and 3 = the window's and the reference's statistics as JSON) brings them in the first time the app reads them, so an
 * app that works on the window statistics never pays for the rows, and one that counts the
 * rows itself never pays for the statistics. Called with arguments, so
 * nothing of the host's sits in a global where plugin code could reach it.
 */
export function runWindow(realm: Realm, host: HostCallbacks, keepModule: boolean, seq: number, metaJson: string): Promise<string> | string {
  // before any plugin code runs: the realm must be as the first window found it
  if (!keepModule && !realm.pristine()) return '\u0000dirty'; // DIRTY (this function is sent as source text: no outer names)
  const fetch = (which: number, part: number) => host.fetch(seq, which, part);
  const log = (level: string, message: string, fields: string) => host.log(seq, level, message, fields);
  const g = globalThis as Record<string, unknown>;
  const meta = JSON.parse(metaJson) as {
    applicationName: string;
    endpoint: unknown;
    windowStart: number;
    windowEnd: number;
    sample: SampleSpec;
    reference?: SampleSpec;
    groundTruth?: { matched: number; numeric: string[]; strings: string[] };
    config: unknown;
  };

  const parts = (which: number) => {
    let f64: Float64Array | undefined;
    let text: SampleText | undefined;
    return {
      buffer: () => {
        if (!f64) {
          const b = fetch(which, 0);
          f64 = b instanceof Float64Array ? b : new Float64Array(0); // nothing comes for an empty sample
        }
        return f64;
      },
      text: () => (text ??= JSON.parse(fetch(which, 1) as string) as SampleText),
    };
  };
  const window = parts(0);

  const makeSample = (spec: SampleSpec, data: ReturnType<typeof parts>, what: string) => {
    const n = spec.length;
    const k = spec.numeric.length;
    const slot = new Map<string, number>();
    spec.numeric.forEach((name, i) => slot.set(name, i));
    const strings = new Set(spec.stringColumns);
    const cols = new Map<string, Float64Array | Array<string | null>>();
    const columns = Object.freeze(spec.columns.slice());
    const has = (name: string) => slot.has(name) || strings.has(name);
    const column = (name: string) => {
      let c = cols.get(name);
      if (c) return c;
      const i = slot.get(name);
      if (i !== undefined) c = data.buffer().subarray(i * n, (i + 1) * n);
      else if (strings.has(name)) c = data.text().strings[name]!;
      else throw new Error(`${what} has no column '${name}' (it has: ${columns.join(', ')})`);
      cols.set(name, c);
      return c;
    };
    let timestamps: Float64Array | undefined;
    let latencyMicros: Float64Array | undefined;
    let requestIds: ReadonlyArray<string | null> | undefined;
    const row = (i: number) => {
      if (!(i >= 0 && i < n)) throw new RangeError(`row index ${i} is out of range (0..${n - 1})`);
      const r: Record<string, unknown> = {};
      for (const name of columns) {
        const v = column(name)[i];
        r[name] = typeof v === 'number' && Number.isNaN(v) ? null : v;
      }
      return r;
    };
    return Object.freeze({
      length: n,
      columns,
      get timestamps() {
        return (timestamps ??= spec.timed ? data.buffer().subarray(k * n, (k + 1) * n) : new Float64Array(n).fill(NaN));
      },
      get latencyMicros() {
        return (latencyMicros ??= spec.timed ? data.buffer().subarray((k + 1) * n, (k + 2) * n) : new Float64Array(n).fill(NaN));
      },
      get requestIds() {
        return (requestIds ??= Object.freeze(data.text().requestIds ?? new Array<string | null>(n).fill(null)));
      },
      has,
      column,
      row,
      *rows() {
        for (let i = 0; i < n; i++) yield row(i);
      },
    });
  };

  const sample = makeSample(meta.sample, window, 'the window');
  const reference = meta.reference ? makeSample(meta.reference, parts(1), 'the reference') : undefined;
  let groundTruth: unknown;
  if (meta.groundTruth) {
    const gt = meta.groundTruth;
    const n = meta.sample.length;
    const k = meta.sample.numeric.length;
    const names = [...gt.numeric, ...gt.strings];
    const cols = new Map<string, Float64Array | Array<string | null>>();
    groundTruth = Object.freeze({
      matched: gt.matched,
      columns: Object.freeze(names),
      has: (name: string) => names.includes(name),
      column: (name: string) => {
        let c = cols.get(name);
        if (c) return c;
        const i = gt.numeric.indexOf(name);
        // ground-truth numeric columns follow the window's timestamps and latencies in its buffer
        if (i >= 0) c = window.buffer().subarray((k + 2 + i) * n, (k + 3 + i) * n);
        else if (gt.strings.includes(name)) c = window.text().groundTruth![name]!;
        else throw new Error(`no ground truth for '${name}' (known: ${names.join(', ')})`);
        cols.set(name, c);
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
  let sampleStats: unknown;
  // parsed anew every window (not frozen and shared: V8 stores frozen arrays of numbers boxed,
  // which makes every read of a histogram edge several times slower)
  let featureStats: unknown;
  const ctx = Object.freeze({
    applicationName: meta.applicationName,
    endpoint: meta.endpoint,
    windowStart: new Date(meta.windowStart),
    windowEnd: new Date(meta.windowEnd),
    sample,
    reference,
    groundTruth,
    // the statistics, too, come in when first read (part 2: the window's, 3: the reference's)
    get sampleStats() {
      return (sampleStats ??= JSON.parse(fetch(0, 2) as string) as unknown);
    },
    get featureStats() {
      return (featureStats ??= JSON.parse(fetch(0, 3) as string) as unknown);
    },
    config: meta.config,
    logger,
  });
  const factory = g.__mw_factory as () => unknown;
  const mod = (keepModule ? (realm.module ??= factory()) : factory()) as { default?: unknown } | undefined;
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
  const isProxy = realm.isProxy;
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
    if (out === undefined)
      throw new Invalid('doTracking returned undefined: return a result, a metric, an array of them, or an object of metric names to numbers');
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
