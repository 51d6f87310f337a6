import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertNotification } from '../host/src/alerts/contract.js';
import { sampleNotification } from '../host/src/alerts/notify/index.js';
import type { ModelwatchClient } from '../host/src/client/client.js';
import type { Host } from '../host/src/host.js';
import { startAlertTestEnv, type AlertTestEnv } from './helpers/alerts.js';
import { CLI } from './helpers/processes.js';
import { deliveredKeys, startReceiver } from './helpers/receiver.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const run = promisify(execFile);

const PUBLIC_URL = 'https://mw.example.com';

describe('alert notifications', () => {
  let env: AlertTestEnv;
  let host: Host;
  let client: ModelwatchClient;
  let nc: NatsConnection;

  beforeAll(async () => {
    process.env.MW_TEST_HOOK_SECRET = 'from-the-environment';
    env = await startAlertTestEnv(5, { components: ['api', 'controller'], publicUrl: PUBLIC_URL });
    ({ host, client, nc } = env);
  }, 60_000);

  afterAll(() => env?.[Symbol.asyncDispose]());

  const historyOf = (channel: string) => client.alertHistory({ channel, limit: 10_000 });

  it('delivers exactly once per idempotency key to a receiver that is down for a while and then fails every other request; every attempt is recorded and signed', async () => {
    await using rx = await startReceiver((n) => (n % 2 === 0 ? 503 : 200));
    await rx.down();
    const secret = 'whsec-literal-1234567890';
    await client.createAlertChannel({ name: 'flaky', type: 'webhook', url: `${rx.url}/hook`, secret });
    const keys = ['flaky-1', 'flaky-2', 'flaky-3'];
    for (const key of keys) await client.sendTestNotification({ key, channels: ['flaky'] });
    // down: the attempts fail (connection refused) and are retried
    await waitFor('failed attempts while the receiver is down', async () => ((await historyOf('flaky')).filter((a) => !a.ok).length >= 6 ? true : undefined));
    await rx.up();
    await waitFor('every key delivered', () => (new Set(deliveredKeys(rx.requests)).size === keys.length ? true : undefined));
    const delivered = deliveredKeys(rx.requests);
    expect(delivered.sort()).toEqual(keys);
    // every attempt recorded: the refused ones and each request the receiver saw
    await waitFor('the history to record every request', async () => {
      const h = await historyOf('flaky');
      return h.filter((a) => a.status !== undefined).length === rx.requests.length ? h : undefined;
    });
    const h = await historyOf('flaky');
    expect(h.filter((a) => a.ok)).toHaveLength(rx.requests.filter((q) => q.status === 200).length);
    expect(h.some((a) => a.error === 'ECONNREFUSED')).toBe(true);
    expect(h.some((a) => a.status === 503 && a.error === 'HTTP 503')).toBe(true);
    expect(Math.max(...h.map((a) => a.attempt))).toBeGreaterThan(1);
    // signatures verify, timestamps are fresh, the idempotency key is the body's
    for (const q of rx.requests) {
      const ts = q.headers['modelwatch-timestamp'] as string;
      expect(Math.abs(Date.now() / 1000 - Number(ts))).toBeLessThan(300);
      const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${q.body}`).digest('hex')}`;
      expect(q.headers['modelwatch-signature']).toBe(expected);
      expect(q.headers['idempotency-key']).toBe((JSON.parse(q.body) as { key: string }).key);
    }
  });

  it('turns a burst of 500 notifications into digests, not 500 messages, delivering every key once', async () => {
    await using rx = await startReceiver();
    await client.createAlertChannel({ name: 'storm', type: 'webhook', url: `${rx.url}/storm` });
    const burst: AlertNotification[] = Array.from({ length: 500 }, (_, i) =>
      sampleNotification({ key: `storm-${i}`, channels: ['storm'], endpoint: `ep-${i}` }),
    );
    await Promise.all(burst.map((n) => host.notifier!.enqueue(n)));
    await waitFor('all 500 keys delivered', () => (deliveredKeys(rx.requests).length >= 500 ? true : undefined), 60_000);
    const keys = deliveredKeys(rx.requests);
    expect(keys).toHaveLength(500);
    expect(new Set(keys).size).toBe(500);
    expect(rx.requests.length).toBeLessThan(50);
    expect(rx.requests.some((q) => (JSON.parse(q.body) as { type: string }).type === 'digest')).toBe(true);
  });

  it('routes by severity and labels, besides the channels a notification names', async () => {
    await using rx = await startReceiver();
    await client.createAlertChannel({ name: 'oncall', type: 'webhook', url: `${rx.url}/oncall`, route: { minSeverity: 'critical', labels: { team: 'risk' } } });
    await client.sendTestNotification({ key: 'route-low', severity: 'low', labels: { team: 'risk' } });
    await client.sendTestNotification({ key: 'route-other-team', severity: 'critical', labels: { team: 'growth' } });
    await client.sendTestNotification({ key: 'route-critical', severity: 'critical', labels: { team: 'risk' } });
    await waitFor('the critical one', () => (deliveredKeys(rx.requests).includes('route-critical') ? true : undefined));
    await waitFor('the others recorded as routed nowhere', async () => {
      const h = await client.alertHistory({ channel: '_unrouted' });
      return ['route-low', 'route-other-team'].every((k) => h.some((a) => a.key === k)) ? true : undefined;
    });
    expect(deliveredKeys(rx.requests)).toEqual(['route-critical']);
  });

  it('sends HTML and text email over SMTP, HTML-escaped', async () => {
    const mails: string[] = [];
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, _session, cb) {
        let raw = '';
        stream.on('data', (d: Buffer) => (raw += d.toString('utf8')));
        stream.on('end', () => {
          mails.push(raw);
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    const port = (smtp.server.address() as AddressInfo).port;
    try {
      await client.createAlertChannel({
        name: 'mail',
        type: 'email',
        smtp: { host: '127.0.0.1', port, ignoreTLS: true },
        from: 'modelwatch@example.com',
        to: ['ops@example.com'],
      });
      await client.sendTestNotification({ key: 'mail-1', channels: ['mail'], endpoint: 'ep<script>' });
      const raw = await waitFor('the mail', () => mails[0]);
      const unfolded = raw.replace(/=\r?\n/g, '');
      expect(raw).toMatch(/Content-Type: text\/plain/i);
      expect(raw).toMatch(/Content-Type: text\/html/i);
      expect(raw).toMatch(/Idempotency-Key: mail-1/i);
      expect(unfolded).toContain('&lt;script&gt;');
      expect(unfolded).not.toMatch(/<td>ep<script>/);
      const h = await waitFor('the attempt recorded', async () => (await historyOf('mail')).find((a) => a.ok));
      expect(h.status).toBe(250);
    } finally {
      await new Promise<void>((r) => smtp.close(() => r()));
    }
  });

  it('publishes on a NATS subject for custom consumers', async () => {
    const sub = nc.subscribe('ops.alerts.modelwatch', { max: 1 });
    await nc.flush();
    await client.createAlertChannel({ name: 'bus', type: 'nats', subject: 'ops.alerts.modelwatch' });
    await client.sendTestNotification({ key: 'nats-1', channels: ['bus'] });
    for await (const m of sub) {
      expect(m.headers?.get('idempotency-key')).toBe('nats-1');
      const body = m.json<{ type: string; key: string; alert: { endpoint: string }; dashboardUrl: string }>();
      expect(body.type).toBe('notification');
      expect(body.key).toBe('nats-1');
      expect(body.dashboardUrl).toMatch(/^https:\/\/mw\.example\.com\/ui\/#\/endpoints\/sample-endpoint\/windows\/sample-app\/\d+$/);
    }
    await expect(client.createAlertChannel({ name: 'bad-bus', type: 'nats', subject: 'mw.events.x' })).rejects.toThrow(/host's own/);
  });

  it('formats Slack Block Kit, PagerDuty Events v2 and Alertmanager bodies', async () => {
    await using rx = await startReceiver();
    await client.createAlertChannel({ name: 'slack', type: 'slack', url: `${rx.url}/slack` });
    await client.createAlertChannel({ name: 'pd', type: 'pagerduty', url: `${rx.url}/pd`, routingKey: 'R0UTINGKEY' });
    await client.createAlertChannel({ name: 'am', type: 'alertmanager', url: `${rx.url}/am` });
    await client.sendTestNotification({ key: 'fmt-1', channels: ['slack', 'pd', 'am'] });
    await waitFor('three deliveries', () => (rx.requests.filter((q) => q.status === 200).length >= 3 ? true : undefined));
    const by = (p: string) => JSON.parse(rx.requests.find((q) => q.path === p)!.body) as Record<string, unknown>;
    const slack = JSON.stringify(by('/slack'));
    for (const s of ['sample-endpoint', 'sample_result', '0.71', '0.5', `${PUBLIC_URL}/ui/#/endpoints/sample-endpoint/windows/sample-app/`])
      expect(slack).toContain(s);
    expect(by('/pd')).toMatchObject({ routing_key: 'R0UTINGKEY', event_action: 'trigger', dedup_key: 'test|sample-endpoint|sample-app|sample_result' });
    expect(by('/am')).toMatchObject({ version: '4', status: 'firing', alerts: [{ status: 'firing', labels: { alertname: 'sample-rule', severity: 'high' } }] });
  });

  it('never returns secrets: literal ones read as ***, references as the reference', async () => {
    await client.createAlertChannel({
      name: 'secret-hook',
      type: 'webhook',
      url: 'http://127.0.0.1:9/hook?token=URLSECRET',
      secret: 'LITERALSECRET',
      headers: { authorization: 'Bearer HEADERSECRET' },
    });
    await client.createAlertChannel({ name: 'secret-ref', type: 'webhook', url: 'http://127.0.0.1:9/x', secret: '${MW_TEST_HOOK_SECRET}' });
    await client.createAlertChannel({ name: 'secret-slack', type: 'slack', url: 'http://127.0.0.1:9/services/T000/B000/SLACKSECRET' });
    const all = JSON.stringify(await client.listAlertChannels());
    for (const s of ['URLSECRET', 'LITERALSECRET', 'HEADERSECRET', 'SLACKSECRET', 'from-the-environment']) expect(all).not.toContain(s);
    expect(await client.getAlertChannel('secret-hook')).toMatchObject({ secret: '***', headers: { authorization: '***' }, source: 'api' });
    expect(await client.getAlertChannel('secret-ref')).toMatchObject({ secret: '${MW_TEST_HOOK_SECRET}' });
  });

  it('refuses hosts off the allow-list, and a channel test reports the status code, never the body', async () => {
    await expect(client.createAlertChannel({ name: 'internal', type: 'webhook', url: 'http://10.0.0.7/hook' })).rejects.toThrow(/not on the alert allow-list/);
    // a reference is checked when it is used
    process.env.MW_TEST_HOOK_URL = 'http://169.254.169.254/latest/meta-data';
    await client.createAlertChannel({ name: 'via-env', type: 'webhook', url: '${MW_TEST_HOOK_URL}' });
    const refused = await client.testAlertChannel('via-env');
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/refused: host '169.254.169.254' is not on the alert allow-list/);

    await using rx = await startReceiver(() => 418);
    await client.createAlertChannel({ name: 'teapot', type: 'webhook', url: `${rx.url}/t` });
    const r = await client.testAlertChannel('teapot');
    expect(r).toEqual({ ok: false, status: 418, error: 'HTTP 418' });
    expect(JSON.stringify(r)).not.toContain('SECRET-RECEIVER-BODY');
    const h = await historyOf('teapot');
    expect(h).toMatchObject([{ channel: 'teapot', status: 418, test: true, attempt: 1 }]);
    await client.deleteAlertChannel('teapot');
    await expect(client.getAlertChannel('teapot')).rejects.toThrow(/no alert channel named 'teapot'/);
  });

  it('refuses a malformed channel naming what is wrong', async () => {
    await expect(client.createAlertChannel({ name: 'x', type: 'carrier-pigeon' })).rejects.toThrow(/type must be one of webhook, slack/);
    await expect(client.createAlertChannel({ name: 'x', type: 'webhook' })).rejects.toThrow(/channel 'x': .*url/);
    await expect(client.createAlertChannel({ name: 'x', type: 'webhook', url: 'http://127.0.0.1/', colour: 'red' })).rejects.toThrow(
      /unknown property 'colour'/,
    );
    await expect(client.createAlertChannel({ name: 'Bad Name', type: 'nats', subject: 'a.b' })).rejects.toThrow(/\/name/);
  });

  it('the CLI creates, lists, tests and deletes channels and shows the history', async () => {
    await using rx = await startReceiver((n) => (n === 0 ? 500 : 200));
    await using dir = await tempDir('mw-alert-cli-');
    const file = join(dir.path, 'ops.json');
    writeFileSync(file, JSON.stringify({ name: 'cli-hook', type: 'webhook', url: `${rx.url}/cli`, secret: 'CLISECRET' }));
    const cli = async (...args: string[]) =>
      (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', host.apiUrl, ...args], { timeout: 60_000 })).stdout;
    const cliFails = (...args: string[]) => run(process.execPath, ['--no-node-snapshot', CLI, '--host', host.apiUrl, ...args], { timeout: 60_000 });
    expect(await cli('alert', 'channel', 'create', '--file', file)).toContain("alert channel 'cli-hook' (webhook) created");
    expect(await cli('alert', 'channel', 'create', '--file', file, '--replace')).toContain("alert channel 'cli-hook' (webhook) saved");
    const list = await cli('alert', 'channel', 'list');
    expect(list).toContain('cli-hook');
    expect(list).not.toContain('CLISECRET');
    // the first request fails (500): the test says so and exits 1, without the receiver's body
    const failed = await cliFails('alert', 'channel', 'test', 'cli-hook').then(
      () => undefined,
      (err: { code: number; stdout: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toBe('failed: HTTP 500\n');
    expect(await cli('alert', 'channel', 'test', 'cli-hook')).toBe('ok (200)\n');
    const history = JSON.parse(await cli('alert', 'history', '--channel', 'cli-hook', '--limit', '10', '--json')) as Array<{ status: number }>;
    expect(history.map((a) => a.status)).toEqual([500, 200]);
    const { key } = await client.sendTestNotification({ channels: ['cli-hook'] });
    await waitFor('the delivery', () => (deliveredKeys(rx.requests).includes(key) ? true : undefined));
    await waitFor('its attempt recorded', async () => ((await client.alertHistory({ key })).length ? true : undefined));
    expect(await cli('alert', 'history', '--key', key)).toContain(key);
    expect(await cli('alert', 'channel', 'delete', 'cli-hook')).toContain("alert channel 'cli-hook' deleted");
  });
});
