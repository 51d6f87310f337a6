import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PluginRecord } from '@modelwatch/protocol';
import { ModelwatchClient, type SetMonitoringReply } from '../host/src/client/client.js';
import type { BuiltinApp } from '../host/src/plugins/builtin.js';
import { REPO, rng, TEST_TOKEN } from './helpers/host.js';
import { CLI, hostProcess, testHostArgs, type HostProcess } from './helpers/processes.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const run = promisify(execFile);

/**
 * Built-in apps by name (`plugin publish builtin:NAME`, `plugin list --builtin`) and the default
 * app of `monitoring enable`: deployed once, the first time, and never again after a user
 * disabled or removed it. The CLI runs from a folder that is not the repository: it finds the
 * built-in apps from where it is installed.
 */
describe('built-in apps and the default app of monitoring enable', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: HostProcess;
  let client: ModelwatchClient;
  const cliAt = async (hostUrl: string, ...args: string[]) =>
    (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', hostUrl, ...args], { timeout: 120_000, cwd: dir.path })).stdout;
  const cli = (...args: string[]) => cliAt(host.url, ...args);
  const json = async <T>(...args: string[]) => JSON.parse(await cli(...args, '--json')) as T;
  const manifestOf = async (name: string) =>
    JSON.parse(await readFile(join(REPO, 'plugins', name, 'plugin.json'), 'utf8')) as { name: string; version: string; description: string };
  const plugin = async (name: string) => (await client.listPlugins()).find((p) => p.name === name);

  beforeAll(async () => {
    dir = await tempDir('mw-default-app-');
    host = await hostProcess(testHostArgs(join(dir.path, 'data')));
    await host.start();
    client = new ModelwatchClient({ url: host.url, token: TEST_TOKEN });
  });
  afterAll(async () => {
    await host?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('plugin list --builtin lists the built-in apps from their plugin.json, without a host', async () => {
    // no host answers there: the list comes from the plugins folder the CLI ships with
    const { stdout } = await run(process.execPath, ['--no-node-snapshot', CLI, '--host', 'http://127.0.0.1:1', 'plugin', 'list', '--builtin', '--json'], {
      cwd: dir.path,
    });
    const apps = JSON.parse(stdout) as BuiltinApp[];
    expect(apps.map((a) => a.name)).toEqual(['data-drift', 'drift', 'histogram-data-drift', 'model-performance', 'prediction-drift', 'system-performance']);
    for (const name of ['drift', 'histogram-data-drift']) {
      const m = await manifestOf(name);
      expect(apps.find((a) => a.name === name)).toMatchObject({ name, version: m.version, description: m.description });
    }
    const table = await cliAt('http://127.0.0.1:1', 'plugin', 'list', '--builtin');
    expect(table).toMatch(/│ drift\s+│ 1\.0\.0\s+│ The recommended data drift detector/);
  });

  it('plugin publish builtin:NAME of an unknown app names the built-in apps; monitoring enable too, changing nothing', async () => {
    await expect(cli('plugin', 'publish', 'builtin:no-such-app')).rejects.toMatchObject({
      stderr: expect.stringMatching(
        /UNKNOWN_BUILTIN.*no built-in app named 'no-such-app': the built-in apps are data-drift, drift, histogram-data-drift, model-performance, prediction-drift, system-performance/,
      ),
    });
    await client.setMonitoring({ enabled: false });
    await expect(client.setMonitoring({ enabled: true, defaultApp: 'no-such-app' })).rejects.toMatchObject({
      code: 'UNKNOWN_BUILTIN',
      message: expect.stringMatching(/no built-in app named 'no-such-app'/),
    });
    expect((await client.monitoring()).enabled).toBe(false);
    await expect(client.setMonitoring({ enabled: false, defaultApp: 'drift' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await client.listPlugins()).toEqual([]);
  });

  it('monitoring enable deploys drift, which analyses windows; enabling again does not publish it again', async () => {
    const r = rng(7);
    const reference = ['a,b', ...Array.from({ length: 400 }, () => `${r.normal(0, 1)},${r.normal(5, 2)}`)].join('\n');
    await client.createEndpoint({ name: 'scored', featureNames: ['a', 'b'], labelNames: ['y'] });
    await client.setReference('scored', reference, 'csv');

    const s = await json<SetMonitoringReply>('monitoring', 'enable');
    const drift = await manifestOf('drift');
    expect(s).toMatchObject({ enabled: true, defaultApp: { app: 'drift', action: 'deployed', version: drift.version } });
    // the dry run ran on the endpoint, as at every publish
    expect(s.defaultApp).toMatchObject({ dryRun: { endpoints: [{ endpoint: 'scored', outcome: 'ok' }], warnings: [] } });
    const published = (await plugin('drift'))!;
    expect(published).toMatchObject({ activeVersion: drift.version, status: 'active' });

    const at = Math.ceil((Date.now() + 1500) / 1000) * 1000 + 100;
    await client.sendEvents(
      'scored',
      Array.from({ length: 60 }, (_, i) => ({ when: at + i * 10, inputs: [[r.normal(0, 1), r.normal(5, 2)]], outputs: [0] })),
    );
    const window = await waitFor('a stored window of drift', async () =>
      (await client.results({ endpoint: 'scored', app: 'drift' })).find((w) => w.windowStart <= at && at < w.windowEnd),
    );
    expect(window).toMatchObject({ app: 'drift', version: drift.version, outcome: 'ok', rows: 60 });
    expect(window.results.length).toBeGreaterThan(0);

    const again = await cli('monitoring', 'enable');
    expect(again).toMatch(/^monitoring: enabled$/m);
    expect(again).toContain(`default app: drift is already published (drift@${drift.version}, active); left as it is`);
    expect(await plugin('drift')).toEqual(published);
  });

  it('a default app disabled or removed by a user is never deployed again; plugin publish builtin:NAME publishes it', async () => {
    await cli('plugin', 'disable', 'drift');
    expect(await json<SetMonitoringReply>('monitoring', 'enable')).toMatchObject({
      defaultApp: { app: 'drift', action: 'skipped', reason: 'disabled' },
    });
    expect(await plugin('drift')).toMatchObject({ status: 'disabled', statusReason: 'disabled by a user' });

    await cli('plugin', 'remove', 'drift');
    const text = await cli('monitoring', 'enable', '--default-app', 'drift');
    expect(text).toContain('default app: skipped drift: it was removed by a user');
    expect(await plugin('drift')).toBeUndefined();
    // the record of the removal is durable: after a restart of the host, through the API too
    await host.stop();
    await host.start();
    expect((await client.setMonitoring({ enabled: true, defaultApp: 'drift' })).defaultApp).toEqual({ app: 'drift', action: 'skipped', reason: 'removed' });
    expect(await plugin('drift')).toBeUndefined();

    // a user who wants it back publishes it by name, from any folder
    const out = await cli('plugin', 'publish', 'builtin:drift');
    expect(out).toMatch(/^published drift@1\.0\.0 /m);
    expect(await plugin('drift')).toMatchObject({ status: 'active', activeVersion: '1.0.0' });
  });

  it('--default-app none deploys nothing; --default-app histogram-data-drift deploys that app', async () => {
    const before = await client.listPlugins();
    expect(await json<SetMonitoringReply>('monitoring', 'enable', '--default-app', 'none')).toMatchObject({
      enabled: true,
      defaultApp: { app: null, action: 'none' },
    });
    expect(await cli('monitoring', 'enable', '--default-app', 'none')).toContain('default app: none');
    expect(await client.listPlugins()).toEqual(before);

    const histogram = await manifestOf('histogram-data-drift');
    const text = await cli('monitoring', 'enable', '--default-app', 'histogram-data-drift');
    expect(text).toContain(`default app: deployed histogram-data-drift@${histogram.version}`);
    expect(await plugin('histogram-data-drift')).toMatchObject({ activeVersion: histogram.version, status: 'active' });
    expect((await client.listPlugins()).map((p: PluginRecord) => p.name)).toEqual(['drift', 'histogram-data-drift']);
  });
});
