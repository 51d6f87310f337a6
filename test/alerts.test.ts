import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Buckets, Consumers, Streams } from '@modelwatch/protocol';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertNotification, Notifier } from '../host/src/alerts/contract.js';
import { AlertRuleStore } from '../host/src/alerts/store.js';
import { bindingKeyObject, type BindingKey } from '../host/src/domain/binding.js';
import { outputBindingKey } from '../host/src/nats/auth.js';
import { startTestHost } from './helpers/host.js';
import { consumerInfo, startTestNats } from './helpers/nats.js';
import { outputPublisher } from './helpers/outputs.js';
import { CLI } from './helpers/processes.js';
import { tempDir, waitFor } from './helpers/tmp.js';

/**
 * A notifier for tests: it keeps every notification it is handed, by idempotency key, and counts
 * the calls (a real implementation of our own interface, in memory: the channels are not this
 * test's subject).
 */
class RecordingNotifier implements Notifier {
  readonly calls: AlertNotification[] = [];
  readonly byKey = new Map<string, AlertNotification>();
  enqueue(n: AlertNotification): Promise<void> {
    this.calls.push(n);
    this.byKey.set(n.key, n);
    return Promise.resolve();
  }
  of(kind: AlertNotification['kind'], endpoint?: string): AlertNotification[] {
    return this.calls.filter((n) => n.kind === kind && (endpoint === undefined || n.alert.endpoint === endpoint));
  }
}

const run = promisify(execFile);
const APP = 'synthetic-drift';
const PERIOD = 60_000;
const T0 = Date.UTC(2026, 0, 1);

const RULES = `# alert rules of the test host
rules:
  - name: drift-2
    severity: high
    endpoints: { glob: 'ep-*' }
    results: { app: ${APP}, name: 'general_*', kind: data_drift }
    when: { status: detected }
    for: { consecutive: 2 }
    reset: { auto: 1 }
    channels: [ops]
  - name: storm
    endpoints: { glob: 'storm-*' }
    results: { app: ${APP} }
    when: { above: 0.5 }
    for: { last: 3, atLeast: 2 }
  - name: failing
    endpoints: { names: [sys-a] }
    when: { event: window_failed }
    for: { consecutive: 2 }
  - name: silent
    endpoints: { names: [sys-b] }
    when: { noDataFor: 2m }
`;

