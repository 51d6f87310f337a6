import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelwatchClient } from '../host/src/client/client.js';
import { freePort } from '../host/src/nats/server.js';
import { REPO } from './helpers/host.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

/** npm and npx run with this Node (their `#!/usr/bin/env node` finds it first on PATH), as the installed CLI does. */
// no token from the test process: the CLI reads the admin token the installed host's first start writes (--data-dir)
const ENV = {
  ...process.env,
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
  MODELWATCH_NATS_URL: '',
  MODELWATCH_HOST: '',
  MODELWATCH_TOKEN: '',
  MODELWATCH_ADMIN_TOKEN: '',
};
const PACKAGES = ['host', 'sdk', 'protocol', 'tracker'];
const VERSION = (JSON.parse(readFileSync(join(REPO, 'host/package.json'), 'utf8')) as { version: string }).version;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A command run to its end in `cwd`; throws with its output when it does not exit 0. */
async function run(cwd: string, command: string, args: string[], timeoutMs = 180_000): Promise<Run> {
  const child = spawn(command, args, { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited with ${code}:\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
  return { code, stdout, stderr };
}

/**
 * The packages as npm would publish them, installed where no repository is: every workspace
 * packed (`npm pack`), the tarballs installed into an empty folder, and from there the CLI of the
 * installed package runs the demo (the built-in apps ship inside it), starts a host, builds and
 * publishes a plugin folder that lives outside any node_modules (its `@modelwatch/sdk` resolves
 * from the installed CLI), and prints its version.
 */
describe('installed from the packed packages, without the repository', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let app: Awaited<ReturnType<typeof tempDir>>;
  let install: string;
  let host: ChildProcess | undefined;
  let hostLog = '';

  beforeAll(async () => {
    dir = await tempDir('mw-pack-');
    // the plugin folder: in a temp folder of its own, with no node_modules in it or above it
    app = await tempDir('mw-pack-app-');
    install = join(dir.path, 'install');
    const tarballs = join(dir.path, 'tarballs');
    await mkdir(install);
    await mkdir(tarballs);
    // every workspace, as `npm publish` would pack it (its prepack builds it; the host's copies in the built-in apps)
    await run(REPO, 'npm', ['pack', '--workspaces', '--pack-destination', tarballs, '--loglevel=error']);
    const files = (await readdir(tarballs)).filter((f) => f.endsWith('.tgz')).sort();
    expect(files).toEqual(PACKAGES.map((p) => `modelwatch-${p}-${VERSION}.tgz`).sort());
    // an empty project that allows the install scripts the host's dependencies need (native builds)
    const allowScripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { allowScripts: unknown }).allowScripts;
    await writeFile(join(install, 'package.json'), JSON.stringify({ name: 'mw-pack-test', private: true, allowScripts }, null, 2));
    // third-party packages from the npm cache where it has them, else from the registry
    await run(install, 'npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...files.map((f) => join(tarballs, f))], 300_000);
  }, 400_000);

  afterAll(async () => {
    const h = host;
    if (h && h.exitCode === null && h.signalCode === null) {
      const exited = new Promise((r) => h.once('exit', r));
      h.kill('SIGTERM');
      await exited;
    }
    await app?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  }, 60_000);

  it('installs real copies of the four packages (each with its README and licence), the host with its built-in apps (sources, no tests) and the plugin.json schema', async () => {
    for (const p of PACKAGES) {
      const at = join(install, 'node_modules/@modelwatch', p);
      expect((await lstat(at)).isSymbolicLink(), `${p} is a copy, not a link to the repository`).toBe(false);
      expect(existsSync(join(at, 'README.md')), `${p} has a README`).toBe(true);
      expect(readFileSync(join(at, 'LICENSE'), 'utf8'), `${p} carries the licence's text`).toMatch(/Apache License\s+Version 2\.0/);
      const pkg = JSON.parse(readFileSync(join(at, 'package.json'), 'utf8')) as { license?: string; engines?: { node?: string } };
      expect(pkg).toMatchObject({ license: 'Apache-2.0', engines: { node: '>=24' } });
    }
    const builtin = join(install, 'node_modules/@modelwatch/host/builtin');
    expect((await readdir(builtin)).sort()).toEqual(
      (await readdir(join(REPO, 'plugins'), { withFileTypes: true }))
        .filter((e) => existsSync(join(REPO, 'plugins', e.name, 'plugin.json')))
        .map((e) => e.name)
        .sort(),
    );
    expect((await readdir(join(builtin, 'drift'))).sort()).toEqual(['README.md', 'plugin.json', 'src']);
    expect(existsSync(join(install, 'node_modules/@modelwatch/host/plugin.schema.json'))).toBe(true);
    // and the repository's copies are gone again (postpack)
    expect(existsSync(join(REPO, 'host/builtin'))).toBe(false);
  });

  it("the packages' types resolve: a TypeScript file importing from each compiles (strict, nodenext) against the installed packages", async () => {
    await writeFile(
      join(install, 'uses.ts'),
      [
        "import { createHost, ModelwatchClient, type Host } from '@modelwatch/host';",
        "import { MonitoringApplication, ResultKind, type MonitoringContext } from '@modelwatch/sdk';",
        "import { pairwiseSum } from '@modelwatch/sdk/stats';",
        "import { Streams, type RequestBatch } from '@modelwatch/protocol';",
        "import { createTracker, type Tracker } from '@modelwatch/tracker';",
        "export const host: Host = createHost({ dataDir: '/nowhere' });",
        'export const used = [ModelwatchClient, MonitoringApplication, ResultKind.DataDrift, pairwiseSum([1]), Streams.events, createTracker];',
        'export type Used = RequestBatch | MonitoringContext | Tracker;',
        '',
      ].join('\n'),
    );
    // the repository's TypeScript and Node types; nothing else of the repository
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    const flags = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2023'];
    await run(install, process.execPath, [tsc, ...flags, '--typeRoots', join(REPO, 'node_modules/@types'), '--types', 'node', 'uses.ts']);
  });

  it('npx modelwatch --version prints the version', async () => {
    const r = await run(install, 'npx', ['modelwatch', '--version']);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('npx modelwatch doctor finds everything a host needs', async () => {
    const r = await run(install, 'npx', ['modelwatch', 'doctor', '--data-dir', join(dir.path, 'doctor-data'), '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true });
  });

  it('npx modelwatch plugin list --builtin lists the built-in apps it carries', async () => {
    const r = await run(install, 'npx', ['modelwatch', 'plugin', 'list', '--builtin', '--json']);
    const names = (JSON.parse(r.stdout) as Array<{ name: string }>).map((a) => a.name);
    expect(names).toEqual(expect.arrayContaining(['drift', 'histogram-data-drift', 'data-drift', 'model-performance']));
  });

  it('npx modelwatch demo runs the whole pipeline with the built-in drift app', async () => {
    const r = await run(install, 'npx', ['modelwatch', 'demo'], 240_000);
    expect(r.stdout).toContain('OK: no drift in normal windows, drift detected in drifted windows');
  }, 300_000);

  it('a host started from the installed package runs a plugin folder from outside any node_modules, built and published with the installed CLI', async () => {
    // the plugin: a folder with no node_modules of its own nor around it
    const plugin = join(app.path, 'mean-age');
    for (let d = plugin; d !== dirname(d); d = dirname(d)) expect(existsSync(join(d, 'node_modules')), `${d}/node_modules`).toBe(false);
    await mkdir(join(plugin, 'src'), { recursive: true });
    await writeFile(join(plugin, 'plugin.json'), JSON.stringify({ name: 'mean-age', version: '1.0.0', description: 'mean age', entry: 'src/index.ts' }));
    await writeFile(
      join(plugin, 'src/index.ts'),
      [
        "import { MonitoringApplication, ResultKind, ResultStatus, type MonitoringContext } from '@modelwatch/sdk';",
        "import { pairwiseSum } from '@modelwatch/sdk/stats';",
        'export default class MeanAge extends MonitoringApplication {',
        '  doTracking(ctx: MonitoringContext) {',
        "    const age = ctx.sample.column('age') as Float64Array;",
        "    return [{ name: 'mean_age', value: pairwiseSum(age) / age.length, kind: ResultKind.DataDrift, status: ResultStatus.NoDetection }];",
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const built = await run(install, 'npx', ['modelwatch', 'plugin', 'build', plugin]);
    expect(built.stdout).toMatch(/built mean-age@1\.0\.0: .* it loads in the sandbox and default-exports a MonitoringApplication with doTracking/);

    // `npx modelwatch host start`, as the installed package's bin (so that SIGTERM reaches the host itself)
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const args = [
      'host',
      'start',
      '--data-dir',
      join(dir.path, 'host-data'),
      '--http-port',
      String(port),
      '--base-period',
      '1s',
      '--allowed-lateness',
      '300ms',
    ];
    const h = spawn(join(install, 'node_modules/.bin/modelwatch'), args, { cwd: install, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    host = h;
    h.stdout.on('data', (d: Buffer) => (hostLog = (hostLog + d.toString()).slice(-100_000)));
    h.stderr.on('data', (d: Buffer) => (hostLog = (hostLog + d.toString()).slice(-100_000)));
    await waitFor(
      'the installed host to answer',
      async () => {
        if (h.exitCode !== null) throw new Error(`the host exited with ${h.exitCode}: ${hostLog.slice(-2000)}`);
        return (await fetch(`${url}/healthz`).catch(() => undefined))?.ok ? true : undefined;
      },
      60_000,
      50,
    );
    // the web dashboard ships inside the package: its page and its script
    const page = await fetch(`${url}/ui/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/ui/assets/app.js');
    const script = await fetch(`${url}/ui/assets/app.js`);
    expect([script.status, script.headers.get('content-type')]).toEqual([200, expect.stringContaining('javascript')]);

    const data = join(dir.path, 'host-data');
    const published = await run(install, 'npx', ['modelwatch', '--host', url, '--data-dir', data, 'plugin', 'publish', plugin]);
    expect(published.stdout).toMatch(/^published mean-age@1\.0\.0 /m);
    const builtin = await run(install, 'npx', ['modelwatch', '--host', url, '--data-dir', data, 'plugin', 'publish', 'builtin:drift']);
    expect(builtin.stdout).toMatch(/^published drift@1\.0\.0 /m);

    // and it runs: one window of events, the plugin's mean of it stored
    const client = new ModelwatchClient({ url, token: readFileSync(join(data, 'admin.token'), 'utf8').trim() });
    await client.createEndpoint({ name: 'pack-ep', featureNames: ['age'] });
    const at = Math.ceil((Date.now() + 1500) / 1000) * 1000 + 100;
    await untilWallClock(at - 100);
    const ages = [30, 40, 50, 60];
    await client.sendEvents(
      'pack-ep',
      ages.map((age, i) => ({ when: at + i * 10, inputs: [[age]], outputs: [0] })),
    );
    const window = await waitFor(
      'the window of mean-age',
      async () => (await client.results({ endpoint: 'pack-ep', app: 'mean-age' })).find((w) => w.windowStart === at - 100),
      30_000,
      100,
    );
    expect(window).toMatchObject({ outcome: 'ok', rows: 4, version: '1.0.0', results: [expect.objectContaining({ name: 'mean_age', value: 45 })] });
  }, 180_000);
});
