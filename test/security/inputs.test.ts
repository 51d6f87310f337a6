/*
 * Issue #10, what comes in from outside: findings 9 (big request bodies), 11 (build-time file
 * reads) and 13 (feature names inferred from the first event), against a real host on a real
 * nats-server. The timing of /healthz under a big body is bench/big-body.mjs's, never a test's.
 */
import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects } from '@modelwatch/protocol';
import { BodyLimits } from '../../host/src/api/contract.js';
import { ModelwatchClient } from '../../host/src/client/client.js';
import { createHost, type Host } from '../../host/src/host.js';
import { createLogger } from '../../host/src/logger.js';
import { jsonCodec } from '../../host/src/nats/codec.js';
import { authHeaders, TEST_TOKEN } from '../helpers/host.js';
import { startTestNats } from '../helpers/nats.js';
import { CLI } from '../helpers/processes.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

const run = promisify(execFile);
const MAX_FEATURES = 10;

/** A plugin folder `<outer>/<name>` that reads `/etc/passwd`, `../../outside.json` and a symlink to `<outer>/linked.json`. */
async function hostilePlugin(outer: string, name: string): Promise<string> {
  await writeFile(join(outer, 'outside.json'), JSON.stringify({ secret: 'outside-secret' }));
  await writeFile(join(outer, 'linked.json'), JSON.stringify({ secret: 'linked-secret' }));
  const dir = join(outer, name);
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(
    join(dir, 'plugin.json'),
    JSON.stringify({ name, version: '1.0.0', description: 'reads files outside its folder', entry: 'src/index.ts', limits: { memoryMb: 64, timeoutMs: 5000 } }),
  );
  await writeFile(
    join(dir, 'src', 'index.ts'),
    `import { MonitoringApplication } from '@modelwatch/sdk';
import passwd from '/etc/passwd' with { type: 'text' };
import outside from '../../outside.json';
import linked from './linked.json';
export default class Reader extends MonitoringApplication {
  doTracking() {
    return [{ name: 'stolen', value: 1, kind: 4, status: 0, extraData: { passwd: String(passwd), outside, linked } }] as never;
  }
}
`,
  );
  await symlink(join(outer, 'linked.json'), join(dir, 'src', 'linked.json'));
  return dir;
}

