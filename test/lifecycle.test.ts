import { execFile, spawn } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(REPO, 'host/bin/modelwatch.js');
const TUNABLE = new URL('./fixtures/plugins/tunable', import.meta.url).pathname;
const PERIOD = 1000;

/** Versions, hot reload, rollback, configuration, logs, evaluate, and the local development commands. */
describe('plugin lifecycle', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let plugin = '';
  const cli = async (...args: string[]) =>
    (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', env.host.apiUrl, ...args], { timeout: 60_000 })).stdout;
  /** Send 10 rows with x = value into the next window; returns its start. */
  const traffic = async (value: number) => {
    const ws = Math.ceil((Date.now() + 100) / PERIOD) * PERIOD;
    await untilWallClock(ws);
    await env.client.sendEvents(
      'life',
      Array.from({ length: 10 }, (_, i) => ({ when: ws + i, inputs: [[value]], outputs: [0] })),
    );
    return ws;
  };
  const windowAt = (ws: number) =>
    waitFor(`window ${ws}`, async () => (await env.client.results({ endpoint: 'life', app: 'tunable' })).find((w) => w.windowStart === ws));

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-life-');
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 200 });
    plugin = join(dir.path, 'tunable');
    await cp(TUNABLE, plugin, { recursive: true });
    await env.client.createEndpoint({ name: 'life', featureNames: ['x'], labelNames: ['y'] });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('a new version takes effect from the next window without a restart; rollback returns to the old one', async () => {
    await publishDir(env.client, plugin);
    const w1 = await windowAt(await traffic(5));
    expect(w1).toMatchObject({ version: '1.0.0', outcome: 'ok' });
    expect(w1.results[0]).toMatchObject({ value: 5, status: 0, extraData: { label: 'v1', limit: 10 } });

    // v2: a different limit in code and config
    const manifest = JSON.parse(await readFile(join(plugin, 'plugin.json'), 'utf8')) as { version: string; config: object };
    await writeFile(join(plugin, 'plugin.json'), JSON.stringify({ ...manifest, version: '2.0.0', config: { limit: 1, label: 'v2' } }));
    const runnersBefore = env.host.runnerPids();
    await publishDir(env.client, plugin);
    const w2 = await windowAt(await traffic(5));
    expect(w2).toMatchObject({ version: '2.0.0' });
    expect(w2.results[0]).toMatchObject({ status: 2, extraData: { label: 'v2', limit: 1 } });
    expect(env.host.runnerPids()).toEqual(runnersBefore);

    // publishing 2.0.0 again with other code is refused; the running version stays
    await writeFile(join(plugin, 'src/index.ts'), `${await readFile(join(plugin, 'src/index.ts'), 'utf8')}\nexport const changed = 1;\n`);
    await expect(publishDir(env.client, plugin)).rejects.toThrow(/tunable@2\.0\.0 is already published with different code: bump the version/);

    const rolled = JSON.parse(await cli('plugin', 'rollback', 'tunable', '--json')) as { activeVersion: string; status: string };
    expect(rolled).toMatchObject({ activeVersion: '1.0.0', status: 'active' });
    const w3 = await windowAt(await traffic(5));
    expect(w3).toMatchObject({ version: '1.0.0' });
    expect(await cli('plugin', 'rollback', 'tunable', '--to', '2.0.0')).toMatch(/tunable@2\.0\.0: active/);
    await expect(cli('plugin', 'rollback', 'tunable', '--to', '9.9.9')).rejects.toMatchObject({
      stderr: expect.stringMatching(/tunable has no version 9\.9\.9 \(it has 1\.0\.0, 2\.0\.0\)/),
    });

    const list = JSON.parse(await cli('plugin', 'list', '--json')) as Array<{
      name: string;
      versions: Array<{ version: string }>;
      activeVersion: string;
      status: string;
    }>;
    expect(list.find((p) => p.name === 'tunable')).toMatchObject({
      activeVersion: '2.0.0',
      status: 'active',
      versions: [{ version: '1.0.0' }, { version: '2.0.0' }],
    });
  });

  it('configure checks the config against the plugin schema and applies from the next window', async () => {
    await expect(cli('plugin', 'configure', 'tunable', '--set', 'limit=-1')).rejects.toMatchObject({
      stderr: expect.stringMatching(/config of tunable is not valid:\n\s+- limit: must be >= 0/),
    });
    await expect(cli('plugin', 'configure', 'tunable', '--set', 'nope=1')).rejects.toMatchObject({
      stderr: expect.stringMatching(/unknown setting: tunable takes limit and label/),
    });
    expect(await cli('plugin', 'configure', 'tunable', '--set', 'limit=100', '--set', 'label=tuned')).toMatch(/config: \{"limit":100,"label":"tuned"\}/);
    const w = await windowAt(await traffic(50));
    expect(w.results[0]).toMatchObject({ status: 0, extraData: { label: 'tuned', limit: 100 } });
  });

  it('logs: ctx.logger lines, tagged with version, endpoint and window; --follow streams new ones', async () => {
    const out = await cli('plugin', 'logs', 'tunable', '--limit', '3', '--json');
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { plugin: string; version: string; endpoint: string; message: string; fields: string });
    expect(lines.length).toBe(3);
    for (const l of lines) expect(l).toMatchObject({ plugin: 'tunable', endpoint: 'life', message: expect.stringMatching(/^mean /) });
    const follow = spawn(process.execPath, ['--no-node-snapshot', CLI, '--host', env.host.apiUrl, 'plugin', 'logs', 'tunable', '--follow', '--limit', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    follow.stdout.on('data', (d: Buffer) => (text += d.toString()));
    const ws = await traffic(7);
    await waitFor('a followed line of the new window', () => (text.includes(new Date(ws).toISOString()) ? true : undefined), 20_000);
    follow.kill('SIGINT');
    expect(text).toMatch(/INFO\s+tunable@2\.0\.0 life .* mean 7 \{"label":"tuned"\}/);
  });

  it('evaluate re-runs past windows from the retained rows, and --write never stores a window twice', async () => {
    const stored = (await env.client.results({ endpoint: 'life', app: 'tunable' })).filter((w) => w.outcome === 'ok');
    const from = Math.min(...stored.map((w) => w.windowStart));
    const to = Math.max(...stored.map((w) => w.windowEnd));
    const dry = await env.client.evaluatePlugin('tunable', { endpoint: 'life', from, to });
    const ok = dry.filter((w) => w.output.outcome === 'ok');
    expect(ok.length).toBe(stored.length);
    expect(dry.every((w) => w.stored === 'not written')).toBe(true);
    // the active config (limit 100) applied to old windows
    for (const w of ok) expect(w.output.results[0]!.extraData).toMatchObject({ label: 'tuned' });
    const written = await env.client.evaluatePlugin('tunable', { endpoint: 'life', from, to, write: true });
    expect(written.filter((w) => w.output.outcome === 'ok').every((w) => w.stored === 'already stored')).toBe(true);
    const again = await env.client.results({ endpoint: 'life', app: 'tunable' });
    expect(new Set(again.map((w) => w.windowStart)).size).toBe(again.length);
    const table = await cli('plugin', 'evaluate', 'tunable', '--endpoint', 'life', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString());
    expect(table).toMatch(/mean_over_limit=/);
    await expect(cli('plugin', 'evaluate', 'tunable', '--endpoint', 'life', '--from', 'yesterday', '--to', 'now')).rejects.toMatchObject({
      stderr: expect.stringMatching(/from: expected a time/),
    });
  });

  it('plugin build and plugin test work locally in the sandbox, without a host', async () => {
    expect(await cli('plugin', 'build', TUNABLE)).toMatch(
      /built tunable@1\.0\.0: \d+ bytes from \d+ files, sha256 [0-9a-f]{12}; it loads in the sandbox and default-exports a MonitoringApplication with doTracking/,
    );
    const sample = join(dir.path, 'window.csv');
    await writeFile(sample, 'x,y\n4,0\n6,1\n');
    const out = JSON.parse(await cli('plugin', 'test', TUNABLE, '--sample', sample, '--labels', 'y', '--config', '{"limit": 4}', '--json')) as {
      results: Array<{ value: number; status: number }>;
    };
    expect(out.results).toEqual([expect.objectContaining({ name: 'mean_over_limit', value: 5, status: 2 })]);
    // an app error exits non-zero with the plugin's source location
    const broken = join(dir.path, 'broken');
    await cp(TUNABLE, broken, { recursive: true });
    await writeFile(
      join(broken, 'src/index.ts'),
      "import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';\nexport default class B extends MonitoringApplication {\n  doTracking(ctx: MonitoringContext) {\n    if (ctx.sample.length === 0) return [];\n    throw new Error('bad window');\n  }\n}\n",
    );
    await expect(cli('plugin', 'test', broken, '--sample', sample)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/APP_ERROR.*threw: bad window \(at src\/index\.ts:5:11\)/s),
    });
  });

  it('plugin dev rebuilds on save and publishes each build within a second or two', async () => {
    const devDir = join(dir.path, 'dev');
    await cp(TUNABLE, devDir, { recursive: true });
    const dev = spawn(process.execPath, ['--no-node-snapshot', CLI, '--host', env.host.apiUrl, 'plugin', 'dev', devDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    dev.stdout.on('data', (d: Buffer) => (out += d.toString()));
    dev.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('the first dev build', () => (/published tunable@1\.0\.0-dev\.\d+/.test(out) ? true : undefined), 20_000);
      const before = (await env.client.getPlugin('tunable')).activeVersion;
      await writeFile(join(devDir, 'src/index.ts'), `${await readFile(join(devDir, 'src/index.ts'), 'utf8')}\nexport const touched = 1;\n`);
      const saved = Date.now();
      const after = await waitFor(
        'a new dev version',
        async () => {
          const v = (await env.client.getPlugin('tunable')).activeVersion;
          return v !== before ? v : undefined;
        },
        20_000,
        50,
      );
      expect(after).toMatch(/^1\.0\.0-dev\.\d+$/);
      expect(Date.now() - saved).toBeLessThan(5_000);
      // a syntax error prints with file and line, and the running version stays
      await writeFile(join(devDir, 'src/index.ts'), 'export default class {');
      await waitFor('the build error', () => (/src\/index\.ts:1:\d+/.test(out) ? true : undefined), 20_000);
      expect((await env.client.getPlugin('tunable')).activeVersion).toBe(after);
    } finally {
      dev.kill('SIGINT');
    }
  });
});
