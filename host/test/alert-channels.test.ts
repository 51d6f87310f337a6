import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backoffMs, redactChannel, resolveEnv, routeMatches, sampleNotification, signBody, validateChannel } from '../src/alerts/notify/index.js';
import { allowListed, destinationRefusal, isInternalAddress } from '../src/alerts/notify/destinations.js';
import { digestKey, renderNotification } from '../src/alerts/notify/messages.js';

describe('alert channels', () => {
  it('validates channels with messages naming the channel and the field', () => {
    expect(validateChannel({ name: 'ops', type: 'webhook', url: 'https://hooks.example.com/x' })).toMatchObject({ name: 'ops' });
    expect(() => validateChannel({ name: 'ops', type: 'webhook', url: 'ftp://x' })).toThrow("channel 'ops': url must be an http(s) URL");
    expect(() => validateChannel({ name: 'ops', type: 'email', smtp: { host: 'mail' }, from: 'a@b' })).toThrow(/channel 'ops': .*to/);
    expect(() => validateChannel({ name: 'ops', type: 'slack', url: 'https://x', route: { minSeverity: 'huge' } })).toThrow(
      /\/route\/minSeverity: must be one of/,
    );
    expect(() => validateChannel([])).toThrow('a channel must be a JSON object');
  });

  it('redacts secrets and keeps ${ENV_VAR} references', () => {
    const r = redactChannel({ name: 'p', type: 'pagerduty', routingKey: 'abc' });
    expect(r).toMatchObject({ routingKey: '***' });
    expect(redactChannel({ name: 'e', type: 'email', smtp: { host: 'h', user: 'u', password: '${SMTP_PASS}' }, from: 'a', to: ['b'] })).toMatchObject({
      smtp: { password: '${SMTP_PASS}' },
    });
    expect(resolveEnv('Bearer ${TOKEN_X}', { TOKEN_X: 't' })).toBe('Bearer t');
    expect(() => resolveEnv('${NOPE_NOT_SET}', {})).toThrow('environment variable NOPE_NOT_SET (referenced as ${NOPE_NOT_SET}) is not set');
  });

  it('routes by minimum severity, severities and labels', () => {
    expect(routeMatches({ minSeverity: 'high' }, 'critical', {})).toBe(true);
    expect(routeMatches({ minSeverity: 'high' }, 'medium', {})).toBe(false);
    expect(routeMatches({ severities: ['low'] }, 'high', {})).toBe(false);
    expect(routeMatches({ labels: { team: '*' } }, 'low', { team: 'x' })).toBe(true);
    expect(routeMatches({ labels: { team: 'a' } }, 'low', { team: 'b' })).toBe(false);
  });

  it('refuses internal destinations unless allowed', async () => {
    expect(isInternalAddress('127.0.0.1')).toBe(true);
    expect(isInternalAddress('::ffff:10.1.2.3')).toBe(true);
    expect(isInternalAddress('fd00::1')).toBe(true);
    expect(isInternalAddress('8.8.8.8')).toBe(false);
    expect(await destinationRefusal('127.0.0.1', undefined)).toMatch(/internal/);
    expect(await destinationRefusal('localhost', undefined)).toMatch(/internal/);
    expect(await destinationRefusal('8.8.8.8', undefined)).toBeUndefined();
    expect(await destinationRefusal('127.0.0.1', ['127.0.0.1'])).toBeUndefined();
    expect(await destinationRefusal('hooks.slack.com', ['127.0.0.1'])).toMatch(/not on the alert allow-list/);
    expect(allowListed('a.example.com', ['*.example.com'])).toBe(true);
    expect(allowListed('example.org', ['*.example.com'])).toBe(false);
  });

  it('signs timestamp.body with HMAC-SHA256', () => {
    expect(signBody('k', '1700000000', '{}')).toBe(`sha256=${createHmac('sha256', 'k').update('1700000000.{}').digest('hex')}`);
  });

  it('backs off exponentially with jitter, bounded', () => {
    for (let a = 1; a <= 12; a++) {
      const d = backoffMs(a, 1000, 60_000);
      const full = Math.min(60_000, 1000 * 2 ** (a - 1));
      expect(d).toBeGreaterThanOrEqual(full / 2);
      expect(d).toBeLessThanOrEqual(full);
    }
  });

  it('renders templates: text unescaped, HTML escaped; digest keys do not depend on order', () => {
    const n = sampleNotification({ endpoint: 'a<b>&c' });
    const r = renderNotification(n, { title: '{{endpoint}}', text: '{{endpoint}} {{value}}', html: '<p>{{endpoint}}</p>' }, 'https://x');
    expect(r).toEqual({ title: 'a<b>&c', text: 'a<b>&c 0.71', html: '<p>a&lt;b&gt;&amp;c</p>' });
    expect(digestKey(['b', 'a'])).toBe(digestKey(['a', 'b']));
  });
});

describe('the webhook body schema file', () => {
  it('alert-webhook.schema.json is WEBHOOK_BODY_SCHEMA, and the bodies sent validate against it', async () => {
    const { readFileSync } = await import('node:fs');
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const { WEBHOOK_BODY_SCHEMA } = await import('../src/alerts/notify/index.js');
    const { webhookBody } = await import('../src/alerts/notify/messages.js');
    const file = JSON.parse(readFileSync(new URL('../../alert-webhook.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(file).toEqual(JSON.parse(JSON.stringify(WEBHOOK_BODY_SCHEMA)));
    const check = new Ajv2020({ strict: false }).compile(file as object);
    const channel = { name: 'c', type: 'webhook' as const, url: 'https://x' };
    const one = sampleNotification();
    expect(check(webhookBody({ key: one.key, notifications: [one] }, channel, 'https://mw'))).toBe(true);
    const two = [sampleNotification(), sampleNotification()];
    expect(check(webhookBody({ key: digestKey(two.map((n) => n.key)), notifications: two }, channel, undefined))).toBe(true);
  });
});
