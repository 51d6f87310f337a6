import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects } from '@modelwatch/protocol';
import type { Alert, NotificationKind } from '../host/src/alerts/contract.js';
import type { ModelwatchClient } from '../host/src/client/client.js';
import type { Host } from '../host/src/host.js';
import { runnerEntry } from '../host/src/runner/supervisor.js';
import { startAlertTestEnv, type AlertTestEnv } from './helpers/alerts.js';
import { CLI, restartableTsdb, type RestartableTsdb } from './helpers/processes.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const run = promisify(execFile);

/** What a receiver was told, digests flattened: key, kind and alert of each notification answered 2xx. */
function told(rx: Receiver): Array<{ key: string; kind: NotificationKind; alert: Alert }> {
  const out: Array<{ key: string; kind: NotificationKind; alert: Alert }> = [];
  for (const q of rx.requests) {
    if (q.status < 200 || q.status >= 300) continue;
    const b = JSON.parse(q.body) as { type: string; key: string; kind: NotificationKind; alert: Alert; notifications?: typeof out };
    if (b.type === 'digest') out.push(...b.notifications!);
    else out.push({ key: b.key, kind: b.kind, alert: b.alert });
  }
  return out;
}

const kinds = (rx: Receiver, kind: NotificationKind) => told(rx).filter((n) => n.kind === kind);

/** Wait for the n-th notification of a kind on a receiver. */
const nth = (rx: Receiver, kind: NotificationKind, n: number, timeoutMs = 30_000) =>
  waitFor(`${n} ${kind} notification(s) at ${rx.url}`, () => kinds(rx, kind)[n - 1], timeoutMs, 50);

/** A runner process of its own (the host runs none), stopped for real by the test. */
function startRunner(natsUrl: string): ChildProcess {
  return spawn(process.execPath, ['--no-node-snapshot', runnerEntry()], {
    env: { ...process.env, MODELWATCH_NATS_URL: natsUrl, MODELWATCH_LOG_LEVEL: 'error' },
    stdio: 'ignore',
  });
}