describe('security: inputs (issue #10 findings 9, 11, 13)', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: Host;
  let client: ModelwatchClient;
  let nc: NatsConnection;
  let logs = '';
  const post = async (path: string, body: string | Uint8Array, type = 'application/json', method = 'POST') => {
    const res = await fetch(`${host.apiUrl}${path}`, { method, headers: authHeaders({ 'content-type': type }), body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
  };

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-security-inputs-');
    await mkdir(join(dir.path, 'dev'));
    await hostilePlugin(join(dir.path, 'dev'), 'dev-reader');
    const out = new PassThrough();
    out.on('data', (d: Buffer) => (logs += d.toString()));
    host = createHost(
      {
        natsUrl: nats.url,
        dataDir: join(dir.path, 'data'),
        httpPort: 0,
        runners: 0,
        components: ['stream', 'api'],
        maxFeatures: MAX_FEATURES,
        devPlugins: [join(dir.path, 'dev')],
        logLevel: 'warn',
        adminToken: TEST_TOKEN,
      },
      createLogger('warn', out),
    );
    await host.start();
    client = new ModelwatchClient({ url: host.apiUrl, token: TEST_TOKEN });
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await host?.stop();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  describe('finding 11: a plugin build reads only its own folder', () => {
    it('the CLI refuses to build a plugin importing /etc/passwd, ../../outside.json and a symlink leading outside, naming each import', async () => {
      const outer = join(dir.path, 'cli');
      await mkdir(outer);
      const plugin = await hostilePlugin(outer, 'cli-reader');
      const err = (await run(process.execPath, ['--no-node-snapshot', CLI, 'plugin', 'build', plugin]).then(
        () => undefined,
        (e: unknown) => e,
      )) as { code: number; stderr: string } | undefined;
      expect(err?.code).not.toBe(0);
      expect(err?.stderr).toContain('PLUGIN_BUILD_FAILED');
      expect(err?.stderr).toContain("import '/etc/passwd' in src/index.ts (/etc/passwd) is outside the plugin folder");
      expect(err?.stderr).toContain(`import '../../outside.json' in src/index.ts (${join(outer, 'outside.json')}) is outside the plugin folder`);
      expect(err?.stderr).toContain(`import './linked.json' in src/index.ts (${join(outer, 'linked.json')}) is outside the plugin folder`);
    });

    it('the host with --dev-plugins refuses the same plugin, and publishes nothing', async () => {
      await waitFor('the dev plugin build refused', () => (logs.includes("import '/etc/passwd' in src/index.ts") ? true : undefined));
      expect(logs).toContain("import '../../outside.json' in src/index.ts");
      expect(logs).toContain("import './linked.json' in src/index.ts");
      const plugins = await client.listPlugins();
      expect(JSON.stringify(plugins)).not.toContain('dev-reader');
    });
  });

  describe('finding 13: feature names are checked and bounded, declared or inferred', () => {
    const tooMany = Object.fromEntries(Array.from({ length: MAX_FEATURES + 1 }, (_, i) => [`c${i}`, i]));

    it('declared: more names than maxFeatures is refused naming the limit', async () => {
      const r = await post('/api/v1/endpoints', JSON.stringify({ name: 'declared-wide', featureNames: Object.keys(tooMany) }));
      expect(r.status).toBe(400);
      expect(r.body.error?.message).toBe(
        `featureNames: ${MAX_FEATURES + 1} names, over the limit of ${MAX_FEATURES} per endpoint (the host's maxFeatures, MODELWATCH_MAX_FEATURES)`,
      );
    });

    it('inferred over HTTP: a first event with too many or invalid names is refused whole, and the endpoint keeps no names', async () => {
      await client.createEndpoint({ name: 'inferred-http' });
      const wide = await post(
        '/api/v1/endpoints/inferred-http/events',
        JSON.stringify([
          { inputs: [tooMany], outputs: [1] },
          { inputs: [{ a: 1 }], outputs: [1] },
        ]),
      );
      expect(wide.status).toBe(400);
      expect(wide.body).toMatchObject({ accepted: 0 });
      expect((wide.body.rejected as Array<{ index: number }>).map((r) => r.index)).toEqual([0, 1]);
      expect((wide.body.rejected as Array<{ error: string }>)[0]!.error).toContain(
        `feature names inferred from the first event: ${MAX_FEATURES + 1} names, over the limit of ${MAX_FEATURES} per endpoint`,
      );
      const bad = await post('/api/v1/endpoints/inferred-http/events', JSON.stringify({ inputs: [{ ok: 1, 'bad\u0001name': 2 }], outputs: [1] }));
      expect(bad.status).toBe(400);
      expect((bad.body.rejected as Array<{ error: string }>)[0]!.error).toContain(
        'feature names inferred from the first event: "bad\\u0001name" is not a valid name',
      );
      const ep = await client.getEndpoint('inferred-http');
      expect(ep.featureNames).toEqual([]);
      const letters = (await client.deadLetters({ endpoint: 'inferred-http' })).letters;
      expect(letters.map((l) => l.reason.code)).toEqual(['INVALID_EVENT', 'INVALID_EVENT']);
    });

    it('inferred over NATS: the stream processor dead-letters the message and adopts no names', async () => {
      await client.createEndpoint({ name: 'inferred-nats' });
      await jetstream(nc).publish(Subjects.events('inferred-nats'), jsonCodec.encode({ inputs: [tooMany], outputs: [1] }));
      const letters = await waitFor('the message dead-lettered', async () => {
        const l = (await client.deadLetters({ endpoint: 'inferred-nats' })).letters;
        return l.length ? l : undefined;
      });
      expect(letters[0]!.reason).toMatchObject({ code: 'INVALID_EVENT' });
      expect(letters[0]!.reason.message).toContain(`over the limit of ${MAX_FEATURES} per endpoint`);
      expect((await client.getEndpoint('inferred-nats')).featureNames).toEqual([]);
    });

    it("a reference's columns taken as feature names are bounded too", async () => {
      await client.createEndpoint({ name: 'reference-wide' });
      const csv = `${Object.keys(tooMany).join(',')}\n${Object.values(tooMany).join(',')}\n`;
      const r = await post('/api/v1/endpoints/reference-wide/reference', csv, 'text/csv', 'PUT');
      expect(r.status).toBe(400);
      expect(r.body.error).toEqual({
        code: 'INVALID_REFERENCE',
        message: `feature names from the reference columns: ${MAX_FEATURES + 1} names, over the limit of ${MAX_FEATURES} per endpoint (the host's maxFeatures, MODELWATCH_MAX_FEATURES)`,
      });
    });
  });

  describe('finding 9: big bodies are bounded per route and parsed off the event loop', () => {
    it('a body over its route limit gets 413 BODY_TOO_LARGE naming the limit', async () => {
      await client.createEndpoint({ name: 'bounded', featureNames: ['a'], labelNames: ['p0'] });
      const over = (limit: number) => new Uint8Array(limit + 1).fill(0x20);
      const events = await post('/api/v1/endpoints/bounded/events', over(BodyLimits.events), 'application/x-ndjson');
      expect(events.status).toBe(413);
      expect(events.body.error).toEqual({
        code: 'BODY_TOO_LARGE',
        message: 'the request body is over the limit of 64 MiB of POST /api/v1/endpoints/:name/events: send it in smaller parts',
      });
      const reference = await post('/api/v1/endpoints/bounded/reference', over(BodyLimits.reference), 'text/csv', 'PUT');
      expect(reference.status).toBe(413);
      expect(reference.body.error?.message).toContain('over the limit of 64 MiB of PUT /api/v1/endpoints/:name/reference');
      const plugin = await post('/api/v1/plugins', over(BodyLimits.plugin));
      expect(plugin.body.error?.message).toContain('over the limit of 16 MiB of POST /api/v1/plugins');
      const other = await post('/api/v1/endpoints', over(BodyLimits.other));
      expect(other.status).toBe(413);
      expect(other.body.error?.message).toContain('over the limit of 1 MiB of POST /api/v1/endpoints');
    });

    it('a 20 MB NDJSON body and a 20 MB JSON body are ingested whole (on a worker thread)', async () => {
      await client.createEndpoint({ name: 'big-body', featureNames: ['a', 'b', 'c', 'd'], labelNames: ['p0'] });
      const now = Date.now();
      const lines: string[] = [];
      let bytes = 0;
      for (let i = 0; bytes < 20e6; i++) {
        // columnar micro-batches: many rows in few events, so the stream processor's share stays small
        const n = 500;
        const col = (k: number) => Array.from({ length: n }, (_, j) => ((i * n + j) * k) % 1000);
        const line = JSON.stringify({ format: 'columnar', when: now, inputs: { a: col(1), b: col(3), c: col(7), d: col(11) }, outputs: { p0: col(13) } });
        lines.push(line);
        bytes += line.length + 1;
      }
      const ndjson = await post('/api/v1/endpoints/big-body/events', lines.join('\n'), 'application/x-ndjson');
      expect(ndjson).toEqual({ status: 202, body: { accepted: lines.length, rejected: [] } });
      const json = await post('/api/v1/endpoints/big-body/events', `[${lines.join(',')}]`);
      expect(json).toEqual({ status: 202, body: { accepted: lines.length, rejected: [] } });
      // a bad event in a big body is refused by index, the rest accepted
      lines[7] = JSON.stringify({ format: 'columnar', when: 'not a time', inputs: { a: [1] }, outputs: { p0: [1] } });
      const mixed = await post('/api/v1/endpoints/big-body/events', lines.join('\n'), 'application/x-ndjson');
      expect(mixed.status).toBe(202);
      expect(mixed.body.accepted).toBe(lines.length - 1);
      expect((mixed.body.rejected as Array<{ index: number }>).map((r) => r.index)).toEqual([7]);
    });

    it('a big reference CSV is taken whole (parsed and its statistics computed on a worker thread)', async () => {
      await client.createEndpoint({ name: 'big-reference', featureNames: ['a', 'b'], labelNames: ['p0'] });
      const rows = ['a,b,p0'];
      for (let i = 0; i < 300_000; i++) rows.push(`${i % 97},${(i * 7) % 13}.5,${i % 2}`);
      const r = await post('/api/v1/endpoints/big-reference/reference', rows.join('\n'), 'text/csv', 'PUT');
      expect(r.status).toBe(200);
      expect(r.body.referenceRows).toBe(300_000);
      const ep = await client.getEndpoint('big-reference');
      expect(Object.keys(ep.featureStats).sort()).toEqual(['a', 'b', 'p0']);
    });
  });
});
