import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultRow } from '../host/src/cli/format.js';
import type { MonitoringStatus } from '../host/src/client/client.js';
import { freePort } from '../host/src/nats/server.js';
import { authHeaders, REPO, rng, TEST_TOKEN } from './helpers/host.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(REPO, 'host/bin/modelwatch.js');

/** The CLI as a user runs it, against a host started with `modelwatch host start` that owns its nats-server. */
describe('modelwatch CLI end to end', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: ChildProcess;
  let hostLog = '';
  let url = '';
  const cli = async (...args: string[]) => {
    const { stdout } = await run(process.execPath, ['--no-node-snapshot', CLI, '--host', url, ...args], { timeout: 60_000 });
    return stdout;
  };

  beforeAll(async () => {
    dir = await tempDir('mw-e2e-');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    host = spawn(
      process.execPath,
      [
        '--no-node-snapshot',
        CLI,
        'host',
        'start',
        '--data-dir',
        join(dir.path, 'data'),
        '--http-port',
        String(port),
        '--base-period',
        '1s',
        '--allowed-lateness',
        '300ms',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MODELWATCH_ADMIN_TOKEN: TEST_TOKEN } },
    );
    host.stdout!.on('data', (d: Buffer) => (hostLog += d.toString()));
    host.stderr!.on('data', (d: Buffer) => (hostLog += d.toString()));
    await waitFor('the host to answer', async () => ((await fetch(`${url}/healthz`).catch(() => undefined))?.ok ? true : undefined), 30_000);
  });

  afterAll(async () => {
    if (host && host.exitCode === null) host.kill('SIGKILL');
    await dir?.[Symbol.asyncDispose]();
  });

  it('publishes a plugin from a folder with no node_modules, analyses events, and lists results', async () => {
    // A user's plugin, outside the repository: @modelwatch/sdk resolves from the CLI's installation.
    const plugin = join(dir.path, 'my-plugin');
    await mkdir(join(plugin, 'src'), { recursive: true });
    await writeFile(
      join(plugin, 'plugin.json'),
      JSON.stringify({
        name: 'mean-watch',
        version: '0.1.0',
        description: 'Mean of x against the reference mean',
        entry: 'src/index.ts',
        config: { tolerance: 1 },
      }),
    );
    await writeFile(
      join(plugin, 'src/index.ts'),
      `import { MonitoringApplication, ResultKind, ResultStatus, type MonitoringContext } from '@modelwatch/sdk';
export default class MeanWatch extends MonitoringApplication<{ tolerance: number }> {
  doTracking(ctx: MonitoringContext<{ tolerance: number }>) {
    if (ctx.sample.length === 0) return [];
    const x = ctx.sample.column('x') as Float64Array;
    let sum = 0;
    for (const v of x) sum += v;
    const mean = sum / x.length;
    const ref = ctx.featureStats.x;
    const refMean = ref && ref.type === 'numeric' ? ref.mean : 0;
    const shift = Math.abs(mean - refMean);
    return [
      { name: 'rows', value: ctx.sample.length },
      { name: 'mean_shift', value: shift, kind: ResultKind.DataDrift,
        status: shift > ctx.config.tolerance ? ResultStatus.Detected : ResultStatus.NoDetection,
        extraData: { mean, refMean } },
    ];
  }
}
`,
    );
    expect(await cli('plugin', 'publish', plugin)).toMatch(/published mean-watch@0\.1\.0/);
    const plugins = JSON.parse(await cli('plugin', 'list', '--json')) as Array<{ name: string; activeVersion: string }>;
    expect(plugins.map((p) => [p.name, p.activeVersion])).toEqual([['mean-watch', '0.1.0']]);

    const r = rng(3);
    const ref = join(dir.path, 'train.csv');
    await writeFile(ref, ['x,z,label', ...Array.from({ length: 500 }, () => `${r.normal(5, 1)},${r.normal(0, 1)},${r.uniform() < 0.5 ? 1 : 0}`)].join('\n'));
    expect(await cli('endpoint', 'create', '--name', 'e2e', '--reference', ref, '--labels', 'label')).toMatch(
      /endpoint e2e .*2 features, reference statistics set/,
    );
    // Creating it again is not an error.
    await cli('endpoint', 'create', '--name', 'e2e');
    const eps = JSON.parse(await cli('endpoint', 'list', '--json')) as Array<{
      name: string;
      featureNames: string[];
      labelNames: string[];
      hasReference: boolean;
    }>;
    expect(eps).toMatchObject([{ name: 'e2e', featureNames: ['x', 'z'], labelNames: ['label'], hasReference: true }]);

    // Events as JSON Lines, timed a few seconds ahead (so none arrives late): normal, then shifted.
    const period = 1000;
    const first = Math.ceil((Date.now() + 3000) / period) * period;
    const lines: string[] = [];
    for (let i = 0; i < 100; i++) lines.push(JSON.stringify({ when: first + i * 5, inputs: [[r.normal(5, 1), r.normal(0, 1)]], outputs: [1] }));
    for (let i = 0; i < 100; i++) lines.push(JSON.stringify({ when: first + period + i * 5, inputs: [{ x: r.normal(9, 1), z: 0 }], outputs: [0] }));
    const events = join(dir.path, 'events.jsonl');
    await writeFile(events, lines.join('\n'));
    expect(await cli('events', 'send', '--endpoint', 'e2e', events)).toMatch(/accepted 200 event/);

    const rows = await waitFor(
      'results of both windows',
      async () => {
        const rs = JSON.parse(await cli('results', '--endpoint', 'e2e', '--json')) as ResultRow[];
        const shift = rs.filter((x) => x.result === 'mean_shift');
        return shift.some((x) => Date.parse(x.windowStart) === first + period) && shift.some((x) => Date.parse(x.windowStart) === first) ? rs : undefined;
      },
      30_000,
      300,
    );
    const at = (ws: number, name: string) => rows.find((x) => Date.parse(x.windowStart) === ws && x.result === name)!;
    expect(at(first, 'mean_shift')).toMatchObject({
      endpoint: 'e2e',
      app: 'mean-watch',
      version: '0.1.0',
      kind: 'data_drift',
      status: 'no_detection',
      rows: 100,
      outcome: 'ok',
    });
    expect(at(first + period, 'mean_shift')).toMatchObject({ status: 'detected', rows: 100 });
    expect(at(first + period, 'mean_shift').value).toBeGreaterThan(3);
    // Metrics are not results: rows lists results only, one per (endpoint, app, result, window).
    expect(rows.filter((x) => x.result === 'rows')).toEqual([]);
    expect(new Set(rows.map((x) => `${x.windowStart}/${x.result}`)).size).toBe(rows.length);

    const table = await cli('results', '--endpoint', 'e2e');
    expect(table).toMatch(/mean-watch@0\.1\.0/);
    expect(table).toMatch(/detected/);
  });

  it('reports bad input with a clear error and a non-zero exit', async () => {
    await expect(cli('endpoint', 'create', '--name', 'bad name')).rejects.toMatchObject({
      stderr: expect.stringMatching(/endpoint name "bad name" is not valid/),
    });
    await expect(cli('plugin', 'publish', join(dir.path, 'nowhere'))).rejects.toMatchObject({ stderr: expect.stringMatching(/plugin\.json not found/) });
    await expect(cli('results', '--endpoint', 'x', '--host', 'http://127.0.0.1:1')).rejects.toMatchObject({
      stderr: expect.stringMatching(/cannot reach the modelwatch host/),
    });
  });

  it('refuses a bad reference file before it creates anything: endpoint create --reference, batch send --create', async () => {
    const file = async (name: string, text: string) => {
      await writeFile(join(dir.path, name), text);
      return join(dir.path, name);
    };
    const ragged = await file('ragged.csv', 'a,b\n1,2\n3\n');
    const refused: Array<[string, string[], RegExp]> = [
      ['ragged', ['--reference', ragged], /ragged\.csv: reference CSV: Invalid Record Length/],
      ['empty-ref', ['--reference', await file('empty.csv', '')], /empty\.csv: reference: no rows/],
      [
        'no-column',
        ['--features', 'a,b', '--labels', 'y', '--reference', await file('no-b.csv', 'a,y\n1,0\n')],
        /no-b\.csv: reference: no column for feature\(s\) 'b'/,
      ],
    ];
    for (const [name, flags, message] of refused) {
      await expect(cli('endpoint', 'create', '--name', name, ...flags)).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringMatching(new RegExp(`^error \\[INVALID_REFERENCE\\]: .*${message.source}`)),
      });
      expect(JSON.parse(await cli('endpoint', 'list', '--name', name, '--json'))).toEqual([]);
    }
    const events = await file('history.jsonl', `${JSON.stringify({ when: Date.now() - 86_400_000, inputs: [[1, 2]] })}\n`);
    // a CI gate: a file it cannot use is exit 2
    await expect(cli('batch', 'send', '--endpoint', 'ragged-batch', '--create', '--reference', ragged, events)).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error \[INVALID_REFERENCE\]: .*ragged\.csv: reference CSV: Invalid Record Length/),
    });
    expect(JSON.parse(await cli('endpoint', 'list', '--name', 'ragged-batch', '--json'))).toEqual([]);
    // the API's create with a reference checks it first too
    const api = await fetch(`${url}/api/v1/endpoints`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify({ name: 'ragged-api', featureNames: ['a', 'b'], reference: [{ a: 1 }] }),
    });
    expect([api.status, await api.json()]).toEqual([
      400,
      { error: { code: 'INVALID_REFERENCE', message: "reference: no column for feature(s) 'b' (it has: a)" } },
    ]);
    expect(JSON.parse(await cli('endpoint', 'list', '--name', 'ragged-api', '--json'))).toEqual([]);
  });

  it('exits 2 when events were refused, with --json too', async () => {
    const file = join(dir.path, 'bad.jsonl');
    // one good event, one refused: answered 202 with the refusal listed
    await writeFile(file, `${JSON.stringify({ inputs: [[5, 0]], outputs: [1] })}\n${JSON.stringify({ inputs: 'not rows' })}\n`);
    for (const extra of [[], ['--json']]) {
      const err = await cli('events', 'send', '--endpoint', 'e2e', file, ...extra).then(
        () => undefined,
        (e: { code: number; stdout: string }) => e,
      );
      expect(err?.code).toBe(2);
      if (extra.length) expect(JSON.parse(err!.stdout)).toMatchObject({ accepted: 1, rejected: [{ index: 1 }] });
      else expect(err?.stdout).toMatch(/rejected 1/);
    }
    // every event refused: the first refusal said, exit 2 as well
    await writeFile(file, `${JSON.stringify({ inputs: 'not rows' })}\n`);
    await expect(cli('events', 'send', '--endpoint', 'e2e', file)).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error \[INVALID_EVENT\]: events rejected: 0 accepted, 1 rejected; first: #0: /),
    });
  });

  it('monitoring status, disable and enable with a new base period', async () => {
    expect(JSON.parse(await cli('monitoring', 'status', '--json'))).toMatchObject({ enabled: true, basePeriod: '1s' });
    expect(JSON.parse(await cli('monitoring', 'disable', '--json'))).toMatchObject({ enabled: false });
    const s = JSON.parse(await cli('monitoring', 'enable', '--base-period', '2s', '--json')) as MonitoringStatus;
    // from the next boundary of the 1 s windows
    expect(s).toMatchObject({ enabled: true, basePeriod: '1s', pending: { basePeriod: '2s' } });
    expect(Date.parse(s.pending!.effectiveFrom) % 1000).toBe(0);
  });

  it('stops cleanly on Ctrl-C, taking its own nats-server down with it', async () => {
    const exited = new Promise<number | null>((resolve) => host.once('exit', (code) => resolve(code)));
    host.kill('SIGINT');
    expect(await exited).toBe(0);
    const { stdout } = await run('ps', ['-eo', 'args']);
    expect(stdout).not.toContain(join(dir.path, 'data', 'nats'));
  });
});
