/*
 * Runs INSIDE the sandbox, part of the runtime's bundle: a window's output walked and turned into
 * JSON text there, so only plain data leaves the isolate.
 */
import { MAX_OUTPUT_CHARS, MAX_OUTPUT_DEPTH } from './contract.js';

/** What is wrong with an output, with the path of the offending value. */
export class InvalidOutput extends Error {}

/**
 * The output as JSON text. Functions, symbols, bigints, non-finite numbers, Proxies, getters,
 * Maps/Sets/Dates/RegExps/Promises, cycles, nesting past MAX_OUTPUT_DEPTH and more than
 * MAX_OUTPUT_CHARS characters throw InvalidOutput; typed arrays become plain arrays.
 */
export function serializeOutput(out: unknown, isProxy: (o: object) => boolean): string {
  const parts: string[] = [];
  let size = 0;
  const ancestors: object[] = [];
  const push = (s: string) => {
    size += s.length;
    if (size > MAX_OUTPUT_CHARS) throw new InvalidOutput(`the output is more than ${MAX_OUTPUT_CHARS} characters of JSON`);
    parts.push(s);
  };
  const walk = (v: unknown, path: string): void => {
    switch (typeof v) {
      case 'number':
        if (!Number.isFinite(v)) throw new InvalidOutput(`${path} is ${String(v)}, which JSON cannot carry`);
        return push(String(v));
      case 'string':
        return push(JSON.stringify(v));
      case 'boolean':
        return push(v ? 'true' : 'false');
      case 'undefined':
        return push('null');
      case 'function':
        throw new InvalidOutput(`${path} is a function`);
      case 'bigint':
        throw new InvalidOutput(`${path} is a bigint (${String(v)}n); use a number`);
      case 'symbol':
        throw new InvalidOutput(`${path} is a symbol`);
    }
    if (v === null) return push('null');
    const o = v as object;
    if (isProxy(o)) throw new InvalidOutput(`${path} is a Proxy; return plain objects and arrays`);
    if (ancestors.includes(o)) throw new InvalidOutput(`${path} refers back to an enclosing object (a cycle)`);
    if (ancestors.length >= MAX_OUTPUT_DEPTH) throw new InvalidOutput(`${path} is nested more than ${MAX_OUTPUT_DEPTH} levels deep`);
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
        if (d && (d.get || d.set)) throw new InvalidOutput(`${path}[${i}] is a getter; return plain data`);
        walk(d?.value, `${path}[${i}]`);
      }
      push(']');
    } else {
      if (o instanceof Map || o instanceof Set || o instanceof Date || o instanceof RegExp || o instanceof Promise) {
        throw new InvalidOutput(`${path} is a ${o.constructor.name}; return plain objects and arrays`);
      }
      push('{');
      let first = true;
      for (const k of Object.keys(o)) {
        const d = Object.getOwnPropertyDescriptor(o, k)!;
        if (d.get || d.set) throw new InvalidOutput(`${path}.${k} is a getter; return plain data`);
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
    throw new InvalidOutput('doTracking returned undefined: return a result, a metric, an array of them, or an object of metric names to numbers');
  walk(out, 'output');
  return parts.join('');
}