describe('system alert rules, repeats and rule tests', () => {
  let env: AlertTestEnv;
  let host: Host;
  let client: ModelwatchClient;
  let nc: NatsConnection;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let tsdb: RestartableTsdb;

  beforeAll(async () => {
    dir = await tempDir('mw-alert-system-');
    tsdb = await restartableTsdb(join(dir.path, 'vm'));
    env = await startAlertTestEnv(100, {
      servingInterval: '1s',
      influx: { url: tsdb.url, org: 'test', bucket: 'modelwatch' },
      alertCheckInterval: '200ms',
    });
    ({ host, client, nc } = env);
  }, 60_000);

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await tsdb?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('a dead-letter rate fires per endpoint and overall while malformed events arrive, and resolves when they stop', async () => {
    await using rx = await startReceiver();
    await client.createAlertChannel({ name: 'dl', type: 'webhook', url: `${rx.url}/dl` });
    await client.createEndpoint({ name: 'dl-ep', featureNames: ['x'] });
    await client.putAlertRule({ name: 'dl-ep-rate', endpoints: { names: ['dl-ep'] }, when: { deadLetterRate: { above: 0, over: '2s' } }, channels: ['dl'] });
    await client.putAlertRule({ name: 'dl-all-rate', when: { deadLetterRate: { above: 0, over: '2s' } }, channels: ['dl'] });
    const js = jetstream(nc);
    // malformed events until both rules fire: each is a dead letter of dl-ep
    let sent = 0;
    await waitFor(
      'both dead-letter rules to fire',
      async () => {
        await js.publish(Subjects.events('dl-ep'), new TextEncoder().encode('{ not json'));
        sent++;
        const rules = new Set(kinds(rx, 'firing').map((n) => n.alert.rule));
        return rules.has('dl-ep-rate') && rules.has('dl-all-rate') ? true : undefined;
      },
      30_000,
      200,
    );
    expect(sent).toBeGreaterThan(0);
    const byEndpoint = kinds(rx, 'firing').find((n) => n.alert.rule === 'dl-ep-rate')!;
    expect(byEndpoint.alert.endpoint).toBe('dl-ep');
    expect(byEndpoint.alert.result).toBe('dead_letters_per_minute');
    expect(byEndpoint.alert.value).toBeGreaterThan(0);
    expect(kinds(rx, 'firing').find((n) => n.alert.rule === 'dl-all-rate')!.alert.endpoint).toBeUndefined();
    // no more letters: the rate falls to 0 within 2 s and both resolve, once each
    await waitFor('both to resolve', () => (new Set(kinds(rx, 'resolved').map((n) => n.alert.rule)).size === 2 ? true : undefined), 30_000, 50);
    const active = await client.listAlerts({ active: true });
    expect(active.filter((a) => a.rule.startsWith('dl-'))).toEqual([]);
    // one alert per rule and subject while active: each fired once
    expect(
      kinds(rx, 'firing')
        .map((n) => n.alert.rule)
        .sort(),
    ).toEqual(['dl-all-rate', 'dl-ep-rate']);
    await client.deleteAlertRule('dl-ep-rate');
    await client.deleteAlertRule('dl-all-rate');
  });

  it('fewer runners than asked fires; a runner that starts resolves it; the runner killed fires again', async () => {
    await using rx = await startReceiver();
    await client.createAlertChannel({ name: 'rn', type: 'webhook', url: `${rx.url}/rn` });
    await client.putAlertRule({ name: 'runner-down', severity: 'critical', when: { runnersBelow: 1 }, channels: ['rn'] });
    const first = await nth(rx, 'firing', 1);
    expect(first.alert.value).toBe(0);
    expect(first.alert.threshold).toBe(1);
    const runner = startRunner(env.nats.url);
    try {
      const resolved = await nth(rx, 'resolved', 1);
      expect(resolved.alert.id).toBe(first.alert.id);
      const exited = new Promise((r) => runner.once('exit', r));
      runner.kill('SIGKILL');
      await exited;
      const second = await nth(rx, 'firing', 2);
      expect(second.alert.id).not.toBe(first.alert.id);
      expect(kinds(rx, 'firing')).toHaveLength(2);
    } finally {
      if (runner.exitCode === null && runner.signalCode === null) runner.kill('SIGKILL');
      await client.deleteAlertRule('runner-down');
    }
  });

  it('the TSDB failing fires while VictoriaMetrics is down and resolves when it is back', async () => {
    await using rx = await startReceiver();
    await client.createAlertChannel({ name: 'ts', type: 'webhook', url: `${rx.url}/ts` });
    await client.createEndpoint({ name: 'ts-ep', featureNames: ['x'] });
    await client.putAlertRule({ name: 'tsdb-down', when: { event: 'tsdb_failing' }, channels: ['ts'] });
    await tsdb.stop();
    const js = jetstream(nc);
    try {
      // events make serving metrics, whose points the writer ships to the TSDB: refused while it is down
      await waitFor(
        'the TSDB rule to fire',
        async () => {
          await js.publish(Subjects.events('ts-ep'), new TextEncoder().encode(JSON.stringify({ inputs: [[1]], outputs: [0] })));
          return kinds(rx, 'firing')[0];
        },
        60_000,
        200,
      );
    } finally {
      await tsdb.start();
    }
    const fired = kinds(rx, 'firing')[0]!;
    expect(fired.alert.rule).toBe('tsdb-down');
    expect(fired.alert.summary).toContain('the TSDB is failing');
    // the writer's next try (1 s doubling) ships the points: resolved
    const resolved = await nth(rx, 'resolved', 1, 60_000);
    expect(resolved.alert.id).toBe(fired.alert.id);
    await client.deleteAlertRule('tsdb-down');
  });

  it('repeats a firing alert at its interval with a new key each time, and stops once it is acknowledged', async () => {
    await using rx = await startReceiver();
    await client.createAlertChannel({ name: 'rep', type: 'webhook', url: `${rx.url}/rep` });
    // no runner runs: both rules fire and stay firing
    await client.putAlertRule({ name: 'rep-ack', when: { runnersBelow: 1 }, repeatInterval: '1s', channels: ['rep'] });
    await client.putAlertRule({ name: 'rep-keep', when: { runnersBelow: 1 }, repeatInterval: '1s', channels: ['rep'] });
    const repeatsOf = (rule: string) => kinds(rx, 'repeat').filter((n) => n.alert.rule === rule);
    await waitFor('two repeats of rep-ack', () => (repeatsOf('rep-ack').length >= 2 ? true : undefined), 30_000, 50);
    const ackId = repeatsOf('rep-ack')[0]!.alert.id;
    await client.ackAlert(ackId);
    const atAck = repeatsOf('rep-ack').length;
    const keepAtAck = repeatsOf('rep-keep').length;
    // three more repeats of the other rule: three more intervals have passed
    await waitFor('three more repeats of rep-keep', () => (repeatsOf('rep-keep').length >= keepAtAck + 3 ? true : undefined), 30_000, 50);
    // at most one enqueued as the acknowledgement landed
    expect(repeatsOf('rep-ack').length).toBeLessThanOrEqual(atAck + 1);
    for (const rule of ['rep-ack', 'rep-keep']) {
      const keys = repeatsOf(rule).map((n) => n.key);
      const id = repeatsOf(rule)[0]!.alert.id;
      expect(new Set(keys).size).toBe(keys.length);
      // derived from the alert and the repeat number
      for (const k of keys) expect(k).toMatch(new RegExp(`^${id}:repeat:\\d+$`));
      const numbers = keys.map((k) => Number(k.split(':').pop()));
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    }
    await client.deleteAlertRule('rep-ack');
    await client.deleteAlertRule('rep-keep');
  });

  it('alert rule test reports each channel: success or the status code, never the receiver body (HTTP and CLI)', async () => {
    await using ok = await startReceiver(() => 200);
    await using bad = await startReceiver(() => 500);
    await client.createAlertChannel({ name: 'rt-ok', type: 'webhook', url: `${ok.url}/ok` });
    await client.createAlertChannel({ name: 'rt-bad', type: 'webhook', url: `${bad.url}/bad` });
    await client.putAlertRule({ name: 'rt', severity: 'high', when: { status: 'detected' }, channels: ['rt-ok', 'rt-bad'] });
    const r = await client.testAlertRule('rt');
    expect(r.rule).toBe('rt');
    expect(r.channels.sort((a, b) => a.channel.localeCompare(b.channel))).toEqual([
      { channel: 'rt-bad', ok: false, status: 500, error: 'HTTP 500' },
      { channel: 'rt-ok', ok: true, status: 200 },
    ]);
    expect(JSON.stringify(r)).not.toContain('SECRET-RECEIVER-BODY');
    // the sample names the rule, with its key
    const sample = JSON.parse(ok.requests.at(-1)!.body) as { key: string; alert: Alert };
    expect(sample.key).toBe(r.key);
    expect(sample.alert.rule).toBe('rt');
    expect(sample.alert.severity).toBe('high');
    const cli = (...args: string[]) => run(process.execPath, ['--no-node-snapshot', CLI, '--host', host.apiUrl, ...args], { timeout: 60_000 });
    const failed = await cli('alert', 'rule', 'test', 'rt').then(
      () => undefined,
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toMatch(/rt-ok\s+│\s+ok \(200\)/);
    expect(failed?.stdout).toMatch(/rt-bad\s+│\s+failed: HTTP 500/);
    expect(`${failed?.stdout}${failed?.stderr}`).not.toContain('SECRET-RECEIVER-BODY');
    // only the good channel: exit 0, JSON
    await client.putAlertRule({ name: 'rt', severity: 'high', when: { status: 'detected' }, channels: ['rt-ok'] });
    const json = JSON.parse((await cli('alert', 'rule', 'test', 'rt', '--json')).stdout) as { channels: unknown[] };
    expect(json.channels).toEqual([{ channel: 'rt-ok', ok: true, status: 200 }]);
    // an unknown rule
    await expect(client.testAlertRule('no-such-rule')).rejects.toThrow(/alert rule 'no-such-rule' not found/);
    await client.deleteAlertRule('rt');
  });
});
