/**
 * API authentication (issue #10): bearer tokens with scopes, deny by default, the bootstrap admin
 * token, `--insecure-local`, and the audit log. One host for the file; the bootstrap and
 * `--insecure-local` need hosts of their own (on a NATS server of their own: tokens live in NATS).
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Streams, type AuditEntry } from '@modelwatch/protocol';
import type { CreateTokenReply, TokenInfo } from '../../host/src/api/contract.js';
import { ModelwatchClient } from '../../host/src/client/client.js';
import { createHost } from '../../host/src/host.js';
import { createLogger } from '../../host/src/logger.js';
import { READ_ONCE_CONSUMER_IDLE_MS } from '../../host/src/nats/topology.js';
import { bundlePlugin } from '../../host/src/plugins/bundle.js';
import { authHeaders, publishDir, startTestHost, TEST_TOKEN } from '../helpers/host.js';
import { startTestNats } from '../helpers/nats.js';
import { CLI } from '../helpers/processes.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

const run = promisify(execFile);
const ROW_COUNT = new URL('../fixtures/plugins/row-count', import.meta.url).pathname;
const TUNABLE = new URL('../fixtures/plugins/tunable', import.meta.url).pathname;

describe('API authentication', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let url: string;
  /** The admin's client (the test token). */
  let admin: ModelwatchClient;
  const cli = async (...args: string[]) => (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', url, ...args], { timeout: 60_000 })).stdout;

  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 300, runners: 1 });
    url = env.host.apiUrl;
    admin = env.client;
    await publishDir(admin, ROW_COUNT);
    await admin.createEndpoint({ name: 'churn', featureNames: ['x'] });
    await admin.createEndpoint({ name: 'fraud-eu', featureNames: ['x'] });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const call = async (method: string, path: string, opts: { token?: string; body?: unknown } = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(opts.token !== undefined && { authorization: `Bearer ${opts.token}` }),
        ...(opts.body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as { error?: { code: string; message: string } }, headers: res.headers };
  };

  /** The state the refused changes would have touched. */
  const state = async () => ({
    plugins: (await admin.listPlugins()).map((p) => [p.name, p.status, p.activeVersion]),
    monitoring: (await admin.monitoring()).enabled,
  });

  /** Publish a plugin, turn monitoring off, remove a plugin, disable a plugin: the changes an attacker would want. */
  const attacks = async (token: string | undefined) => {
    const tunable = await bundlePlugin(TUNABLE);
    const asks: Array<[string, string, unknown?]> = [
      ['POST', '/api/v1/plugins', { manifest: tunable.manifest, code: tunable.code, map: tunable.map }],
      ['PUT', '/api/v1/monitoring', { enabled: false }],
      ['POST', '/api/v1/plugins/row-count/disable', {}],
      ['DELETE', '/api/v1/plugins/row-count'],
    ];
    const out = [];
    for (const [method, path, body] of asks) out.push(await call(method, path, { ...(token !== undefined && { token }), ...(body !== undefined && { body }) }));
    return out;
  };

  it('without a token, or with an unknown one: 401 UNAUTHENTICATED with WWW-Authenticate, and nothing changes', async () => {
    const before = await state();
    expect(before).toEqual({ plugins: [['row-count', 'active', '1.0.0']], monitoring: true });
    for (const token of [undefined, 'mw_not-a-token-anyone-made-0000000000000000000']) {
      for (const r of await attacks(token)) {
        expect(r.status).toBe(401);
        expect(r.body.error!.code).toBe('UNAUTHENTICATED');
        expect(r.headers.get('www-authenticate')).toBe('Bearer realm="modelwatch"');
      }
      const read = await call('GET', '/api/v1/endpoints', token === undefined ? {} : { token });
      expect([read.status, read.body.error!.code]).toEqual([401, 'UNAUTHENTICATED']);
    }
    expect(await state()).toEqual(before);
    // the probes need none
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect([200, 503]).toContain((await call('GET', '/readyz')).status);
  });

  it('a token without the scope: 403 FORBIDDEN naming the scope, and nothing changes; a read token reads', async () => {
    const reader = await admin.createToken({ name: 'reader', scopes: ['read'] });
    expect(reader.token).toMatch(/^mw_[A-Za-z0-9_-]{43}$/);
    const before = await state();
    for (const r of await attacks(reader.token)) {
      expect(r.status).toBe(403);
      expect(r.body.error!.code).toBe('FORBIDDEN');
      expect(r.body.error!.message).toMatch(/^token 'reader' has no '(admin|write)' scope/);
    }
    expect(await state()).toEqual(before);
    const asReader = new ModelwatchClient({ url, token: reader.token });
    expect((await asReader.listEndpoints()).map((e) => e.name)).toEqual(['churn', 'fraud-eu']);
    await expect(asReader.sendEvents('churn', { inputs: [[1]] })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(asReader.listTokens()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // write may change endpoints, not the plugin lifecycle
    const writer = new ModelwatchClient({ url, token: (await admin.createToken({ name: 'writer', scopes: ['write'] })).token });
    await writer.createEndpoint({ name: 'made-by-writer', featureNames: ['x'] });
    await expect(writer.disablePlugin('row-count')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await state()).toEqual(before);
  });

  it('an ingest token limited to a glob posts to the endpoints it matches, and gets a 403 naming any other', async () => {
    const ingest = await admin.createToken({ name: 'fraud-sender', scopes: ['ingest'], endpoints: 'fraud-*' });
    const sender = new ModelwatchClient({ url, token: ingest.token });
    expect(await sender.sendEvents('fraud-eu', { inputs: [[1]] })).toMatchObject({ accepted: 1 });
    await expect(sender.sendEvents('churn', { inputs: [[1]] })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: "token 'fraud-sender' may post to endpoints matching 'fraud-*', not to 'churn'",
    });
    await expect(sender.sendLabels('churn', { requestId: 'r', label: 1 })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(sender.listEndpoints()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // --endpoints limits ingest only: refused with other scopes
    await expect(admin.createToken({ name: 'odd', scopes: ['write', 'ingest'], endpoints: 'x*' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('globs that backtracked in matchesGlob are answered, and the host stays up; a glob that is not one is refused naming its field', async () => {
    const long = 'a'.repeat(100);
    await admin.createEndpoint({ name: long, featureNames: ['x'] });
    const token = (await admin.createToken({ name: 'glob-reader', scopes: ['read'] })).token;
    const names = async (glob: string) => {
      const r = await call('GET', `/api/v1/endpoints?name=${encodeURIComponent(glob)}`, { token });
      expect(r.status).toBe(200);
      return (r.body as unknown as { endpoints: Array<{ name: string }> }).endpoints.map((e) => e.name);
    };
    // the probe's globs: 8 s, and a host that had to be killed
    expect(await names('*a*a*a*a*ab')).toEqual([]);
    expect(await names('*a'.repeat(10) + 'b')).toEqual([]);
    expect(await names('*a'.repeat(10))).toEqual([long]);
    expect(await names('{*a,*c}'.repeat(35) + 'b')).toEqual([]);
    expect(await names('{churn,fraud}-*')).toEqual(['fraud-eu']);
    expect((await call('GET', '/healthz')).status).toBe(200);
    // an ingest token's glob is matched on every post
    const sender = new ModelwatchClient({
      url,
      token: (await admin.createToken({ name: 'glob-sender', scopes: ['ingest'], endpoints: '*a'.repeat(60) + 'b' })).token,
    });
    await expect(sender.sendEvents(long, { inputs: [[1]] })).rejects.toMatchObject({ code: 'FORBIDDEN' });

    for (const [glob, message] of [
      ['fraud.*', 'name: "fraud.*" is not a valid glob: "." at 6 is not allowed'],
      ['x*'.repeat(129), 'name: a glob is at most 256 characters, this one has 258'],
    ] as const) {
      const r = await call('GET', `/api/v1/endpoints?name=${encodeURIComponent(glob)}`, { token });
      expect([r.status, r.body.error!.code]).toEqual([400, 'INVALID_ARGUMENT']);
      expect(r.body.error!.message).toContain(message);
    }
    await expect(admin.createToken({ name: 'bad-glob', scopes: ['ingest'], endpoints: 'fraud-[' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining(`endpoints: "fraud-[" is not a valid glob: '[' at 7 is never closed`),
    });
    await expect(admin.createSilence({ endpoint: '{fraud}', duration: '1h' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining(`endpoint: "{fraud}" is not a valid glob: '{' at 1 has one alternative`),
    });
    await expect(admin.putAlertRule({ name: 'bad-glob', when: { status: 'detected' }, results: { app: 'row count' } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('results.app: "row count" is not a valid glob: " " at 4 is not allowed'),
    });
    expect(await admin.listTokens()).not.toContainEqual(expect.objectContaining({ name: 'bad-glob' }));
    expect(await admin.listSilences()).toEqual([]);
    await admin.deleteEndpoint(long);
  });

  it('the CLI: token create (printed once), token list (never a token or hash), --token, token revoke (refused at once)', async () => {
    const created = await cli('token', 'create', '--name', 'ci', '--scopes', 'ingest,read', '--endpoints', 'fraud-*');
    const token = created.trim();
    expect(token).toMatch(/^mw_[A-Za-z0-9_-]{43}$/);
    const listed = JSON.parse(await cli('token', 'list', '--json')) as TokenInfo[];
    expect(listed.find((t) => t.name === 'ci')).toMatchObject({ name: 'ci', scopes: ['ingest', 'read'], endpoints: 'fraud-*', createdBy: 'admin' });
    const table = await cli('token', 'list');
    expect(table).toMatch(/ci .*ingest,read .*fraud-\*/);
    const raw = JSON.stringify(await call('GET', '/api/v1/tokens', { token: TEST_TOKEN }));
    expect(raw).not.toContain(token);
    expect(raw).not.toMatch(/"hash"|[0-9a-f]{64}/);
    // --token wins over MODELWATCH_TOKEN
    expect(JSON.parse(await cli('endpoint', 'list', '--json', '--token', token)).map((e: { name: string }) => e.name)).toContain('churn');
    await expect(cli('plugin', 'disable', 'row-count', '--token', token)).rejects.toMatchObject({ stderr: expect.stringMatching(/FORBIDDEN/) });
    expect(await cli('token', 'revoke', 'ci')).toBe("token 'ci' revoked\n");
    const after = await call('GET', '/api/v1/endpoints', { token });
    expect([after.status, after.body.error!.code]).toEqual([401, 'UNAUTHENTICATED']);
    await expect(admin.revokeToken('ci')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(admin.createToken({ name: 'reader', scopes: ['read'] })).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('the audit log records every change asked for, allowed or refused, with the token name; GET /audit and modelwatch audit (admin)', async () => {
    const t0 = Date.now();
    await admin.setEndpointMonitoring('churn', false);
    await call('PUT', '/api/v1/monitoring', { body: { enabled: false } });
    // an entry's time is taken once its response is sent, so the previous test's last change can be
    // stamped in the millisecond this test starts: this test's entries are told by their targets
    const mine = new Set(['/api/v1/endpoints/churn', '/api/v1/monitoring']);
    const entries = await waitFor('the audit entries', async () => {
      const es = (await admin.audit({ since: new Date(t0).toISOString() })).filter((e) => e.at >= t0 && mine.has(e.target));
      return es.length >= 2 ? es : undefined;
    });
    expect(entries.map((e) => [e.token, e.method, e.route, e.target, e.status])).toEqual([
      ['admin', 'PATCH', '/api/v1/endpoints/:name', '/api/v1/endpoints/churn', 200],
      [null, 'PUT', '/api/v1/monitoring', '/api/v1/monitoring', 401],
    ]);
    // what the earlier tests did is there too, with the names of their tokens
    const all = JSON.parse(await cli('audit', '--since', '1h', '--limit', '1000', '--json')) as AuditEntry[];
    expect(all.some((e) => e.token === 'reader' && e.route === '/api/v1/plugins' && e.status === 403)).toBe(true);
    expect(all.some((e) => e.token === 'admin' && e.route === '/api/v1/tokens/:name' && e.target === '/api/v1/tokens/ci' && e.status === 200)).toBe(true);
    expect(all.some((e) => e.token === 'writer' && e.method === 'POST' && e.target === '/api/v1/endpoints' && e.status === 201)).toBe(true);
    // posting events is data, not a change of state: not audited
    expect(all.some((e) => e.route.endsWith('/events'))).toBe(false);
    const newest = await admin.audit({ limit: 1 });
    expect(newest).toHaveLength(1);
    // times a JavaScript Date holds but nats-server does not read: from the first entry, and none
    expect((await admin.audit({ since: '-100000000000000', limit: 1 })).length).toBe(1);
    expect(await admin.audit({ since: '8000000000000000' })).toEqual([]);
    // each read made a consumer, which the server removes soon after (not nats.js's 5 minutes)
    const nc = await connect({ servers: nats.url });
    try {
      const consumers = [];
      for await (const c of (await jetstreamManager(nc)).consumers.list(Streams.audit)) consumers.push(c);
      expect(consumers.length).toBeGreaterThan(0);
      for (const c of consumers) expect(c.config.inactive_threshold).toBe(READ_ONCE_CONSUMER_IDLE_MS * 1e6);
    } finally {
      await nc.close();
    }
    expect(await cli('audit', '--limit', '5')).toMatch(/PATCH .*\/api\/v1\/endpoints\/churn .*200/);
    const reader = (await call('GET', '/api/v1/audit', { token: (await admin.createToken({ name: 'peeker', scopes: ['read', 'write', 'ingest'] })).token }))
      .status;
    expect(reader).toBe(403);
  });

  it('first start writes an admin token to <data-dir>/admin.token (0600), says where, and never rewrites it; the CLI reads it from --data-dir', async () => {
    await using own = await startTestNats();
    await using dir = await tempDir('mw-auth-');
    const logs: string[] = [];
    const sink = { write: (line: string) => logs.push(line) } as unknown as NodeJS.WritableStream;
    const start = async () => {
      const h = createHost({ natsUrl: own.url, dataDir: dir.path, httpPort: 0, runners: 0, components: ['api'], logLevel: 'info' }, createLogger('info', sink));
      await h.start();
      return h;
    };
    const first = await start();
    const file = join(dir.path, 'admin.token');
    const token = readFileSync(file, 'utf8').trim();
    expect(token).toMatch(/^mw_[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(logs.join('')).toContain(file);
    expect(logs.join('')).not.toContain(token);
    expect((await new ModelwatchClient({ url: first.apiUrl, token }).listTokens()).map((t) => t.name)).toEqual(['admin']);
    await first.stop();
    const mtime = statSync(file).mtimeMs;
    const second = await start();
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
    expect(statSync(file).mtimeMs).toBe(mtime);
    // the CLI without a token of its own reads it from the data folder
    const out = await run(process.execPath, ['--no-node-snapshot', CLI, '--host', second.apiUrl, '--data-dir', dir.path, 'token', 'list', '--json'], {
      env: { ...process.env, MODELWATCH_TOKEN: '' },
    });
    expect((JSON.parse(out.stdout) as TokenInfo[]).map((t) => t.name)).toEqual(['admin']);
    // and the test's token means nothing to this host
    await expect(new ModelwatchClient({ url: second.apiUrl, token: TEST_TOKEN }).listTokens()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await second.stop();
  });

  it('--insecure-local: no token needed on loopback, with a warning; refused at start on 0.0.0.0', async () => {
    expect(() => createHost({ insecureLocal: true, httpHost: '0.0.0.0' })).toThrow(/--insecure-local .* only on a loopback address .*not on '0\.0\.0\.0'/);
    const refused = await run(process.execPath, [
      '--no-node-snapshot',
      CLI,
      'host',
      'start',
      '--insecure-local',
      '--http-host',
      '0.0.0.0',
      '--nats',
      nats.url,
    ]).catch((err: { code: number; stderr: string }) => err);
    expect(refused).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error \[INVALID_OPTIONS\]: insecure local: --insecure-local serves the API without authentication/),
    });

    await using own = await startTestNats();
    await using dir = await tempDir('mw-insecure-');
    const logs: string[] = [];
    const sink = { write: (line: string) => logs.push(line) } as unknown as NodeJS.WritableStream;
    const h = createHost(
      { natsUrl: own.url, dataDir: dir.path, httpPort: 0, runners: 0, components: ['api'], insecureLocal: true, logLevel: 'warn' },
      createLogger('warn', sink),
    );
    await h.start();
    try {
      const open = new ModelwatchClient({ url: h.apiUrl });
      await open.createEndpoint({ name: 'local', featureNames: ['x'] });
      expect((await open.listEndpoints()).map((e) => e.name)).toEqual(['local']);
      expect(logs.join('')).toMatch(/"level":40.*insecure-local/);
      const entry = await waitFor('the audit entry', async () => (await open.audit()).find((e) => e.target === '/api/v1/endpoints'));
      expect(entry.token).toBe('insecure-local');
    } finally {
      await h.stop();
    }
  });

  it('a token is usable at once after it is created, and requests carry it through the client', async () => {
    const t: CreateTokenReply = await admin.createToken({ name: 'fresh', scopes: ['read'] });
    expect((await call('GET', '/api/v1/health', { token: t.token })).status).toBe(200);
    expect((await fetch(`${url}/api/v1/health`, { headers: authHeaders() })).status).toBe(200);
  });
});
