import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { BROWSER_HOOK_TIMEOUT_MS, launchChromium } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PluginRecord } from '@modelwatch/protocol';
import { freePort } from '../../host/src/nats/server.js';
import { bundlePlugin } from '../../host/src/plugins/bundle.js';
import { HISTOGRAM_PLUGIN, REPO, TEST_TOKEN } from '../helpers/host.js';
import { CLI, testHostArgs } from '../helpers/processes.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

const run = promisify(execFile);
const PLUGIN = 'histogram-data-drift';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json<T = { error?: { code: string; message: string } }>(): T;
}

/**
 * The host's HTTP API as the network and browsers meet it: served over HTTPS (a self-signed
 * certificate), a `Host` it does not know refused (DNS rebinding), no state changed by a request a
 * page on another site can send without asking (simple content types, no body, a foreign `Origin`),
 * CORS for its allow-list only, security headers, a rate limit per client. One host (the CLI's
 * `host start`) for the file; requests by node:https, so that a test can name any `Host` and
 * source address; and a real Chromium on a page of another origin.
 */
describe('the HTTP API faced by browsers and the network', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: ChildProcess | undefined;
  let log = '';
  let port: number;
  let url: string;
  let certFile: string;
  let cert: Buffer;
  /** A page of another site (the attacker's), and a dashboard whose origin is in --cors-origins. */
  let attackerPort: number;
  let friendPort: number;

  /** A request to the host, with any Host header, headers, body and source address. */
  const call = (method: string, path: string, opts: { headers?: Record<string, string>; body?: string; localAddress?: string } = {}) =>
    new Promise<Answer>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          ca: cert,
          servername: 'localhost',
          agent: false,
          ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
          headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${TEST_TOKEN}`, ...opts.headers },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, json: <T>() => JSON.parse(text) as T }));
        },
      );
      req.on('error', reject);
      req.end(opts.body);
    });
  const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const plugin = async () => (await call('GET', `/api/v1/plugins/${PLUGIN}`)).json<PluginRecord>();
  const cli = (args: string[], env: Record<string, string> = { NODE_EXTRA_CA_CERTS: certFile }) =>
    run(process.execPath, ['--no-node-snapshot', CLI, '--host', url, ...args], { timeout: 60_000, env: { ...process.env, ...env } });

  beforeAll(async () => {
    dir = await tempDir('mw-web-');
    certFile = join(dir.path, 'cert.pem');
    const keyFile = join(dir.path, 'key.pem');
    // a self-signed certificate for the loopback names: the CA file the CLI is given too
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ]);
    cert = await readFile(certFile);
    [port, attackerPort, friendPort] = [await freePort(), await freePort(), await freePort()];
    url = `https://127.0.0.1:${port}`;
    host = spawn(
      process.execPath,
      [
        '--no-node-snapshot',
        CLI,
        'host',
        'start',
        '--http-port',
        String(port),
        '--tls-cert',
        certFile,
        '--tls-key',
        keyFile,
        '--allowed-hosts',
        'monitor.test',
        '--cors-origins',
        `http://127.0.0.1:${friendPort}`,
        '--rate-limit',
        '100/min',
        ...testHostArgs(join(dir.path, 'data')),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MODELWATCH_ADMIN_TOKEN: TEST_TOKEN } },
    );
    host.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    host.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitFor(
      'the host to answer over HTTPS',
      async () => {
        if (host!.exitCode !== null) throw new Error(`the host exited with ${host!.exitCode}: ${log.slice(-2000)}`);
        return (await call('GET', '/readyz').catch(() => undefined))?.status === 200 ? true : undefined;
      },
      60_000,
      50,
    ).catch((err: unknown) => {
      // what the host said, when it never became ready (a fresh clone's run timed out here once)
      throw new Error(`${(err as Error).message}; the host's last output:\n${log.slice(-4000)}`);
    });
    // two versions, so that a rollback would change something
    const bundle = await bundlePlugin(HISTOGRAM_PLUGIN);
    for (const version of ['1.0.0', '1.0.1']) {
      const res = await call('POST', '/api/v1/plugins', json({ manifest: { ...bundle.manifest, version }, code: bundle.code, map: bundle.map }));
      expect(res.status, res.text).toBe(201);
    }
    // above the host's own 60 s wait, so a host that never gets ready fails with its output
  }, 120_000);
  afterAll(async () => {
    if (host && host.exitCode === null) {
      const exited = new Promise((r) => host!.once('exit', r));
      host.kill('SIGTERM');
      await exited;
    }
    await dir?.[Symbol.asyncDispose]();
  });

  it('refuses a Host it does not answer for (421), reads and publishes alike; /healthz and /readyz answer any Host', async () => {
    const bundle = await bundlePlugin(HISTOGRAM_PLUGIN);
    const publish = json({ manifest: { ...bundle.manifest, version: '6.6.6' }, code: bundle.code, map: bundle.map });
    for (const name of ['attacker.example', `attacker.example:${port}`, `127.0.0.1:${port + 1}`, `localhost.attacker.example:${port}`]) {
      const read = await call('GET', '/api/v1/plugins', { headers: { host: name } });
      expect(read.status).toBe(421);
      expect(read.json().error).toEqual({ code: 'HOST_NOT_ALLOWED', message: expect.stringContaining(`Host '${name}' is not one this API answers for`) });
      expect(read.text).not.toContain(PLUGIN);
      const write = await call('POST', '/api/v1/plugins', { ...publish, headers: { ...publish.headers, host: name } });
      expect(write.status).toBe(421);
    }
    expect((await plugin()).versions.map((v) => v.version)).not.toContain('6.6.6');
    for (const probe of ['/healthz', '/readyz']) expect((await call('GET', probe, { headers: { host: 'attacker.example' } })).status).toBe(200);
    // its own names on its port, and --allowed-hosts (a name without a port: any port, or none behind a proxy)
    for (const name of [`localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`, 'monitor.test', 'monitor.test:8443']) {
      expect((await call('GET', '/api/v1/plugins', { headers: { host: name } })).status, name).toBe(200);
    }
  });

  it('refuses state changes a page on any site may send without asking: text/plain, forms, no body (415), and changes nothing', async () => {
    const before = await plugin();
    expect(before).toMatchObject({ status: 'active', activeVersion: '1.0.1' });
    const simple: Array<[string, Record<string, string>, string | undefined]> = [
      ['text/plain', { 'content-type': 'text/plain;charset=UTF-8' }, '{"to":"1.0.0"}'],
      ['a form', { 'content-type': 'application/x-www-form-urlencoded' }, 'to=1.0.0'],
      ['a multipart form', { 'content-type': 'multipart/form-data; boundary=x' }, '--x\r\nContent-Disposition: form-data; name="to"\r\n\r\n1.0.0\r\n--x--\r\n'],
      ['two types, the last one simple', { 'content-type': 'application/json, text/plain' }, '{"to":"1.0.0"}'],
      ['no body', {}, undefined],
    ];
    for (const path of [`/api/v1/plugins/${PLUGIN}/disable`, `/api/v1/plugins/${PLUGIN}/rollback`, '/api/v1/dlq/replay']) {
      for (const [what, headers, body] of simple) {
        const res = await call('POST', path, { headers, ...(body === undefined ? {} : { body }) });
        expect(res.status, `${what} to ${path}: ${res.text}`).toBe(415);
        expect(res.json().error).toMatchObject({ code: 'UNSAFE_CONTENT_TYPE', message: expect.stringMatching(/^POST \/api\/v1\/\S+: .*application\/json/) });
      }
    }
    const after = await plugin();
    expect({ status: after.status, activeVersion: after.activeVersion }).toEqual({ status: 'active', activeVersion: '1.0.1' });
    // the same actions as the CLI sends them: a JSON body ({} when there is nothing to say)
    expect((await call('POST', `/api/v1/plugins/${PLUGIN}/disable`, json({}))).json<PluginRecord>().status).toBe('disabled');
    expect((await call('POST', `/api/v1/plugins/${PLUGIN}/enable`, json({}))).json<PluginRecord>().status).toBe('active');
    expect((await call('POST', '/api/v1/dlq/replay', json({ endpoint: 'none-here' }))).status).toBe(200);
    // text/csv is no simple type: the reference upload keeps it (here: an endpoint it does not know)
    expect((await call('PUT', '/api/v1/endpoints/no-such/reference', { headers: { 'content-type': 'text/csv' }, body: 'a\n1\n' })).json().error?.code).toBe(
      'NOT_FOUND',
    );
  });

  it('refuses a state change from an Origin that is not its own or allow-listed (403)', async () => {
    for (const origin of [`http://127.0.0.1:${attackerPort}`, 'null', 'https://attacker.example', `http://127.0.0.1:${port}.attacker.example`]) {
      const res = await call('POST', `/api/v1/plugins/${PLUGIN}/disable`, { ...json({}), headers: { 'content-type': 'application/json', origin } });
      expect(res.status, origin).toBe(403);
      expect(res.json().error).toEqual({ code: 'ORIGIN_NOT_ALLOWED', message: expect.stringContaining(`Origin '${origin}' may not change state`) });
    }
    expect((await plugin()).status).toBe('active');
    // its own origin (a future /ui) and the allow-listed dashboard
    for (const [origin, action, status] of [
      [url, 'disable', 'disabled'],
      [`http://127.0.0.1:${friendPort}`, 'enable', 'active'],
    ] as const) {
      const res = await call('POST', `/api/v1/plugins/${PLUGIN}/${action}`, { ...json({}), headers: { 'content-type': 'application/json', origin } });
      expect(res.json<PluginRecord>().status, origin).toBe(status);
    }
  });

  it('answers CORS only for the allow-listed origins', async () => {
    const friend = `http://127.0.0.1:${friendPort}`;
    const preflight = (origin: string) =>
      call('OPTIONS', `/api/v1/plugins/${PLUGIN}/disable`, {
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
    const ok = await preflight(friend);
    expect(ok.status).toBe(204);
    expect(ok.headers).toMatchObject({ 'access-control-allow-origin': friend, 'access-control-allow-methods': expect.stringContaining('POST') });
    const other = await preflight(`http://127.0.0.1:${attackerPort}`);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect((await call('GET', '/api/v1/plugins', { headers: { origin: friend } })).headers['access-control-allow-origin']).toBe(friend);
    expect((await call('GET', '/api/v1/plugins', { headers: { origin: 'https://attacker.example' } })).headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sends security headers (helmet), refusals too', async () => {
    for (const res of [await call('GET', '/api/v1/health'), await call('GET', '/api/v1/health', { headers: { host: 'attacker.example' } })]) {
      expect(res.headers['content-security-policy']).toBe(
        "default-src 'self';script-src 'self';style-src 'self';img-src 'self' data:;font-src 'self';connect-src 'self';object-src 'none';base-uri 'self';form-action 'self';frame-ancestors 'none'",
      );
      expect(res.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'strict-transport-security': 'max-age=31536000; includeSubDomains',
        'cross-origin-opener-policy': 'same-origin',
        'referrer-policy': 'no-referrer',
      });
    }
  });

  it('limits each client to --rate-limit requests (429 with Retry-After); probes and ingest are not counted', async () => {
    // a client of its own (its own token, from another source address), whose count the other tests do not touch
    const created = await call('POST', '/api/v1/tokens', json({ name: 'rate-limited', scopes: ['read', 'ingest'] }));
    expect(created.status).toBe(201);
    const from = { localAddress: '127.0.0.2', headers: { authorization: `Bearer ${created.json<{ token: string }>().token}` } };
    const first = await Promise.all(Array.from({ length: 100 }, () => call('GET', '/api/v1/health', from)));
    expect(first.map((r) => r.status)).toEqual(Array.from({ length: 100 }, () => 200));
    const limited = await call('GET', '/api/v1/health', from);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json().error).toEqual({
      code: 'RATE_LIMITED',
      message: expect.stringMatching(/^rate limit: more than 100 requests in 60 s from this client; try again in /),
    });
    // the routes of the API's own Fastify plugins too
    expect((await call('GET', '/api/v1/dlq', from)).status).toBe(429);
    expect((await call('GET', '/healthz', from)).status).toBe(200);
    expect(
      (
        await call('POST', '/api/v1/endpoints/no-such/events', {
          ...from,
          headers: { ...json({}).headers, ...from.headers },
          body: JSON.stringify({ inputs: [[1]] }),
        })
      ).status,
    ).toBe(404);
    // another client is not limited by it
    expect((await call('GET', '/api/v1/health')).status).toBe(200);
  });

  it('serves the CLI over HTTPS when it trusts the certificate (NODE_EXTRA_CA_CERTS), and the CLI sends what state changes need', async () => {
    await expect(cli(['plugin', 'list'], {})).rejects.toMatchObject({ stderr: expect.stringMatching(/cannot reach the modelwatch host at https:.*CERT/) });
    expect(JSON.parse((await cli(['plugin', 'disable', PLUGIN, '--json'])).stdout)).toMatchObject({ name: PLUGIN, status: 'disabled' });
    expect(JSON.parse((await cli(['plugin', 'enable', PLUGIN, '--json'])).stdout)).toMatchObject({ name: PLUGIN, status: 'active' });
    expect(log).toContain(`API https://127.0.0.1:${port}`);
  });

  it('takes events from the Python client over HTTPS when it trusts the certificate (SSL_CERT_FILE)', async () => {
    expect((await call('POST', '/api/v1/endpoints', json({ name: 'web-py', featureNames: ['a', 'b'], labelNames: ['y'] }))).status).toBe(201);
    const { stdout } = await run(
      'python3',
      [join(REPO, 'test/fixtures/python/send_windows.py'), '--url', url, '--endpoint', 'web-py', '--seconds', '0.3', '--every', '0.01'],
      { timeout: 60_000, env: { ...process.env, PYTHONPATH: join(REPO, 'clients/python'), SSL_CERT_FILE: certFile } },
    );
    const report = JSON.parse(stdout) as { stats: { tracked: number; delivered: number }; errors: string[] };
    expect(report.errors).toEqual([]);
    expect(report.stats.delivered).toBe(report.stats.tracked);
    expect(report.stats.tracked).toBeGreaterThan(0);
  });

  describe('in Chromium, a page of another site', () => {
    let browser: Browser;
    let pages: Server[] = [];
    const target = () => `${url}/api/v1/plugins/${PLUGIN}`;
    const attackPage = () => `<!doctype html><title>cute cats</title>
<form id="f" method="POST" action="${target()}/disable" enctype="text/plain"><input name='{"x":"' value='"}'></form>`;
    const autoSubmitPage = () => `<!doctype html><form method="POST" action="${target()}/rollback"><input name="to" value="1.0.0"></form>
<script>document.forms[0].submit()</script>`;

    beforeAll(async () => {
      const serve = (p: number) =>
        new Promise<Server>((resolve) => {
          const s = createServer((req, res) => {
            res.setHeader('content-type', 'text/html');
            res.end(req.url === '/auto' ? autoSubmitPage() : attackPage());
          });
          s.listen(p, '127.0.0.1', () => resolve(s));
        });
      pages = [await serve(attackerPort), await serve(friendPort)];
      browser = await launchChromium();
    }, BROWSER_HOOK_TIMEOUT_MS);
    afterAll(async () => {
      await browser?.close();
      for (const s of pages) await new Promise((r) => s.close(r));
    });

    it('cannot change state with fetch() (text/plain, a form body, no-cors, no body) nor with a form, and the host refused each', async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      // what the host answered, as Chromium's network layer saw it (a page cannot read a refused CORS answer)
      const answered: Array<[string, number]> = [];
      const watch = async (p: Page) => {
        const cdp = await context.newCDPSession(p);
        // an ExtraInfo event may come before or after its request's event (CDP): joined by request id, whichever is second
        const sent = new Map<string, string>();
        const statuses = new Map<string, number>();
        const join = (id: string) => {
          const what = sent.get(id);
          const status = statuses.get(id);
          if (what === undefined || status === undefined) return;
          sent.delete(id);
          statuses.delete(id);
          if (what.includes(url)) answered.push([what, status]);
        };
        cdp.on('Network.requestWillBeSent', (e) => {
          sent.set(e.requestId, `${e.request.method} ${e.request.url}`);
          join(e.requestId);
        });
        cdp.on('Network.responseReceivedExtraInfo', (e) => {
          statuses.set(e.requestId, e.statusCode);
          join(e.requestId);
        });
        await cdp.send('Network.enable');
      };
      await watch(page);
      await page.goto(`http://127.0.0.1:${attackerPort}/`);
      const outcomes = await page.evaluate(async (base: string) => {
        const tries: Array<[string, RequestInit]> = [
          ['disable', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }],
          ['disable', { method: 'POST', body: new URLSearchParams({ x: '1' }) }],
          ['disable', { method: 'POST', mode: 'no-cors' }],
          ['rollback', { method: 'POST', mode: 'no-cors', body: '{"to":"1.0.0"}' }],
          ['rollback', { method: 'POST', mode: 'no-cors', credentials: 'include', body: new FormData() }],
        ];
        const out: string[] = [];
        for (const [action, init] of tries) {
          try {
            const r = await fetch(`${base}/${action}`, init);
            out.push(`${r.type} ${r.status}`);
          } catch (e) {
            out.push(`refused: ${(e as Error).name}`);
          }
        }
        return out;
      }, target());
      // no answer the page may read: a CORS error, or an opaque answer
      for (const o of outcomes) expect(o).toMatch(/^(refused: TypeError|opaque 0)$/);
      await page.evaluate(() => (globalThis as unknown as { document: { forms: Array<{ submit(): void }> } }).document.forms[0]!.submit());
      await page.waitForURL(`${target()}/disable`);
      const auto = await context.newPage();
      await watch(auto);
      await auto.goto(`http://127.0.0.1:${attackerPort}/auto`);
      await auto.waitForURL(`${target()}/rollback`);
      // every request reached the host, which refused it: a foreign Origin (403) or a simple content type (415)
      const posts = await waitFor(
        'Chromium to see the answers to its 7 requests',
        () => {
          const p = answered.filter(([what]) => what.startsWith('POST'));
          return p.length >= 7 ? p : undefined;
        },
        10_000,
        20,
      );
      await context.close();
      expect(posts.map(([what]) => what.replace(url, '')).sort()).toEqual(
        [...['disable', 'disable', 'disable', 'rollback', 'rollback', 'disable', 'rollback'].map((a) => `POST /api/v1/plugins/${PLUGIN}/${a}`)].sort(),
      );
      for (const [what, status] of posts) expect([403, 415], what).toContain(status);
      const after = await plugin();
      expect({ status: after.status, activeVersion: after.activeVersion }).toEqual({ status: 'active', activeVersion: '1.0.1' });
    });

    it('the allow-listed dashboard reads and changes state with JSON (so the browser did reach the host)', async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${friendPort}/`);
      const statuses = await page.evaluate(
        async ([base, authorization]: [string, string]) => {
          const post = async (action: string) =>
            (
              (await (
                await fetch(`${base}/${action}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: '{}' })
              ).json()) as {
                status: string;
              }
            ).status;
          const read = ((await (await fetch(base, { headers: { authorization } })).json()) as { status: string }).status;
          return [read, await post('disable'), await post('enable')];
        },
        [target(), `Bearer ${TEST_TOKEN}`] as [string, string],
      );
      await context.close();
      expect(statuses).toEqual(['active', 'disabled', 'active']);
    });
  });
});
