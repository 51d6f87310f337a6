/*
 * One context builder (the SDK's createContext/createSample) serves the sandbox and
 * @modelwatch/sdk/testing: an app reading the shape of its `ctx` sees the same in both.
 */
import { createTestContext } from '@modelwatch/sdk/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { PluginSandbox, type SandboxInput } from '../src/runner/sandbox.js';

/** What an app can see of its context's shape: own properties (data or accessor), frozenness, what the accessors give. */
const SHAPE = String.raw`function shape(ctx) {
  var describe = function (o) {
    return {
      frozen: Object.isFrozen(o),
      props: Object.getOwnPropertyNames(o).filter(function (k) { return k !== 'logs'; }).sort().map(function (k) {
        var d = Object.getOwnPropertyDescriptor(o, k);
        return k + ':' + (d.get ? 'getter' : typeof d.value) + (d.writable ? ':writable' : '');
      }),
    };
  };
  return {
    ctx: describe(ctx),
    sample: describe(ctx.sample),
    logger: describe(ctx.logger),
    groundTruth: ctx.groundTruth === undefined ? 'none' : describe(ctx.groundTruth),
    reference: ctx.reference === undefined ? 'none' : describe(ctx.reference),
    columns: { frozen: Object.isFrozen(ctx.sample.columns), value: ctx.sample.columns.slice() },
    a: Array.from(ctx.sample.column('a')).map(String),
    s: ctx.sample.column('s').slice(),
    row: ctx.sample.row(1),
    rows: Array.from(ctx.sample.rows()).length,
    timestamps: Array.from(ctx.sample.timestamps),
    latencies: Array.from(ctx.sample.latencyMicros).map(String),
    requestIds: { frozen: Object.isFrozen(ctx.sample.requestIds), value: ctx.sample.requestIds.slice() },
    has: [ctx.sample.has('a'), ctx.sample.has('s'), ctx.sample.has('nope')],
    missing: (function () { try { ctx.sample.column('nope'); return 'no error'; } catch (e) { return e.message; } })(),
    outOfRange: (function () { try { ctx.sample.row(9); return 'no error'; } catch (e) { return e.constructor.name + ': ' + e.message; } })(),
    windowStart: ctx.windowStart.toISOString(),
    sampleStats: Object.keys(ctx.sampleStats),
    featureStats: Object.keys(ctx.featureStats),
    config: ctx.config,
  };
}`;

const T0 = Date.UTC(2026, 0, 1);

const sandboxes: PluginSandbox[] = [];
afterAll(() => {
  for (const sb of sandboxes) sb.dispose();
});

describe('the sandbox and @modelwatch/sdk/testing build one context', () => {
  it('an app sees the same ctx, sample and logger in both', async () => {
    const code = `var __mw_plugin = (function () { ${SHAPE}
      function App() {}
      App.prototype.doTracking = function (ctx) { return { name: 'shape', value: 0, kind: 0, status: 0, extraData: shape(ctx) }; };
      return { default: App };
    })();`;
    const sb = new PluginSandbox({ name: 'shape', version: '1.0.0', code, limits: { memoryMb: 32, timeoutMs: 5000, extraDataBytes: 65536 } });
    sandboxes.push(sb);
    // the same window both ways: a numeric column a, a string column s, two rows
    const sampleStats = { a: { type: 'numeric' }, s: { type: 'categorical' } };
    const input: SandboxInput = {
      applicationName: 'shape',
      endpoint: { id: '0'.repeat(40), name: 'test-endpoint', featureNames: ['a', 's'], labelNames: [] },
      windowStart: T0,
      windowEnd: T0 + 600_000,
      sample: {
        length: 2,
        columns: ['a', 's'],
        numeric: ['a'],
        packed: Float64Array.from([1.5, NaN, T0, T0, NaN, NaN]),
        strings: { s: ['x', null] },
        requestIds: ['r0', 'r1'],
        timed: true,
      },
      sampleStats,
      featureStats: {},
      config: { k: 1 },
    };
    const inSandbox = (JSON.parse(await sb.run(input)) as { extraData: unknown }).extraData;

    const shape = new Function(`return ${SHAPE}`)() as (ctx: unknown) => unknown;
    const ctx = createTestContext({ sample: { a: [1.5, null], s: ['x', null] }, requestIds: ['r0', 'r1'], config: { k: 1 }, windowStart: T0 });
    const inTests = JSON.parse(JSON.stringify(shape(ctx))) as Record<string, unknown>;
    // the statistics are the host's (here given) or computed by the testing context: compare the rest
    expect(inTests.sampleStats).toEqual(['a', 's']);
    expect(inSandbox).toEqual(inTests);
    expect(inSandbox).toMatchObject({
      ctx: { frozen: true },
      sample: { frozen: true },
      logger: { frozen: true, props: ['debug:function', 'error:function', 'info:function', 'warn:function'] },
      a: ['1.5', 'NaN'],
      row: { a: null, s: null },
      missing: "the window has no column 'nope' (it has: a, s)",
      outOfRange: 'RangeError: row index 9 is out of range (0..1)',
    });
  });

  it("the statistics an app read once come with every later window's call, each window's own", async () => {
    // window 1 reads only the reference's statistics, windows 2 and 3 both
    const code = `var __mw_plugin = (function () {
      var n = 0;
      function App() {}
      App.prototype.doTracking = function (ctx) {
        n++;
        var seen = { reference: ctx.featureStats.a.mean };
        if (n > 1) seen.sample = ctx.sampleStats.a.mean;
        return { name: 'stats', value: n, kind: 0, status: 0, extraData: seen };
      };
      return { default: App };
    })();`;
    const sb = new PluginSandbox({
      name: 'stats',
      version: '1.0.0',
      code,
      isolation: 'version',
      limits: { memoryMb: 32, timeoutMs: 5000, extraDataBytes: 65536 },
    });
    sandboxes.push(sb);
    const window = (i: number): SandboxInput => ({
      applicationName: 'stats',
      endpoint: { id: '0'.repeat(40), name: 'test-endpoint', featureNames: ['a'], labelNames: [] },
      windowStart: T0 + i * 600_000,
      windowEnd: T0 + (i + 1) * 600_000,
      sample: { length: 1, columns: ['a'], numeric: ['a'], packed: Float64Array.from([i]), strings: {}, requestIds: [null], timed: false },
      sampleStats: { a: { type: 'numeric', mean: i } },
      featureStats: { a: { type: 'numeric', mean: 100 + i } },
      config: {},
    });
    const seen: unknown[] = [];
    for (const i of [1, 2, 3]) seen.push((JSON.parse(await sb.run(window(i))) as { extraData: unknown }).extraData);
    expect(seen).toEqual([{ reference: 101 }, { reference: 102, sample: 2 }, { reference: 103, sample: 3 }]);
    // the reference's in window 1, the window's in window 2; none after
    expect(sb.statsCalledBack).toBe(2);
  });
});
