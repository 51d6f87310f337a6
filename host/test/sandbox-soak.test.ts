/*
 * Long runs of one sandbox: the runner's heap and RSS must plateau over 10,000 windows and
 * over 100 hot reloads (new versions, each a new isolate). Bounds are generous; a leak of a
 * context or an isolate per window would exceed them by far.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bundlePlugin } from '../src/plugins/bundle.js';
import { PluginSandbox, type SandboxInput } from '../src/runner/sandbox.js';
import { referenceStats, windowStats } from '@modelwatch/sdk/stats';

const HISTOGRAM = fileURLToPath(new URL('../../plugins/histogram-data-drift/', import.meta.url));
const n = 200;
const values = Array.from({ length: n }, (_, i) => Math.sin(i) * 10);
const ref = referenceStats(values);
const packed = new Float64Array(3 * n);
packed.set(values);
const input = (): SandboxInput => ({
  applicationName: 'histogram-data-drift',
  endpoint: { id: 'e'.repeat(40), name: 'soak', featureNames: ['x'], labelNames: [] },
  windowStart: 0,
  windowEnd: 1000,
  sample: { length: n, columns: ['x'], numeric: ['x'], packed, strings: {}, requestIds: new Array<string | null>(n).fill(null), timed: true },
  sampleStats: { x: windowStats(values, ref) },
  featureStats: { x: ref },
  config: { potentialThreshold: 0.5, detectedThreshold: 0.7 },
});
const mb = () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed / 1e6, rss: m.rss / 1e6 };
};

describe('resource use over time', () => {
  it('heap and RSS stay flat over 10,000 windows', async () => {
    const bundle = await bundlePlugin(HISTOGRAM);
    const sb = PluginSandbox.fromBundle(bundle);
    try {
      for (let i = 0; i < 1000; i++) await sb.run(input());
      const warm = mb();
      for (let i = 0; i < 9000; i++) await sb.run(input());
      const end = mb();
      expect(end.rss - warm.rss).toBeLessThan(60);
      expect(end.heap - warm.heap).toBeLessThan(30);
    } finally {
      sb.dispose();
    }
  }, 180_000);

  it('an isolate stays within its memory over 1,200 fresh contexts (a window that changes the realm every time)', async () => {
    // each window leaves an intrinsic changed, so the next runs in a fresh context: the runtime's
    // module, its namespace and the context must all be let go of (a leak filled 64 MB in < 500)
    const code = `var __mw_plugin = { default: class { doTracking(ctx) { Object.getPrototypeOf([][Symbol.iterator]()).leak = 1; return { name: 'rows', value: ctx.sample.length }; } } };`;
    const sb = new PluginSandbox({ name: 'polluter', version: '1.0.0', code, limits: { memoryMb: 64, timeoutMs: 5000, extraDataBytes: 65536 } });
    try {
      for (let i = 0; i < 200; i++) await sb.run(input());
      const warm = mb();
      for (let i = 0; i < 1000; i++) expect(JSON.parse(await sb.run(input()))).toEqual({ name: 'rows', value: n });
      const end = mb();
      expect(sb.contextsCreated).toBe(1200);
      expect(end.rss - warm.rss).toBeLessThan(60);
      expect(end.heap - warm.heap).toBeLessThan(30);
    } finally {
      sb.dispose();
    }
  }, 180_000);

  it('heap and RSS stay flat over 100 hot reloads', async () => {
    const bundle = await bundlePlugin(HISTOGRAM);
    const reload = async (i: number) => {
      // a new version is new code in a new isolate; the old one is disposed, as the runner's LRU does
      const sb = new PluginSandbox({ name: 'histogram-data-drift', version: `1.0.${i}`, code: `${bundle.code}\n// v${i}`, limits: bundle.manifest.limits });
      await sb.run(input());
      sb.dispose();
    };
    for (let i = 0; i < 10; i++) await reload(i);
    const warm = mb();
    for (let i = 10; i < 110; i++) await reload(i);
    const end = mb();
    expect(end.rss - warm.rss).toBeLessThan(80);
    expect(end.heap - warm.heap).toBeLessThan(30);
  }, 180_000);
});
