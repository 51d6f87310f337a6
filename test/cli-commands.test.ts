import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Streams, type BatchRecord, type PluginRecord, type StoredDeadLetter } from '@modelwatch/protocol';
import type { EvaluatedWindow } from '../host/src/api/contract.js';
import type { ResultRow } from '../host/src/cli/format.js';
import { ModelwatchClient, type EndpointSummary } from '../host/src/client/client.js';
import { credentialsFile, natsConnectOptions } from '../host/src/nats/auth.js';
import { slotConsumerName } from '../host/src/nats/topology.js';
import { authHeaders, HISTOGRAM_PLUGIN, rng, TEST_TOKEN } from './helpers/host.js';
import { CLI, hostProcess, type HostProcess } from './helpers/processes.js';
import { tempDir, waitFor } from './helpers/tmp.js';
import { startTestTsdb, type TestTsdb } from './helpers/tsdb.js';

const run = promisify(execFile);
const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;
const TUNABLE = new URL('./fixtures/plugins/tunable', import.meta.url).pathname;
const DAY_NS = 86_400_000 * 1e6;

/**
 * The commands and flags the README documents that no other test runs, each run as a user runs
 * it, with what it does checked: a host started with `modelwatch host start` and its flags, then
 * endpoints, plugins, evaluate, dead letters, batches and results through the CLI.
 */
