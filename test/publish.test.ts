import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects, type WindowRecord } from '@modelwatch/protocol';
import { openBuckets } from '../host/src/nats/topology.js';
import { authHeaders, publishDir, rng, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { CLI } from './helpers/processes.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;
const PERIOD = 1000;
const run = promisify(execFile);

/** An app written for one model: it reads the column 'age' by name (as the README's example does). */
const READS_AGE = `import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';

export default class ReadsAge extends MonitoringApplication {
  doTracking(ctx: MonitoringContext) {
    const age = ctx.sample.column('age') as Float64Array;
    let sum = 0;
    for (const v of age) sum += v;
    return [{ name: 'age_mean', value: sum / age.length }];
  }
}
`;

/** An app that works on any endpoint. */
const ROWS_APP = `import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';

export default class Rows extends MonitoringApplication {
  doTracking(ctx: MonitoringContext) {
    return [{ name: 'rows', value: ctx.sample.length }];
  }
}
`;

/**
 * Publishing checks the bundle without calling it and dry-runs it on synthetic windows of the
 * endpoints it applies to (a failure is a warning, refused with strict); plugin.json `endpoints`
 * decides which endpoints' windows an app gets at all.
 */
describe('publish: check, dry run, and the endpoints an app applies to', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  /** The CLI as a user runs it; never throws: the exit code, stdout and stderr. */
  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--no-node-snapshot', CLI, '--host', env.host.apiUrl, ...args], { timeout: 120_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const app = async (name: string, manifest: object, code: string) => {
    const d = join(dir.path, name);
    await mkdir(join(d, 'src'), { recursive: true });
    await writeFile(join(d, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', description: `test app ${name}`, entry: 'src/index.ts', ...manifest }));
    await writeFile(join(d, 'src/index.ts'), code);
    return d;
  };
  const reference = (columns: Record<string, () => number>) => {
    const names = Object.keys(columns);
    return [names.join(','), ...Array.from({ length: 200 }, () => names.map((n) => columns[n]!()).join(','))].join('\n');
  };
  const windowOf = (endpoint: string, app: string, ws: number) =>
    waitFor(`${app}'s window ${new Date(ws).toISOString()} of ${endpoint}`, async () =>
      (await env.client.results({ endpoint, app, limit: 1000 })).find((w) => w.windowStart === ws),
    );
  let readsAge = '';

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-publish-');
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 200, windowAttempts: 1 });
    readsAge = await app('reads-age', {}, READS_AGE);
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('publishes an app that reads a column by name before any endpoint exists, noting that there was no dry run', async () => {
    const out = await cli('plugin', 'publish', readsAge);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(out.stdout).toMatch(/^published reads-age@1\.0\.0 \(\d+ bytes, sha256 [0-9a-f]{12}\)\nno dry run: no endpoint exists yet\n$/);
    expect((await env.client.getPlugin('reads-age')).versions.map((v) => v.version)).toEqual(['1.0.0']);
  });

  it('an app that throws on a missing column publishes with a warning naming the endpoint, file and line; strict refuses it', async () => {
    const r = rng(1);
    await env.client.createEndpoint({ name: 'fraud', featureNames: ['x', 'z'], labelNames: ['y'] });
    await env.client.setReference('fraud', reference({ x: () => r.normal(0, 1), z: () => r.normal(5, 2), y: () => (r.uniform() < 0.1 ? 1 : 0) }), 'csv');
    await writeFile(join(readsAge, 'plugin.json'), JSON.stringify({ name: 'reads-age', version: '1.1.0', description: 'reads age', entry: 'src/index.ts' }));
    const warned = await cli('plugin', 'publish', readsAge);
    expect(warned.code).toBe(0);
    expect(warned.stdout).toMatch(/^published reads-age@1\.1\.0 /);
    expect(warned.stderr).toMatch(
      /^WARNING: dry run on endpoint 'fraud' failed: APP_ERROR: reads-age@1\.1\.0 threw: the window has no column 'age' \(it has: x, z, y\) \(at src\/index\.ts:5:28\)\n/,
    );
    expect(warned.stderr).toContain('at ReadsAge.doTracking (src/index.ts:5:28)');
    expect((await env.client.getPlugin('reads-age')).activeVersion).toBe('1.1.0');

    // --strict: the same failure refuses the version; the running one stays
    await writeFile(join(readsAge, 'plugin.json'), JSON.stringify({ name: 'reads-age', version: '1.2.0', description: 'reads age', entry: 'src/index.ts' }));
    const refused = await cli('plugin', 'publish', readsAge, '--strict');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /PLUGIN_DRY_RUN_FAILED.*refused \(strict\): dry run on endpoint 'fraud' failed: APP_ERROR: reads-age@1\.2\.0 threw: the window has no column 'age' .*\(at src\/index\.ts:5:28\)/,
    );
    const rec = await env.client.getPlugin('reads-age');
    expect(rec.activeVersion).toBe('1.1.0');
    expect(rec.versions.map((v) => v.version)).toEqual(['1.0.0', '1.1.0']);
    // over HTTP: the body field strict
    await expect(publishDir(env.client, readsAge, { strict: true })).rejects.toMatchObject({ code: 'PLUGIN_DRY_RUN_FAILED' });
    const badStrict = await fetch(`${env.host.apiUrl}/api/v1/plugins`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify({ manifest: {}, code: '', strict: 'yes' }),
    });
    expect(badStrict.status).toBe(400);
    expect(await badStrict.json()).toEqual({ error: { code: 'INVALID_ARGUMENT', message: 'strict: expected true or false' } });
  });

  it('plugin build checks without a host, and dry-runs only with --sample or --endpoint', async () => {
    const plain = await run(process.execPath, ['--no-node-snapshot', CLI, '--host', 'http://127.0.0.1:1', 'plugin', 'build', readsAge]);
    expect(plain.stdout).toMatch(/^built reads-age@1\.2\.0: .*default-exports a MonitoringApplication with doTracking\nno dry run \(doTracking not called\)/);

    const onFraud = await cli('plugin', 'build', readsAge, '--endpoint', 'fraud');
    expect(onFraud.code).toBe(0);
    expect(onFraud.stderr).toMatch(
      /^WARNING: dry run on endpoint 'fraud' failed: APP_ERROR: reads-age@1\.2\.0 threw: the window has no column 'age' \(it has: x, z, y\) \(at src\/index\.ts:5:28\)/,
    );
    expect(await cli('plugin', 'build', readsAge, '--endpoint', 'fraud', '--strict')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/refused \(--strict\): dry run on endpoint 'fraud' failed: .*\(at src\/index\.ts:5:28\)/),
    });

    await env.client.createEndpoint({ name: 'churn-a', featureNames: ['age', 'income'], labelNames: ['churned'] });
    const onChurn = await cli('plugin', 'build', readsAge, '--endpoint', 'churn-a', '--json');
    expect(onChurn.code).toBe(0);
    expect(JSON.parse(onChurn.stdout)).toMatchObject({
      name: 'reads-age',
      dryRun: [{ on: "endpoint 'churn-a'", endpoint: 'churn-a', outcome: 'ok', rows: 100, results: 0, metrics: 1 }],
    });
    expect(await cli('plugin', 'build', readsAge, '--endpoint', 'nowhere')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/no endpoint named 'nowhere'/),
    });

    const sample = join(dir.path, 'window.csv');
    await writeFile(sample, 'age,income\n30,100\n50,200\n');
    const onSample = await cli('plugin', 'build', readsAge, '--sample', sample);
    expect(onSample).toMatchObject({ code: 0, stderr: '' });
    expect(onSample.stdout).toContain(`dry run on sample ${sample}: ok (2 rows: 0 results, 1 metric,`);
    // with a reference of the sample's columns (labels apart) and a config, as plugin test takes them
    const ref = join(dir.path, 'reference.csv');
    await writeFile(ref, 'age,income,churned\n31,110,0\n49,190,1\n40,150,0\n');
    const labelled = join(dir.path, 'labelled.csv');
    await writeFile(labelled, 'age,income,churned\n30,100,1\n50,200,0\n');
    const withRef = await cli('plugin', 'build', readsAge, '--sample', labelled, '--reference', ref, '--labels', 'churned', '--config', '{}', '--json');
    expect(withRef.code).toBe(0);
    expect(JSON.parse(withRef.stdout)).toMatchObject({ dryRun: [{ outcome: 'ok', rows: 2, metrics: 1 }] });
  });

  it('endpoints (names or globs) decide which windows an app gets: none of the others are dispatched or stored', async () => {
    await env.client.createEndpoint({ name: 'churn-b', featureNames: ['age', 'income'], labelNames: ['churned'] });
    const churnOnly = await app('churn-only', { endpoints: ['churn-*'] }, READS_AGE.replace('ReadsAge', 'ChurnOnly'));
    const published = await publishDir(env.client, churnOnly);
    expect(published.versions[0]!.endpoints).toEqual(['churn-*']);
    // the dry run used only the endpoints it applies to
    expect(published.dryRun).toMatchObject({
      endpoints: [
        { endpoint: 'churn-a', outcome: 'ok' },
        { endpoint: 'churn-b', outcome: 'ok' },
      ],
      warnings: [],
    });
    await publishDir(env.client, ROW_COUNT);

    // one window with rows for churn-a and for fraud
    const ws = Math.ceil((Date.now() + 100) / PERIOD) * PERIOD;
    await untilWallClock(ws);
    await env.client.sendEvents('churn-a', [
      { when: ws + 1, inputs: [[40, 100]], outputs: [0] },
      { when: ws + 2, inputs: [[60, 100]], outputs: [1] },
    ]);
    await env.client.sendEvents('fraud', [{ when: ws + 1, inputs: [[0.5, 5]], outputs: [0] }]);
    expect(await windowOf('churn-a', 'churn-only', ws)).toMatchObject({ outcome: 'ok', rows: 2, metrics: [{ name: 'age_mean', value: 50 }] });
    // positive markers: fraud's window was dispatched to the apps that apply to it, and
    // churn-only has analysed two more windows since
    expect(await windowOf('fraud', 'row-count', ws)).toMatchObject({ outcome: 'ok', rows: 1 });
    await windowOf('churn-a', 'churn-only', ws + 2 * PERIOD);
    expect(await env.client.results({ endpoint: 'fraud', app: 'churn-only', limit: 1000 })).toEqual([]);
    expect((await env.client.results({ endpoint: 'churn-b', app: 'churn-only', limit: 1000 })).length).toBeGreaterThan(0);

    // evaluate does not run it on an endpoint it does not apply to either
    await expect(env.client.evaluatePlugin('churn-only', { endpoint: 'fraud', from: ws, to: ws + PERIOD })).rejects.toThrow(
      "churn-only@1.0.0 does not apply to endpoint 'fraud' (its endpoints: churn-*)",
    );
  });

  it("where an app applies and a column is missing, the stored window's outcome names the missing column and the line", async () => {
    const ws = Math.ceil((Date.now() + 100) / PERIOD) * PERIOD;
    await untilWallClock(ws);
    await env.client.sendEvents('fraud', [{ when: ws + 1, inputs: [[0.5, 5]], outputs: [0] }]);
    const w: WindowRecord = await windowOf('fraud', 'reads-age', ws);
    expect(w).toMatchObject({ outcome: 'error', version: '1.1.0', rows: 1, error: { code: 'APP_ERROR' } });
    expect(w.error!.message).toBe(
      `reads-age@1.1.0 on endpoint fraud, window ${new Date(ws).toISOString()}: reads-age@1.1.0 threw: the window has no column 'age' (it has: x, z, y) (at src/index.ts:5:28)`,
    );
  });

  it('a request lost with its runner is asked once more', async () => {
    // the only runner stopped (SIGSTOP): the check's request goes unanswered; when the API asks
    // again, the runner goes on and answers
    const [pid] = env.host.runnerPids();
    const nc = await connect({ servers: nats.url });
    let asked = 0;
    const sub = nc.subscribe(Subjects.runnerCheck, {
      callback: () => {
        if (++asked === 2) process.kill(pid!, 'SIGCONT');
      },
    });
    await nc.flush();
    process.kill(pid!, 'SIGSTOP');
    try {
      const rec = await publishDir(env.client, await app('patient', { limits: { timeoutMs: 1000 } }, ROWS_APP));
      expect(rec).toMatchObject({ name: 'patient', activeVersion: '1.0.0', status: 'active' });
      expect(rec.dryRun.warnings).toEqual([]);
      expect(asked).toBe(2);
    } finally {
      process.kill(pid!, 'SIGCONT');
      sub.unsubscribe();
      await nc.close();
    }
  });

  it('a dry run that crashes its runner is a warning; nothing is stored or marked for its synthetic window', async () => {
    await env.client.createEndpoint({ name: 'quiet', featureNames: ['x'], labelNames: ['y'] });
    const crasher = await app(
      'crasher',
      { endpoints: ['quiet'], limits: { memoryMb: 32, timeoutMs: 5000 } },
      `import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';
export default class Crasher extends MonitoringApplication {
  doTracking(ctx: MonitoringContext) {
    const m = new Map();
    for (let i = 0; ctx.sample.length > 0; i++) m.set(i, { i });
    return [];
  }
}
`,
    );
    const restarts = env.host.runnerPids();
    const t0 = Date.now();
    const published = await publishDir(env.client, crasher);
    expect(Date.now() - t0).toBeLessThan(15_000);
    // the supervisor's crash report ends the wait at once (not the dry run's time limit)
    expect(published.dryRun.warnings).toEqual([
      "dry run on endpoint 'quiet' failed: it crashed its runner (Catastrophic out-of-memory error), which was restarted",
    ]);
    await env.client.disablePlugin('crasher');
    await waitFor('a new runner', () => (env.host.runnerPids().some((p) => !restarts.includes(p)) ? true : undefined), 30_000);
    // positive marker: a window analysed by the new runner and stored after the crash
    const ws = Math.ceil((Date.now() + 100) / PERIOD) * PERIOD;
    await untilWallClock(ws);
    await env.client.sendEvents('quiet', [{ when: ws + 1, inputs: [[1]], outputs: [0] }]);
    await windowOf('quiet', 'row-count', ws);
    expect((await env.client.results({ endpoint: 'quiet', app: 'crasher', limit: 1000 })).filter((w) => w.outcome === 'error')).toEqual([]);
    const nc = await connect({ servers: nats.url });
    try {
      const poisoned: string[] = [];
      for await (const k of await (await openBuckets(nc)).poison.keys()) poisoned.push(k);
      expect(poisoned).toEqual([]);
    } finally {
      await nc.close();
    }
  });
});