describe('alerts: rules over stored windows, one alert per (rule, endpoint, result), states kept', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let key: BindingKey;
  const notifier = new RecordingNotifier();
  let rulesFile = '';

  /** Publish an app's output for a window, bound as the controller binds its tasks. */
  let publishOutput: ReturnType<typeof outputPublisher>;
  const drift = (value = 0.8) => [{ name: 'general_drift', value, status: 2 }];
  const normal = () => [{ name: 'general_drift', value: 0.1, status: 0 }];

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-alerts-');
    rulesFile = join(dir.path, 'alerts.yaml');
    await writeFile(rulesFile, RULES);
    env = await startTestHost({ natsUrl: nats.url, runners: 0, dataDir: join(dir.path, 'host'), alertsFile: rulesFile, alertNotifier: notifier });
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    key = bindingKeyObject(await outputBindingKey(nc));
    publishOutput = outputPublisher(js, key, { app: APP, periodMs: PERIOD, t0: T0 });
  });

  afterAll(async () => {
    await nc?.close();
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('drift for 3 windows with "2 consecutive" fires exactly one notification; recovery resolves it once', async () => {
    await publishOutput('ep-a', 0, drift());
    await publishOutput('ep-a', 1, drift());
    await publishOutput('ep-a', 2, drift(0.9));
    // a window evaluated again (a redelivery, or a retry of the app) changes nothing
    await publishOutput('ep-a', 1, [{ name: 'general_drift', value: 0.81, status: 2 }]);
    await publishOutput('ep-a', 3, normal());
    const resolved = await waitFor('the resolved notification of ep-a', () => notifier.of('resolved', 'ep-a')[0]);
    const firing = notifier.of('firing', 'ep-a');
    expect(firing).toHaveLength(1);
    expect(notifier.of('resolved', 'ep-a')).toHaveLength(1);
    const f = firing[0]!;
    expect(f).toMatchObject({
      kind: 'firing',
      channels: ['ops'],
      alert: { rule: 'drift-2', severity: 'high', endpoint: 'ep-a', app: APP, result: 'general_drift', status: 2, value: 0.8 },
    });
    expect(f.alert.windows).toEqual([T0, T0 + PERIOD]);
    expect(f.key).toBe(`${f.alert.id}:firing:1`);
    expect(resolved.alert.id).toBe(f.alert.id);
    expect(resolved.alert.state).toBe('resolved');

    const listed = await env.client.listAlerts();
    const a = listed.find((x) => x.id === f.alert.id)!;
    expect(a).toMatchObject({ state: 'resolved', value: 0.9, windowStart: T0 + 2 * PERIOD });
    expect(a.windows).toEqual([T0, T0 + PERIOD, T0 + 2 * PERIOD]);
    expect((await env.client.listAlerts({ active: true })).some((x) => x.endpoint === 'ep-a')).toBe(false);
  });

  it('a silence of a rule on an endpoint suppresses its alerts; the others fire', async () => {
    const s = await env.client.createSilence({ rule: 'drift-2', endpoint: 'ep-quiet', duration: '1h', comment: 'maintenance' });
    expect((await env.client.listSilences()).map((x) => x.id)).toContain(s.id);
    for (const w of [0, 1, 2]) await publishOutput('ep-quiet', w, drift());
    // published after ep-quiet's windows, evaluated after them (one consumer, in order)
    for (const w of [0, 1]) await publishOutput('ep-loud', w, drift());
    await waitFor('ep-loud fires', () => notifier.of('firing', 'ep-loud')[0]);
    expect(notifier.calls.filter((n) => n.alert.endpoint === 'ep-quiet')).toEqual([]);
    await env.client.deleteSilence(s.id);
    expect(await env.client.listSilences()).toEqual([]);
    // a duration past 100 years is refused (a silence of 99999999999d ended past the dates JavaScript holds, and the list failed on it)
    await expect(env.client.createSilence({ endpoint: 'ep-quiet', duration: '99999999999d' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: "duration: '99999999999d' is longer than 100 years",
    });
    expect(await env.client.listSilences()).toEqual([]);
  });

  it('500 endpoints drifting at once: 500 alerts, one per (rule, endpoint, result), not one per window', async () => {
    const names = Array.from({ length: 500 }, (_, i) => `storm-${String(i).padStart(3, '0')}`);
    for (const w of [0, 1, 2]) await Promise.all(names.map((n) => publishOutput(n, w, [{ name: 'score', value: 0.9, status: 1 }])));
    // the sentinel's windows come after the storm's: when it fires, the storm was evaluated
    for (const w of [0, 1]) await publishOutput('storm-sentinel', w, [{ name: 'score', value: 0.9, status: 1 }]);
    await waitFor('the sentinel fires', () => notifier.of('firing', 'storm-sentinel')[0], 120_000);
    const storm = notifier.of('firing').filter((n) => n.alert.rule === 'storm' && n.alert.endpoint !== 'storm-sentinel');
    expect(storm).toHaveLength(500);
    expect(new Set(storm.map((n) => `${n.alert.rule}|${n.alert.endpoint}|${n.alert.result}`)).size).toBe(500);
    expect(new Set(storm.map((n) => n.key)).size).toBe(500);
    const active = (await env.client.listAlerts({ active: true })).filter((a) => a.rule === 'storm');
    expect(active).toHaveLength(501);
    expect(active.every((a) => a.windows.length === 2 || a.windows.length === 3)).toBe(true);
  });

  it('system rules: failed windows in a row, and an endpoint without events for a while', async () => {
    const failed = { outcome: 'error' as const, error: { code: 'APP_ERROR' as const, message: 'boom', retryable: false } };
    await publishOutput('sys-a', 0, [], failed);
    await publishOutput('sys-a', 1, [], failed);
    await publishOutput('sys-a', 2, normal());
    const fixed = await waitFor('sys-a resolves', () => notifier.of('resolved', 'sys-a')[0]);
    expect(fixed.alert).toMatchObject({ rule: 'failing', app: APP, windows: [T0, T0 + PERIOD] });
    expect(fixed.alert.summary).toContain('window failed: APP_ERROR boom');
    expect(notifier.of('firing', 'sys-a')).toHaveLength(1);
    // no rows for two windows (two minutes): data absence
    await publishOutput('sys-b', 0, [], { outcome: 'empty', rows: 0 });
    await publishOutput('sys-b', 1, [], { outcome: 'empty', rows: 0 });
    const silent = await waitFor('sys-b fires', () => notifier.of('firing', 'sys-b')[0]);
    expect(silent.alert).toMatchObject({ rule: 'silent', endpoint: 'sys-b', windowStart: T0 + PERIOD });
    await publishOutput('sys-b', 2, normal());
    await waitFor('sys-b resolves', () => notifier.of('resolved', 'sys-b')[0]);
  });

  it('rules of the file are read-only through the API and marked as from the file; API rules are kept in KV', async () => {
    const rules = await env.client.listAlertRules();
    expect(rules.filter((r) => r.source === 'file').map((r) => r.name)).toEqual(['drift-2', 'failing', 'silent', 'storm']);
    await expect(env.client.deleteAlertRule('drift-2')).rejects.toMatchObject({ code: 'CONFLICT', message: /declared in the alerts file/ });
    await expect(env.client.putAlertRule({ name: 'storm', when: { status: 'potential' } })).rejects.toMatchObject({ code: 'CONFLICT' });
    const made = await env.client.putAlertRule({ name: 'api-rule', endpoints: { names: ['ep-api'] }, when: { below: 0.2 }, severity: 'low' });
    expect(made).toMatchObject({ name: 'api-rule', source: 'api' });
    expect(await env.client.getAlertRule('api-rule')).toMatchObject({ source: 'api', when: { below: 0.2 } });
    // the evaluator picks it up from KV
    let w = 0;
    await waitFor('the evaluator has the new rule', async () => {
      await publishOutput('ep-api', w++, [{ name: 'general_drift', value: 0.1, status: 0 }]);
      return notifier.of('firing', 'ep-api')[0] ?? (await new Promise((r) => setTimeout(r, 200)), undefined);
    });
    await expect(env.client.putAlertRule({ name: 'bad', when: { status: 'maybe' } } as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: /status must be potential or detected/,
    });
    await env.client.deleteAlertRule('api-rule');
    await expect(env.client.getAlertRule('api-rule')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('acknowledge and resolve by hand; the states survive a host restart, which goes on from them', async () => {
    for (const w of [0, 1]) await publishOutput('ep-r', w, drift());
    const fired = await waitFor('ep-r fires', () => notifier.of('firing', 'ep-r')[0]);
    // the evaluator enqueues the notification before it stores the alert: wait for the alert
    await waitFor('the alert stored', () => env.client.getAlert(fired.alert.id).catch(() => undefined));
    const acked = await env.client.ackAlert(fired.alert.id);
    expect(acked).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'admin' });
    expect(notifier.of('acknowledged', 'ep-r')).toHaveLength(1);

    await env[Symbol.asyncDispose]();
    env = await startTestHost({ natsUrl: nats.url, runners: 0, dataDir: join(dir.path, 'host'), alertsFile: rulesFile, alertNotifier: notifier });
    expect(await env.client.getAlert(fired.alert.id)).toMatchObject({ state: 'acknowledged' });
    // still drifting after the restart: the same alert, no new firing
    await publishOutput('ep-r', 2, drift());
    await publishOutput('ep-r', 3, normal());
    const resolved = await waitFor('ep-r resolves', () => notifier.of('resolved', 'ep-r')[0]);
    expect(resolved.alert.id).toBe(fired.alert.id);
    expect(notifier.of('firing', 'ep-r')).toHaveLength(1);
    expect(await env.client.getAlert(fired.alert.id)).toMatchObject({ state: 'resolved', windows: [T0, T0 + PERIOD, T0 + 2 * PERIOD] });
    await expect(env.client.ackAlert(fired.alert.id)).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('a malformed rule file refuses the start with its line and the reason', async () => {
    const bad = join(dir.path, 'bad.yaml');
    await writeFile(
      bad,
      [
        'rules:',
        '  - name: ok-rule',
        '    when: { status: detected }',
        '  - name: bad-rule',
        '    severity: urgent',
        '    when: { status: detected }',
        '',
      ].join('\n'),
    );
    await expect(startTestHost({ natsUrl: nats.url, runners: 0, alertsFile: bad })).rejects.toThrow(
      `${bad}:5: rules.1.severity: severity must be one of low, medium, high, critical`,
    );
    await writeFile(bad, '{"rules": [ {"name": "x", "when": {} } ]}');
    await expect(startTestHost({ natsUrl: nats.url, runners: 0, alertsFile: bad })).rejects.toThrow(
      /bad\.yaml:1: rules\.0\.when: when must give exactly one of/,
    );
  });

  it('the CLI: alert rule create|list|show|delete, alert list, ack, resolve, silence', async () => {
    const cli = async (...args: string[]) =>
      (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', env.host.apiUrl, ...args], { timeout: 60_000 })).stdout;
    const ruleFile = join(dir.path, 'cli-rule.yaml');
    await writeFile(ruleFile, ['name: cli-rule', 'endpoints: { names: [ep-cli] }', 'when: { above: 0.5 }', 'reset: manual', ''].join('\n'));
    expect(await cli('alert', 'rule', 'create', '-f', ruleFile)).toBe("alert rule 'cli-rule' saved\n");
    expect(await cli('alert', 'rule', 'create', '--file', ruleFile)).toBe("alert rule 'cli-rule' saved\n");
    expect(await cli('alert', 'rule', 'list')).toMatch(/cli-rule.*api/);
    expect(JSON.parse(await cli('alert', 'rule', 'show', 'cli-rule'))).toMatchObject({ name: 'cli-rule', reset: 'manual', source: 'api' });
    await waitFor('the evaluator has cli-rule', async () => {
      await publishOutput('ep-cli', notifier.calls.length + 1000, [{ name: 'score', value: 0.9, status: 0 }]);
      return notifier.of('firing', 'ep-cli')[0] ?? (await new Promise((r) => setTimeout(r, 200)), undefined);
    });
    const active = JSON.parse(await cli('alert', 'list', '--active', '--json')) as Array<{ id: string; endpoint: string }>;
    const id = active.find((a) => a.endpoint === 'ep-cli')!.id;
    expect(await cli('alert', 'list')).toContain(id);
    expect(await cli('alert', 'ack', id)).toBe(`alert ${id} acknowledged\n`);
    expect(await cli('alert', 'resolve', id)).toBe(`alert ${id} resolved\n`);
    expect(notifier.of('resolved', 'ep-cli')).toHaveLength(1);
    const silenced = await cli('alert', 'silence', '--rule', 'cli-rule', '--endpoint', 'ep-*', '--for', '2h', '--comment', 'maintenance');
    const sid = /^silence ([0-9a-f-]+):/.exec(silenced)![1]!;
    expect(await cli('alert', 'silence', '--list')).toContain(sid);
    expect(await cli('alert', 'silence', '--delete', sid)).toBe(`silence ${sid} ended\n`);
    expect(await cli('alert', 'rule', 'delete', 'cli-rule')).toBe("alert rule 'cli-rule' deleted\n");
    // the host refuses a malformed --alerts file before it starts anything
    const bad = join(dir.path, 'cli-bad.yaml');
    await writeFile(bad, 'rules:\n  - name: x\n    when: { status: detected }\n    for: { consecutive: 0 }\n');
    const failed = await run(process.execPath, ['--no-node-snapshot', CLI, 'host', 'start', '--data-dir', join(dir.path, 'cli-host'), '--alerts', bad], {
      timeout: 60_000,
    }).then(
      () => undefined,
      (err: { stderr: string }) => err,
    );
    expect(failed?.stderr).toContain(`${bad}:4: rules.0.for.consecutive: must be >= 1`);
  }, 300_000);
});

describe('alerts: outputs are read only while a rule evaluates them', () => {
  it('no rule over outputs: no consumer, nothing read; the first rule reads from its making on; removing the last stops reading again', async () => {
    await using nats = await startTestNats();
    await using dir = await tempDir('mw-alerts-idle-');
    const notifier = new RecordingNotifier();
    let env = await startTestHost({ natsUrl: nats.url, runners: 0, dataDir: join(dir.path, 'host'), alertNotifier: notifier });
    const nc = await connect({ servers: nats.url });
    try {
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      const publishOutput = outputPublisher(js, bindingKeyObject(await outputBindingKey(nc)), { app: APP, periodMs: PERIOD, t0: T0 });
      const consumer = () => consumerInfo(jsm, Streams.outputs, Consumers.alerts);
      const gone = () => consumer().then((ci) => (ci === undefined ? true : undefined));
      // the topology does not make the consumer, and the evaluator, with no rule over outputs, makes none (or removes one left behind)
      await waitFor('the evaluator to remove its consumer', gone);
      // a system rule reads no output: still none
      await env.client.putAlertRule({ name: 'runners', when: { runnersBelow: 1 } });
      await publishOutput('idle-ep', 0, [{ name: 'general_drift', value: 0.9, status: 2 }]);
      await waitFor('the system rule to fire (the evaluator has the rules)', () => notifier.of('firing').find((n) => n.alert.rule === 'runners'));
      expect(await consumer()).toBeUndefined();

      const made = await env.client.putAlertRule({ name: 'drift', when: { status: 'detected' } });
      const entry = await (await new Kvm(nc).open(Buckets.alertRules)).get('drift');
      const ci = await waitFor('the evaluator to read outputs again', () => consumer());
      expect(made.name).toBe('drift');
      // from one second before the rule was stored, on the server's clock
      expect(ci.config.deliver_policy).toBe('by_start_time');
      expect(Date.parse(ci.config.opt_start_time!)).toBe(entry!.created.getTime() - 1000);
      await publishOutput('live-ep', 0, [{ name: 'general_drift', value: 0.9, status: 2 }]);
      const fired = await waitFor('the new rule to fire', () => notifier.of('firing', 'live-ep')[0]);
      expect(fired.alert).toMatchObject({ rule: 'drift', endpoint: 'live-ep' });

      await env.client.deleteAlertRule('drift');
      await waitFor('the evaluator to stop reading and remove its consumer', gone);

      // a rule made while no evaluator runs (the host down, a lease changing hands): the next
      // evaluator makes the consumer from the rule's making on
      await env[Symbol.asyncDispose]();
      const rules = await new Kvm(nc).open(Buckets.alertRules);
      await new AlertRuleStore(rules).put({ name: 'drift-again', when: { status: 'detected' } });
      const again = await rules.get('drift-again');
      env = await startTestHost({ natsUrl: nats.url, runners: 0, dataDir: join(dir.path, 'host'), alertNotifier: notifier });
      const made2 = await waitFor('the next evaluator to read outputs', () => consumer());
      expect(made2.config.deliver_policy).toBe('by_start_time');
      expect(Date.parse(made2.config.opt_start_time!)).toBe(again!.created.getTime() - 1000);
    } finally {
      await nc.close();
      await env[Symbol.asyncDispose]();
    }
  }, 120_000);
});