describe('modelwatch commands and flags', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let tsdb: TestTsdb;
  let host: HostProcess;
  let client: ModelwatchClient;
  const cli = async (...args: string[]) => (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', host.url, ...args], { timeout: 60_000 })).stdout;
  const json = async <T>(...args: string[]) => JSON.parse(await cli(...args, '--json')) as T;
  /** `n` one-row events 10 ms apart with x = `x`, all in one window that begins at least 1.5 s from now (so none is late). */
  const traffic = async (endpoint: string, n: number, x: number) => {
    const at = Math.ceil((Date.now() + 1500) / 1000) * 1000 + 100;
    await client.sendEvents(
      endpoint,
      Array.from({ length: n }, (_, i) => ({ when: at + i * 10, inputs: [[x]], outputs: [0] })),
    );
    return at;
  };

  beforeAll(async () => {
    dir = await tempDir('mw-cli-commands-');
    tsdb = await startTestTsdb();
    // a plugin folder the host rebuilds and publishes itself (--dev-plugins)
    const dev = join(dir.path, 'dev', 'dev-rows');
    await cp(ROW_COUNT, dev, { recursive: true });
    const manifest = JSON.parse(await readFile(join(dev, 'plugin.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dev, 'plugin.json'), JSON.stringify({ ...manifest, $schema: undefined, name: 'dev-rows' }));
    host = await hostProcess([
      '--http-host',
      '127.0.0.1',
      '--data-dir',
      join(dir.path, 'data'),
      '--base-period',
      '1s',
      '--allowed-lateness',
      '300ms',
      '--retention',
      '2d',
      '--runners',
      '1',
      '--runner-concurrency',
      '3',
      '--runner-app-concurrency',
      '2',
      '--plugin-windows-in-flight',
      '3',
      '--runner-memory-mb',
      '2048',
      '--max-timeout-ms',
      '50000',
      '--max-memory-mb',
      '256',
      '--window-attempts',
      '2',
      '--quarantine-after',
      '2',
      '--dev-plugins',
      join(dir.path, 'dev'),
      '--influx-url',
      tsdb.url,
      '--influx-token',
      'test-token',
      '--influx-org',
      'test',
      '--influx-bucket',
      'modelwatch',
      '--log-level',
      'warn',
    ]);
    await host.start();
    client = new ModelwatchClient({ url: host.url, token: TEST_TOKEN });
  });
  afterAll(async () => {
    await host?.stop();
    await tsdb?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('host start: --retention, --runner-concurrency, --runner-app-concurrency, --plugin-windows-in-flight, --runner-memory-mb, --dev-plugins and --influx-* take effect', async () => {
    // the streams keep events and rows for the retention given
    const natsUrl = await waitFor('the line naming its NATS URL', () => /NATS (nats:\/\/[^,\s]+)/.exec(host.output())?.[1]);
    // the host's own nats-server lets in only its roles: this test reads as the host
    const nc = await connect({ servers: natsUrl, ...(await natsConnectOptions({ credsFile: credentialsFile(join(dir.path, 'data'), 'host') }, 'host')) });
    try {
      const jsm = await jetstreamManager(nc);
      for (const s of [Streams.events, Streams.rows]) expect((await jsm.streams.info(s)).config.max_age).toBe(2 * DAY_NS);
      // the dev plugin's windows in flight, across every runner: 3 at most
      const slots = await waitFor("the dev plugin's slots", () =>
        jsm.consumers.info(Streams.slots, slotConsumerName('dev-rows', 'active')).catch(() => undefined),
      );
      expect(slots.config.max_ack_pending).toBe(3);
    } finally {
      await nc.close();
    }
    // the runner works on up to three windows at once
    const runner = await waitFor('the runner process', async () => {
      for (const pid of host.runnerPids()) if ((await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('runner-main')) return pid;
      return undefined;
    });
    const environ = (await readFile(`/proc/${runner}/environ`, 'utf8')).split('\0');
    expect(environ).toContain('MODELWATCH_RUNNER_CONCURRENCY=3');
    // two of them of one plugin at most, and the runner bounded to 2 GiB (its own heap too)
    expect(environ).toContain('MODELWATCH_RUNNER_APP_CONCURRENCY=2');
    expect(environ).toContain('MODELWATCH_RUNNER_MEMORY_MB=2048');
    expect((await readFile(`/proc/${runner}/cmdline`, 'utf8')).split('\0')).toContain('--max-old-space-size=2048');
    // the plugin folder was built and published as a development version
    const dev = await waitFor('the dev plugin', async () => (await json<PluginRecord[]>('plugin', 'list')).find((p) => p.name === 'dev-rows'));
    expect(dev.activeVersion).toMatch(/^1\.0\.0-dev\.\d+$/);
    // and its results reach the TSDB
    await client.createEndpoint({ name: 'tsdb-ep', featureNames: ['x'], labelNames: ['y'] });
    const at = await traffic('tsdb-ep', 5, 1);
    const series = await waitFor(
      'points of dev-rows in the TSDB',
      async () => {
        const s = (await tsdb.exportSeries('app_results_value')).filter((x) => x.metric.endpoint_name === 'tsdb-ep' && x.metric.application === 'dev-rows');
        return s.some((x) => x.values.includes(5)) ? s : undefined;
      },
      30_000,
      250,
    );
    expect(series[0]!.timestamps.some((t) => t >= at)).toBe(true);
  });

  it('host start: --window-attempts and --quarantine-after: an app failing every window is tried twice a window and quarantined after two windows', async () => {
    const app = join(dir.path, 'always-fails');
    await mkdir(join(app, 'src'), { recursive: true });
    await writeFile(
      join(app, 'plugin.json'),
      JSON.stringify({ name: 'always-fails', version: '1.0.0', description: 'Throws on every window.', entry: 'src/index.ts', runOnEmptyWindows: true }),
    );
    // every window fails (empty ones too, so no outcome between two failures is anything but a
    // failure); the smoke run at publish, on an empty window at the epoch, passes
    await writeFile(
      join(app, 'src/index.ts'),
      "import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';\nexport default class F extends MonitoringApplication {\n  doTracking(ctx: MonitoringContext) {\n    if (ctx.windowStart.getTime() === 0) return [];\n    throw new Error('always');\n  }\n}\n",
    );
    await client.createEndpoint({ name: 'failing', featureNames: ['x'], labelNames: ['y'] });
    await cli('plugin', 'publish', app);
    const quarantined = await waitFor('the quarantine', async () => {
      const p = await json<PluginRecord>('plugin', 'get', 'always-fails');
      return p.status === 'quarantined' ? p : undefined;
    });
    expect(quarantined.lastError).toMatchObject({ code: 'APP_ERROR', message: expect.stringContaining('always') as string });
    const failed = (await client.results({ app: 'always-fails' })).filter((w) => w.outcome === 'error');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    // each failed window was tried twice before it was recorded
    for (const w of failed) expect(w.attempts).toBe(2);
  });

  it('endpoint create --features, set-reference --reference, monitoring --no-on / --on', async () => {
    expect(await cli('endpoint', 'create', '--name', 'cli-ep', '--features', 'x', '--labels', 'y')).toMatch(/endpoint cli-ep/);
    const ref = join(dir.path, 'ref.csv');
    const r = rng(7);
    await writeFile(ref, ['x,y', ...Array.from({ length: 200 }, () => `${r.normal(5, 1)},${r.uniform() < 0.5 ? 1 : 0}`)].join('\n'));
    await cli('endpoint', 'set-reference', 'cli-ep', '--reference', ref);
    const ep = await json<EndpointSummary>('endpoint', 'get', 'cli-ep');
    expect(ep).toMatchObject({ featureNames: ['x'], labelNames: ['y'], monitoring: true });
    expect((ep as unknown as { featureStats: Record<string, { count: number }> }).featureStats.x!.count).toBe(200);
    await cli('endpoint', 'monitoring', 'cli-ep', '--no-on');
    expect((await client.getEndpoint('cli-ep')).monitoring).toBe(false);
    await cli('endpoint', 'monitoring', 'cli-ep', '--on');
    expect((await client.getEndpoint('cli-ep')).monitoring).toBe(true);
  });

  it('plugin publish --config, get, disable, enable, configure --config, remove', async () => {
    const cfg = join(dir.path, 'tunable-config.json');
    await writeFile(cfg, JSON.stringify({ limit: 3, label: 'from-file' }));
    expect(await cli('plugin', 'publish', TUNABLE, '--config', cfg)).toMatch(/published tunable@1\.0\.0/);
    const got = await json<PluginRecord>('plugin', 'get', 'tunable');
    expect(got.versions.find((v) => v.version === '1.0.0')!.config).toEqual({ limit: 3, label: 'from-file' });
    expect(await cli('plugin', 'disable', 'tunable')).toMatch(/tunable@1\.0\.0: disabled/);
    expect(await cli('plugin', 'enable', 'tunable')).toMatch(/tunable@1\.0\.0: active/);
    const cfg2 = join(dir.path, 'tunable-config-2.json');
    await writeFile(cfg2, JSON.stringify({ limit: 4 }));
    expect(await cli('plugin', 'configure', 'tunable', '--config', cfg2)).toMatch(/config: \{"limit":4\}/);
    expect(await cli('plugin', 'remove', 'tunable')).toMatch(/removed tunable/);
    expect((await json<PluginRecord[]>('plugin', 'list')).some((p) => p.name === 'tunable')).toBe(false);
  });

  it('plugin dev --config publishes each build with the config of the file', async () => {
    const app = join(dir.path, 'dev-config');
    await cp(TUNABLE, app, { recursive: true });
    const manifest = JSON.parse(await readFile(join(app, 'plugin.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(app, 'plugin.json'), JSON.stringify({ ...manifest, $schema: undefined, name: 'dev-config' }));
    const cfg = join(dir.path, 'dev-config.json');
    await writeFile(cfg, JSON.stringify({ limit: 42, label: 'from-dev' }));
    const dev = spawn(process.execPath, ['--no-node-snapshot', CLI, '--host', host.url, 'plugin', 'dev', app, '--config', cfg], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    dev.stdout.on('data', (d: Buffer) => (out += d.toString()));
    dev.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('the first dev build', () => (/published dev-config@1\.0\.0-dev\.\d+/.test(out) ? true : undefined), 20_000);
      const p = await client.getPlugin('dev-config');
      expect(p.versions.find((v) => v.version === p.activeVersion)!.config).toEqual({ limit: 42, label: 'from-dev' });
    } finally {
      dev.kill('SIGINT');
    }
  });

  it('plugin evaluate --version runs that version over past windows, and --write stores those not stored yet, once', async () => {
    await client.createEndpoint({ name: 'past', featureNames: ['x'], labelNames: ['y'] });
    const at = await traffic('past', 10, 7);
    // the windows with rows are analysed (by dev-rows) before the app to evaluate exists
    await waitFor('the window with rows', async () => (await client.results({ endpoint: 'past' })).find((w) => w.rows === 10 && w.windowStart <= at));
    const app = join(dir.path, 'tunable-versions');
    await cp(TUNABLE, app, { recursive: true });
    const manifest = JSON.parse(await readFile(join(app, 'plugin.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(app, 'plugin.json'), JSON.stringify({ ...manifest, $schema: undefined, name: 'versions', config: { limit: 10, label: 'v1' } }));
    await cli('plugin', 'publish', app);
    await writeFile(
      join(app, 'plugin.json'),
      JSON.stringify({ ...manifest, $schema: undefined, name: 'versions', version: '2.0.0', config: { limit: 10, label: 'v2' } }),
    );
    await cli('plugin', 'publish', app);
    const range = ['--endpoint', 'past', '--from', new Date(at - 2000).toISOString(), '--to', new Date(at + 1000).toISOString()];
    const first = await json<EvaluatedWindow[]>('plugin', 'evaluate', 'versions', ...range, '--version', '1.0.0', '--write');
    const withRows = first.filter((w) => w.output.rows > 0);
    expect(withRows).toHaveLength(1);
    expect(withRows[0]).toMatchObject({ stored: 'written', output: { version: '1.0.0', results: [{ value: 7, extraData: { label: 'v1' } }] } });
    const again = await json<EvaluatedWindow[]>('plugin', 'evaluate', 'versions', ...range, '--version', '1.0.0', '--write');
    expect(again.filter((w) => w.output.rows > 0).map((w) => w.stored)).toEqual(['already stored']);
    const stored = (await client.results({ endpoint: 'past', app: 'versions' })).filter((w) => w.rows > 0);
    expect(stored.map((w) => w.version)).toEqual(['1.0.0']);
  });

  it('plugin test --reference gives the app reference statistics, in the sandbox, without a host', async () => {
    const r = rng(11);
    const ref = join(dir.path, 'train.csv');
    const sample = join(dir.path, 'window.csv');
    await writeFile(ref, ['age,income', ...Array.from({ length: 500 }, () => `${r.normal(40, 5)},${r.normal(50, 10)}`)].join('\n'));
    await writeFile(sample, ['age,income', ...Array.from({ length: 200 }, () => `${r.normal(60, 5)},${r.normal(90, 10)}`)].join('\n'));
    const out = await json<{ results: Array<{ name: string; status: number }> }>('plugin', 'test', HISTOGRAM_PLUGIN, '--sample', sample, '--reference', ref);
    // both columns moved by four reference standard deviations: drift
    expect(out.results.find((x) => x.name === 'general_drift')!.status).toBe(2);
  });

  it('dlq list --reason --limit, and dlq replay --include-late', async () => {
    await client.createEndpoint({ name: 'letters', featureNames: ['x'], labelNames: ['y'] });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${host.url}/api/v1/endpoints/letters/events`, {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json' }),
        body: `{"inputs": [[${i}`,
      });
      expect(res.status).toBe(400);
    }
    // an event for a window long closed: late
    await client.sendEvents('letters', { when: Date.now() - 60_000, inputs: [[1]], outputs: [0] });
    await waitFor('the late letter', async () => ((await client.deadLetters({ endpoint: 'letters', reason: 'LATE_EVENT' })).total === 1 ? true : undefined));
    const late = await json<{ total: number; letters: StoredDeadLetter[] }>('dlq', 'list', '--endpoint', 'letters', '--reason', 'LATE_EVENT');
    expect(late.letters.map((l) => l.reason.code)).toEqual(['LATE_EVENT']);
    const invalid = await json<{ total: number; letters: StoredDeadLetter[] }>(
      'dlq',
      'list',
      '--endpoint',
      'letters',
      '--reason',
      'INVALID_JSON',
      '--limit',
      '2',
    );
    expect(invalid.total).toBe(3);
    expect(invalid.letters).toHaveLength(2);
    expect(invalid.letters.every((l) => l.reason.code === 'INVALID_JSON')).toBe(true);

    // late letters are replayed only when asked for
    await client.createEndpoint({ name: 'late-only', featureNames: ['x'], labelNames: ['y'] });
    await client.sendEvents('late-only', { when: Date.now() - 60_000, inputs: [[1]], outputs: [0] });
    await waitFor('the late letter', async () => ((await client.deadLetters({ endpoint: 'late-only' })).total === 1 ? true : undefined));
    expect(await cli('dlq', 'replay', '--endpoint', 'late-only')).toMatch(/^replayed 0 dead letter\(s\)$/m);
    expect(await cli('dlq', 'replay', '--endpoint', 'late-only', '--include-late')).toMatch(/^replayed 1 dead letter\(s\)$/m);
  });

  it('batch send --endpoint --id, and results --limit', async () => {
    await client.createEndpoint({ name: 'hist', featureNames: ['x'], labelNames: ['y'] });
    const file = join(dir.path, 'past.jsonl');
    const t0 = Date.UTC(2026, 0, 1);
    await writeFile(file, Array.from({ length: 30 }, (_, i) => JSON.stringify({ when: t0 + i * 100, inputs: [[i]], outputs: [0] })).join('\n'));
    expect(await cli('batch', 'send', '--endpoint', 'hist', '--id', 'jan-1', file)).toMatch(/batch jan-1: accepted 30 event/);
    const batch = await waitFor('the batch dispatched', async () =>
      (await json<BatchRecord[]>('batch', 'list', 'hist')).find((b) => b.status === 'dispatched'),
    );
    expect(batch).toMatchObject({ batchId: 'jan-1', windows: 3 });
    const rows = await waitFor('the results of the batch', async () => {
      const r = await json<ResultRow[]>('results', '--endpoint', 'hist', '--batch', 'jan-1', '--app', 'dev-rows');
      return r.length === 3 ? r : undefined;
    });
    expect(rows.map((x) => x.rows)).toEqual([10, 10, 10]);
    // --limit: the newest windows only
    const one = await json<ResultRow[]>('results', '--endpoint', 'hist', '--batch', 'jan-1', '--app', 'dev-rows', '--limit', '1');
    expect(one).toHaveLength(1);
    expect(Date.parse(one[0]!.windowStart)).toBe(t0 + 2000);
  });

  it('results: an unknown endpoint or batch is an error naming it (an endpoint with no window yet is not); --limit takes a positive whole number, here and in every command with one', async () => {
    const failure = (...args: string[]) =>
      run(process.execPath, ['--no-node-snapshot', CLI, '--host', host.url, ...args], { timeout: 60_000 }).then(
        () => undefined,
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
    // monitoring off: no window of it is analysed, not even an empty one
    await client.createEndpoint({ name: 'no-windows', featureNames: ['x'], monitoring: false });
    expect(await cli('results', '--endpoint', 'no-windows')).toBe('no results yet\n');
    expect(await failure('results', '--endpoint', 'nope')).toEqual({
      code: 1,
      stderr: "error [NOT_FOUND]: no endpoint named 'nope' (create it with: modelwatch endpoint create --name nope)\n",
    });
    expect(await failure('results', '--endpoint', 'no-windows', '--batch', 'nosuch')).toEqual({
      code: 1,
      stderr:
        "error [NOT_FOUND]: no batch 'nosuch' of endpoint no-windows (see modelwatch batch list no-windows; a batch is listed once its events are ingested)\n",
    });
    // the route: 404 with the code of every other route's unknown endpoint; a batch id no batch can have is a 400
    const res = await fetch(`${host.url}/api/v1/results?endpoint=nope`, { headers: authHeaders() });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringMatching(/^no endpoint named 'nope'/) } });
    await expect(client.results({ endpoint: 'no-windows', batch: 'a b' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: "batch id 'a b' is not valid: use 1-64 letters, digits, '_' or '-'",
    });

    // --limit: refused before any request, naming the flag
    const limited = [['results'], ['dlq', 'list'], ['audit'], ['alert', 'history'], ['metrics', 'values', 'no-windows'], ['plugin', 'logs', 'dev-rows']];
    const cases = [
      ...limited.flatMap((c) => [[c, 'abc', ''] as const, [c, '0', ', got 0'] as const]),
      [['results'], '-1', ', got -1'] as const,
      [['results'], '1.5', ', got 1.5'] as const,
    ];
    for (const [args, limit, got] of cases) {
      expect(await failure(...args, '--limit', limit), `${args.join(' ')} --limit ${limit}`).toEqual({
        code: 1,
        stderr: `error: --limit: expected a positive whole number${got}\n`,
      });
    }
    // the client sends every limit it is given (0 too): the host refuses what is not a count
    const notACount = { code: 'INVALID_ARGUMENT', message: "limit: expected a positive whole number, got '0'" };
    await expect(client.results({ limit: 0 })).rejects.toMatchObject(notACount);
    await expect(client.deadLetters({ limit: 0 })).rejects.toMatchObject(notACount);
    await expect(client.servingIntervals('no-windows', { limit: 0 })).rejects.toMatchObject(notACount);
  });
});
