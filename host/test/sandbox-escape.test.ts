/*
 * A sloppy-mode plugin reaching for the sandbox runtime (issue #10, item 6). The runtime that runs
 * in the isolate is strict code: a sloppy function's `.caller`, `arguments.callee.caller` and the
 * structured stack trace's `getFunction()` give nothing of a strict caller. Before it was, a plugin
 * whose doTracking was sloppy read `doTracking.caller.arguments`, got the runtime's realm and the
 * host's callbacks, replaced the pristine-realm check and read in endpoint B's window what it
 * left in endpoint A's, under the default per-window isolation.
 */
import { normalizeAppOutput } from '@modelwatch/sdk/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { PluginSandbox, type SandboxInput } from '../src/runner/sandbox.js';

/**
 * A plugin bundle written by hand, all of it sloppy (no "use strict", no module, no class: a
 * constructor function with a prototype method). It collects every function of someone else's it
 * can reach from doTracking, tries each one's `arguments` for an object with a `pristine` check to
 * replace, leaves a secret in a global, and reports what it found.
 */
const SLOPPY = String.raw`
var __mw_plugin = (function () {
  var mine = [];
  function App() {}
  function note(found, how, f) {
    if (typeof f !== 'function' || mine.indexOf(f) >= 0) return;
    found.reached.push(how + ': ' + (f.name || 'anonymous'));
    var args;
    try { args = f.arguments; } catch (e) { return; }
    if (!args) return;
    for (var i = 0; i < args.length; i++) {
      var a = args[i];
      if (a && typeof a === 'object') {
        found.reached.push(how + ': argument ' + i + ' (' + Object.keys(a).join(',') + ')');
        try { a.pristine = function () { return true; }; found.replaced = true; } catch (e) {}
      }
    }
  }
  function chain(found, how, f) {
    for (var depth = 0; depth < 16 && typeof f === 'function'; depth++) {
      note(found, how + ' depth ' + depth, f);
      try { f = f.caller; } catch (e) { return; }
    }
  }
  App.prototype.doTracking = function doTracking(ctx) {
    var found = { endpoint: ctx.endpoint.name, leaked: null, reached: [], replaced: false };
    if (typeof globalThis.stash === 'string') found.leaked = globalThis.stash;
    try { chain(found, 'doTracking.caller', doTracking.caller); } catch (e) {}
    try { chain(found, 'arguments.callee.caller', arguments.callee.caller); } catch (e) {}
    // the structured stack trace: getFunction() of every frame
    try {
      Error.prepareStackTrace = function (err, frames) { return frames; };
      var frames = new Error('probe').stack;
      delete Error.prepareStackTrace;
      for (var i = 0; i < frames.length; i++) {
        var fn = frames[i].getFunction();
        if (mine.indexOf(fn) >= 0) continue;
        note(found, 'frame ' + i, fn);
        var t = frames[i].getThis();
        if (t && t !== globalThis && typeof t === 'object') found.reached.push('frame ' + i + ': this (' + Object.keys(t).join(',') + ')');
      }
    } catch (e) { delete Error.prepareStackTrace; }
    // a function of the plugin's that the runtime calls: a log message's toString
    var toString = function toString() { chain(found, 'toString.caller', toString.caller); return 'probe'; };
    mine.push(toString);
    ctx.logger.info({ toString: toString });
    globalThis.stash = 'secret of ' + ctx.endpoint.name;
    return { name: 'probe', value: 0, kind: 0, status: 0, extraData: found };
  };
  mine.push(App, note, chain, App.prototype.doTracking);
  return { default: App };
})();
`;

const limits = { memoryMb: 32, timeoutMs: 5000, extraDataBytes: 65536 };

function windowOf(endpoint: string, start: number): SandboxInput {
  const n = 3;
  return {
    applicationName: 'caller-probe',
    endpoint: { id: `${endpoint}-id`, name: endpoint, featureNames: ['x'], labelNames: [] },
    windowStart: start,
    windowEnd: start + 60_000,
    sample: { length: n, columns: ['x'], numeric: ['x'], packed: new Float64Array(3 * n).fill(1), strings: {}, requestIds: [null, null, null], timed: true },
    sampleStats: {},
    featureStats: {},
    config: {},
  };
}

const sandboxes: PluginSandbox[] = [];
afterAll(() => {
  for (const sb of sandboxes) sb.dispose();
});

describe('a sloppy plugin reaching for the runtime through .caller', () => {
  it('gets nothing of the runtime, and carries nothing from endpoint A window to endpoint B window', async () => {
    const sb = new PluginSandbox({ name: 'caller-probe', version: '1.0.0', code: SLOPPY, limits });
    sandboxes.push(sb);
    const found = async (endpoint: string, start: number) => {
      const out = normalizeAppOutput(JSON.parse(await sb.run(windowOf(endpoint, start))));
      return out.results[0]!.extraData as { endpoint: string; leaked: string | null; reached: string[]; replaced: boolean };
    };
    const a = await found('endpoint-a', 0);
    expect(a).toEqual({ endpoint: 'endpoint-a', leaked: null, reached: [], replaced: false });
    const b = await found('endpoint-b', 60_000);
    expect(b).toEqual({ endpoint: 'endpoint-b', leaked: null, reached: [], replaced: false });
    // the global each window left was deleted by the pristine check: one context served both
    expect(sb.contextsCreated).toBe(1);
  });

  it('nor with "isolation": "version" does it reach the runtime (its own globals persist, as documented)', async () => {
    const sb = new PluginSandbox({ name: 'caller-probe', version: '1.0.0', code: SLOPPY, limits, isolation: 'version' });
    sandboxes.push(sb);
    const first = normalizeAppOutput(JSON.parse(await sb.run(windowOf('endpoint-a', 0)))).results[0]!.extraData;
    expect(first).toEqual({ endpoint: 'endpoint-a', leaked: null, reached: [], replaced: false });
    const second = normalizeAppOutput(JSON.parse(await sb.run(windowOf('endpoint-b', 60_000)))).results[0]!.extraData;
    expect(second).toEqual({ endpoint: 'endpoint-b', leaked: 'secret of endpoint-a', reached: [], replaced: false });
  });
});
