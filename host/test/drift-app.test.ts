/*
 * The built-in drift app as the host runs it: its configSchema refusing bad configs at publish,
 * configure and `plugin test`, and its windows in the real sandbox (with "isolation":
 * "version", one context and the module's reference models kept), equal to the app run in
 * process.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { JsonValue } from '@modelwatch/sdk';
import { normalizeAppOutput } from '../src/sdk-internal.js';
import { createRandom } from '@modelwatch/sdk/stats';
import { createTestContext } from '@modelwatch/sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReferenceTable } from '@modelwatch/protocol';
import Drift from '../../plugins/drift/src/index.js';
import { bundlePlugin, type PluginBundle } from '../src/plugins/bundle.js';
import { validateConfig } from '../src/plugins/config.js';
import { resolveManifest } from '../src/plugins/manifest.js';
import { localInput, runLocal } from '../src/runner/local.js';
import { PluginSandbox } from '../src/runner/sandbox.js';
import { rejection } from './helpers.js';

const DIR = fileURLToPath(new URL('../../plugins/drift/', import.meta.url));
const raw = JSON.parse(readFileSync(`${DIR}plugin.json`, 'utf8')) as Record<string, JsonValue>;
const schema = raw.configSchema as Record<string, JsonValue>;

describe("drift's configSchema: bad configs refused at publish, configure and plugin test", () => {
  it('the manifest is valid, with its config, reference rows and version isolation', () => {
    const m = resolveManifest(raw, 'plugins/drift/plugin.json');
    expect(m).toMatchObject({ name: 'drift', referenceRows: true, isolation: 'version', config: { alpha: 0.05, potentialAlpha: 0.2, correction: 'bh' } });
  });

  it.each([
    [{ alpha: 0 }, 'alpha: must be > 0'],
    [{ alpha: 0.6 }, 'alpha: must be < 0.5'],
    [{ alpha: '0.05' }, 'alpha: must be number'],
    [{ potentialAlpha: 1 }, 'potentialAlpha: must be < 1'],
    [{ correction: 'holm' }, 'correction: must be equal to one of the allowed values'],
    [{ features: 'age' }, 'features: must be array'],
    [{ features: [] }, 'features: must NOT have fewer than 1 items'],
    [{ replicates: 10 }, 'replicates: must be >= 100'],
    [{ seed: 1.5 }, 'seed: must be integer'],
    [
      { aplha: 0.01 },
      'config: unknown setting: the drift app takes alpha, potentialAlpha, correction, features, mmd, categoricalMaxValues, replicates and seed',
    ],
  ])('%j: refused with "%s"', (config, message) => {
    // what the API does with the config of a publish and of `plugin configure`
    let err: unknown;
    try {
      validateConfig(config as Record<string, JsonValue>, schema, 'drift');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((err as Error).message).toBe(`config of drift is not valid:\n  - ${message}`);
    // a plugin.json with that config does not resolve
    expect(() => resolveManifest({ ...raw, config }, 'plugin.json')).toThrow(/config of drift is not valid|plugin\.json/);
  });

  it('good configs pass', () => {
    for (const config of [
      {},
      { alpha: 0.01, potentialAlpha: 0.1, correction: 'bonferroni' },
      { features: ['a', 'b'], mmd: false, categoricalMaxValues: 0, replicates: 1000, seed: 7 },
    ]) {
      expect(() => validateConfig(config as Record<string, JsonValue>, schema, 'drift')).not.toThrow();
    }
  });
});

describe('the drift app in the sandbox', () => {
  let bundle: PluginBundle;
  let sb: PluginSandbox;
  const r = createRandom(3);
  const table = (n: number, shift = 0): ReferenceTable => {
    const plans = ['a', 'b', 'c'];
    return {
      columns: ['x', 'y', 'plan'],
      rows: n,
      values: {
        x: Array.from({ length: n }, () => r.normal() + shift),
        y: Array.from({ length: n }, () => r.normal() * 3),
        plan: Array.from({ length: n }, () => plans[r.int(3)]!),
      },
    };
  };
  const reference = table(600);

  beforeAll(async () => {
    bundle = await bundlePlugin(DIR);
    sb = PluginSandbox.fromBundle(bundle);
  });
  afterAll(() => sb?.dispose());

  it('plugin test refuses a config its schema refuses', async () => {
    const err = await rejection(runLocal(bundle, { sample: table(20), reference, config: { alpha: 2 } }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toBe('config of drift is not valid:\n  - alpha: must be < 0.5');
  });

  it('windows give the same results as the app in process, in one kept context', async () => {
    for (const [n, shift] of [
      [40, 0],
      [300, 0.4],
      [41, 0],
    ] as const) {
      const sample = table(n, shift);
      const out = normalizeAppOutput(JSON.parse(await sb.run(localInput(bundle, { sample, reference }))));
      const ctx = createTestContext({ sample: sample.values, reference: reference.values, config: bundle.manifest.config });
      const inProcess = normalizeAppOutput(new Drift().doTracking(ctx as never));
      expect(out).toEqual(inProcess);
      expect(out.results[0]!.name).toBe('drift');
    }
    expect(sb.contextsCreated).toBe(1);
  });

  it('with the reference deferred, as a runner first gives it: the window runs again with it, in the same context, with the same results', async () => {
    const deferred = PluginSandbox.fromBundle(bundle);
    try {
      const sample = table(300, 0.4);
      const { reference: rows, ...input } = localInput(bundle, { sample, reference });
      let reads = 0;
      const loadReference = () => {
        reads++;
        return Promise.resolve(rows);
      };
      const out = normalizeAppOutput(JSON.parse(await deferred.run(input, { loadReference })));
      expect(out).toEqual(normalizeAppOutput(JSON.parse(await sb.run(localInput(bundle, { sample, reference })))));
      expect(reads).toBe(1);
      expect(deferred.contextsCreated).toBe(1);
    } finally {
      deferred.dispose();
    }
  });
});
