/*
 * Runs INSIDE the sandbox, part of the runtime's bundle (./runtime.ts): the realm's hardening and
 * the pristine-realm check.
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

  return freeze({ isProxy: (o: object) => apply(weakHas, proxies, [o]) as boolean, pristine });
}
