/*
 * bundlePlugin on the real esbuild: built-in plugin, banned Node built-ins, syntax errors,
 * bad manifests, a plugin folder outside the repository, and a plugin with its own npm
 * dependency (bundled, then run in the real sandbox).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalizeAppOutput } from '../src/sdk-internal.js';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLE_GLOBAL, bundlePlugin } from '../src/plugins/bundle.js';
import { PluginSandbox, type SandboxInput } from '../src/runner/sandbox.js';
import { rejection } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/plugins/', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const HISTOGRAM = join(REPO, 'plugins', 'histogram-data-drift');
const fixture = (name: string): string => join(FIXTURES, name);

/** Temp folders made by this file, removed at the end. */
const temps: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mw-bundle-test-'));
  temps.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

/** A two-row window: numeric columns a and b, string column s (what well-behaved reads). */
function smallInput(config: unknown = {}): SandboxInput {
  return {
    applicationName: 'bundle-test',
    endpoint: { id: 'e1', name: 'ep', featureNames: ['a', 'b', 's'], labelNames: [] },
    windowStart: Date.UTC(2025, 0, 1),
    windowEnd: Date.UTC(2025, 0, 1, 1),
    sample: {
      length: 2,
      columns: ['a', 'b', 's'],
      numeric: ['a', 'b'],
      packed: Float64Array.from([2, 3, NaN, 1, Date.UTC(2025, 0, 1, 0, 10), Date.UTC(2025, 0, 1, 0, 20), NaN, NaN]),
      strings: { s: ['x', null] },
      requestIds: [null, null],
      timed: true,
    },
    sampleStats: {},
    featureStats: {},
    config,
  };
}

/** Whether any folder from `dir` up to the root has a node_modules. */
function nodeModulesAbove(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) return join(d, 'node_modules');
    if (dirname(d) === d) return undefined;
  }
}

async function writeManifest(dir: string, manifest: unknown): Promise<void> {
  await writeFile(join(dir, 'plugin.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest, null, 2));
}

describe('bundlePlugin: the built-in histogram-data-drift plugin', () => {
  it('bundles into an IIFE assigning __mw_plugin, with its inputs and a sha256 digest', async () => {
    const bundle = await bundlePlugin(HISTOGRAM);
    expect(bundle.manifest.name).toBe('histogram-data-drift');
    expect(bundle.manifest.version).toBe('1.0.0');
    expect(bundle.manifest.limits).toEqual({ memoryMb: 128, timeoutMs: 10000, extraDataBytes: 64 * 1024 });
    expect(bundle.manifest.config).toEqual({ potentialThreshold: 0.5, detectedThreshold: 0.7 });
    expect(bundle.manifest.runOnEmptyWindows).toBe(false);

    expect(BUNDLE_GLOBAL).toBe('__mw_plugin');
    expect(bundle.code).toMatch(/^(?:"use strict";\s*)?var __mw_plugin = \(\(\) => \{/);
    expect(bundle.code.trimEnd()).toMatch(/\}\)\(\);$/);
    // no import/require left: everything is inside the one script
    expect(bundle.code).not.toMatch(/\brequire\(|^\s*import\s/m);

    expect(bundle.inputs).toContain(join(HISTOGRAM, 'src', 'index.ts'));
    for (const p of bundle.inputs) expect(p.startsWith(sep)).toBe(true);
    // the SDK is bundled in, from the host's installation
    expect(bundle.inputs.some((p) => p.includes(`${sep}sdk${sep}`))).toBe(true);

    expect(bundle.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(bundle.digest).toBe(createHash('sha256').update(bundle.code).digest('hex'));
    expect(JSON.parse(bundle.map)).toMatchObject({ version: 3 });

    // the same sources give the same bundle
    expect((await bundlePlugin(HISTOGRAM)).digest).toBe(bundle.digest);
  });

  it('evaluates to a default-exported class with doTracking', async () => {
    const bundle = await bundlePlugin(HISTOGRAM);
    const sandbox = PluginSandbox.fromBundle(bundle);
    try {
      await sandbox.check();
    } finally {
      sandbox.dispose();
    }
  });
});

describe('bundlePlugin: Node built-ins are refused at build time', () => {
  it.each([
    ['import-node-fs', 'node:fs'],
    ['import-fs', 'fs'],
    ['import-child-process', 'child_process'],
  ])('%s fails with PLUGIN_BUILD_FAILED naming src/index.ts:2 and the built-in %s', async (name, module) => {
    const err = await rejection(bundlePlugin(fixture(name)));
    expect(err.code).toBe('PLUGIN_BUILD_FAILED');
    expect(err.message).toContain(`${name}@1.0.0 does not build`);
    expect(err.message).toContain('src/index.ts:2:');
    expect(err.message).toContain(`'${module}' is a Node.js built-in module`);
    // the location is relative to the plugin folder: no absolute host path
    expect(err.message).not.toContain(FIXTURES);
  });
});

describe('bundlePlugin: build errors', () => {
  it('a syntax error fails with PLUGIN_BUILD_FAILED and file:line:column', async () => {
    const err = await rejection(bundlePlugin(fixture('syntax-error')));
    expect(err.code).toBe('PLUGIN_BUILD_FAILED');
    expect(err.message).toMatch(/src\/index\.ts:5:\d+: Unexpected ";"/);
  });

  it('an entry file that does not exist fails with PLUGIN_BUILD_FAILED naming it', async () => {
    const dir = await tempDir();
    await writeManifest(dir, { name: 'no-entry', version: '1.0.0', description: 'x', entry: 'src/missing.ts' });
    const err = await rejection(bundlePlugin(dir));
    expect(err.code).toBe('PLUGIN_BUILD_FAILED');
    expect(err.message).toContain('missing.ts');
  });

  it('an unresolvable package import fails with file:line and the package name', async () => {
    // with-dependency imports tiny-dep, which its fixture folder does not provide
    const dir = await tempDir();
    await cp(fixture('with-dependency'), dir, { recursive: true });
    const err = await rejection(bundlePlugin(dir));
    expect(err.code).toBe('PLUGIN_BUILD_FAILED');
    expect(err.message).toMatch(/src\/index\.ts:2:\d+: Could not resolve "tiny-dep"/);
  });
});

describe('bundlePlugin: manifest problems', () => {
  it('a folder without plugin.json fails with PLUGIN_INVALID_MANIFEST', async () => {
    const dir = await tempDir();
    const err = await rejection(bundlePlugin(dir));
    expect(err.code).toBe('PLUGIN_INVALID_MANIFEST');
    expect(err.message).toContain(join(dir, 'plugin.json'));
    expect(err.message).toMatch(/not found: a plugin folder needs a plugin\.json/);
  });

  it('plugin.json that is not JSON fails with PLUGIN_INVALID_MANIFEST', async () => {
    const dir = await tempDir();
    await writeManifest(dir, '{ "name": "broken", "version": ');
    const err = await rejection(bundlePlugin(dir));
    expect(err.code).toBe('PLUGIN_INVALID_MANIFEST');
    expect(err.message).toContain('plugin.json is not valid JSON');
  });

  it('a schema-invalid plugin.json fails with PLUGIN_INVALID_MANIFEST listing every problem', async () => {
    const dir = await tempDir();
    await writeManifest(dir, {
      name: 'Not A Valid Name',
      version: 'one',
      entry: 'src/index.ts',
      limits: { memoryMb: 1, timeoutMs: 1000, cpus: 4 },
      surprise: true,
    });
    const err = await rejection(bundlePlugin(dir));
    expect(err.code).toBe('PLUGIN_INVALID_MANIFEST');
    expect(err.message).toContain('plugin.json is not valid');
    expect(err.message).toContain("missing field 'description'");
    expect(err.message).toContain("unknown field 'surprise'");
    expect(err.message).toContain("limits: unknown field 'cpus'");
    expect(err.message).toMatch(/- name: must match pattern/);
    expect(err.message).toMatch(/- version: must match pattern/);
    expect(err.message).toMatch(/- limits\.memoryMb: must be >= 8/);
  });

  it('a reserved name and an entry outside the folder are refused', async () => {
    const dir = await tempDir();
    await writeManifest(dir, { name: 'model-monitoring-writer', version: '1.0.0', description: 'x', entry: 'src/index.ts' });
    const reserved = await rejection(bundlePlugin(dir));
    expect(reserved.code).toBe('PLUGIN_INVALID_MANIFEST');
    expect(reserved.message).toContain("the name 'model-monitoring-writer' is reserved");

    await writeManifest(dir, { name: 'escapee', version: '1.0.0', description: 'x', entry: '../outside.ts' });
    const outside = await rejection(bundlePlugin(dir));
    expect(outside.code).toBe('PLUGIN_INVALID_MANIFEST');
    expect(outside.message).toContain("entry '../outside.ts' is outside the plugin folder");
  });
});

describe('bundlePlugin: plugin folders outside the repository', () => {
  it('bundles a plugin with no node_modules above it, resolving @modelwatch/sdk from the host', async () => {
    const dir = join(await tempDir(), 'well-behaved');
    await cp(fixture('well-behaved'), dir, { recursive: true });
    expect(nodeModulesAbove(dir)).toBeUndefined();

    const bundle = await bundlePlugin(dir);
    expect(bundle.manifest.name).toBe('well-behaved');
    expect(bundle.inputs).toContain(join(dir, 'src', 'index.ts'));
    // the SDK came from the host's installation, not from anywhere near the plugin
    const sdkInputs = bundle.inputs.filter((p) => !p.startsWith(dir));
    expect(sdkInputs.length).toBeGreaterThan(0);
    for (const p of sdkInputs) expect(p.startsWith(join(REPO, 'sdk') + sep) || p.includes(`${sep}node_modules${sep}@modelwatch${sep}sdk${sep}`)).toBe(true);

    // and it works
    const sandbox = PluginSandbox.fromBundle(bundle);
    try {
      const out = normalizeAppOutput(JSON.parse(await sandbox.run(smallInput())));
      expect(out.metrics).toEqual([{ name: 'rows', value: 2 }]);
      expect(out.results[0]).toMatchObject({ name: 'sum_a', value: 5 });
    } finally {
      sandbox.dispose();
    }
  });

  it('bundles the plugin’s own npm dependency, and its code runs in the sandbox', async () => {
    const dir = join(await tempDir(), 'with-dependency');
    await cp(fixture('with-dependency'), dir, { recursive: true });
    const dep = join(dir, 'node_modules', 'tiny-dep');
    await mkdir(dep, { recursive: true });
    await writeFile(join(dep, 'package.json'), JSON.stringify({ name: 'tiny-dep', version: '1.0.0', main: 'index.js' }));
    await writeFile(join(dep, 'index.js'), 'exports.triple = function triple(x) { return 3 * x; };\n');

    const bundle = await bundlePlugin(dir);
    expect(bundle.inputs).toContain(join(dep, 'index.js'));
    expect(bundle.code).toContain('3 * x');

    const sandbox = PluginSandbox.fromBundle(bundle);
    try {
      await sandbox.check();
      const out = normalizeAppOutput(JSON.parse(await sandbox.run(smallInput())));
      expect(out.results).toEqual([{ name: 'tripled', value: 42, kind: 4, status: 0, extraData: { from: 'tiny-dep' } }]);
    } finally {
      sandbox.dispose();
    }
  });
});
