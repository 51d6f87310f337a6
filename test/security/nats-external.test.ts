import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTracker } from '@modelwatch/tracker';
import { ModelwatchClient } from '../../host/src/client/client.js';
import { accountsConfig, credentialsFile, ensureCredentials, type NatsRole, type RoleIdentity } from '../../host/src/nats/auth.js';
import { startNatsServer, type NatsServerHandle } from '../../host/src/nats/server.js';
import { TEST_TOKEN } from '../helpers/host.js';
import { CLI, hostProcess, testHostArgs, type HostProcess } from '../helpers/processes.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

const run = promisify(execFile);

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed (openssl, EC keys). */
async function certificates(dir: string): Promise<Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string>> {
  const p = (name: string) => join(dir, name);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...key, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=modelwatch test CA']);
  for (const [who, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    await writeFile(p(`${who}.ext`), ext);
    await run('openssl', ['req', ...key, '-keyout', p(`${who}.key`), '-out', p(`${who}.csr`), '-subj', `/CN=modelwatch test ${who}`]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      p(`${who}.csr`),
      '-CA',
      p('ca.pem'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-out',
      p(`${who}.pem`),
      '-days',
      '2',
      '-extfile',
      p(`${who}.ext`),
    ]);
  }
  return { ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key') };
}

/**
 * A host on an external NATS cluster that asks for credentials and client certificates:
 * `--nats-creds` and `--nats-tls-*` reach every connection, the runners' too; the tracker takes
 * the same kind of files.
 */
describe('NATS: an external cluster with credentials and TLS', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Awaited<ReturnType<typeof certificates>>;
  let ids: Record<NatsRole, RoleIdentity>;
  let nats: NatsServerHandle;
  let host: HostProcess;

  beforeAll(async () => {
    dir = await tempDir('mw-sec-nats-tls-');
    certs = await certificates(dir.path);
    // the cluster operator's users: here the same three roles the host's own server has
    ids = await ensureCredentials(join(dir.path, 'operator'));
    nats = await startNatsServer({
      dataDir: join(dir.path, 'nats'),
      accounts: accountsConfig(ids),
      tls: { certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.ca },
    });
    host = await hostProcess([
      ...testHostArgs(join(dir.path, 'data')),
      '--nats',
      nats.url,
      '--nats-creds',
      ids.host.file,
      '--nats-tls-ca',
      certs.ca,
      '--nats-tls-cert',
      certs.clientCert,
      '--nats-tls-key',
      certs.clientKey,
    ]);
    await host.start();
  });

  afterAll(async () => {
    await host?.stop();
    await nats?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('refuses a client without a certificate, and one without credentials', async () => {
    await expect(connect({ servers: nats.url, maxReconnectAttempts: 0, timeout: 3000 })).rejects.toThrow();
    await expect(
      connect({ servers: nats.url, maxReconnectAttempts: 0, timeout: 3000, tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey } }),
    ).rejects.toThrow(/authorization/i);
  });

  it('host start --nats-creds --nats-tls-ca --nats-tls-cert --nats-tls-key: the host and its runner connect, and a tracker with credsFile and tls delivers events', async () => {
    // ready: NATS answers, the streams exist, the runner answers over NATS (it connected with the same files)
    await waitFor('the host ready', async () => ((await fetch(`${host.url}/readyz`)).status === 200 ? true : undefined), 60_000);
    const client = new ModelwatchClient({ url: host.url, token: TEST_TOKEN });
    await client.createEndpoint({ name: 'tls-ep', featureNames: ['x'] });
    const errors: Error[] = [];
    const tracker = createTracker({
      servers: nats.url,
      credsFile: ids.ingest.file,
      tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey },
      endpoint: 'tls-ep',
      onError: (e) => errors.push(e),
    });
    tracker.track({ inputs: [[1.5]], outputs: [1] });
    await tracker.flush();
    await tracker.close();
    expect(errors).toEqual([]);
    expect(tracker.stats().delivered).toBe(1);
  });

  it('doctor --nats --nats-creds --nats-tls-*: checks that server as the host connects to it; without the files it says why not', async () => {
    const doctor = (...extra: string[]) =>
      run(process.execPath, ['--no-node-snapshot', CLI, 'doctor', '--json', '--data-dir', join(dir.path, 'doctor'), '--nats', nats.url, ...extra]).catch(
        (e: { stdout: string }) => e,
      );
    const nats_ = (out: { stdout: string }) =>
      (JSON.parse(out.stdout) as { checks: Array<{ name: string; ok: boolean; message: string }> }).checks.find((c) => c.name === 'nats')!;
    const good = await doctor('--nats-creds', ids.host.file, '--nats-tls-ca', certs.ca, '--nats-tls-cert', certs.clientCert, '--nats-tls-key', certs.clientKey);
    expect(nats_(good)).toMatchObject({ ok: true, message: expect.stringContaining('answers, with JetStream') });
    const noCreds = await doctor('--nats-tls-ca', certs.ca, '--nats-tls-cert', certs.clientCert, '--nats-tls-key', certs.clientKey);
    expect(nats_(noCreds)).toMatchObject({ ok: false, message: expect.stringMatching(/authorization/i) });
  });

  it('host start refuses --nats-creds without --nats, naming the flag', async () => {
    const r = await run(process.execPath, [
      '--no-node-snapshot',
      CLI,
      'host',
      'start',
      '--data-dir',
      join(dir.path, 'other'),
      '--nats-creds',
      ids.host.file,
    ]).catch((e: { stderr: string; code: number }) => e);
    expect('code' in r && r.code).toBe(1);
    expect(r.stderr).toMatch(/--nats-creds: only with --nats URL/);
  });

  it("nats creds --role ingest --data-dir --out: writes the ingest credentials of a host's own server (mode 0600), the same on every call", async () => {
    const data = join(dir.path, 'own');
    const out = join(dir.path, 'ingest.nk');
    await run(process.execPath, ['--no-node-snapshot', CLI, 'nats', 'creds', '--role', 'ingest', '--data-dir', data, '--out', out]);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const seed = (await readFile(out, 'utf8')).trim();
    expect(seed).toMatch(/^SU[A-Z2-7]+$/);
    expect((await readFile(credentialsFile(data, 'ingest'), 'utf8')).trim()).toBe(seed);
    // printed without --out: the same credentials, made once
    const printed = await run(process.execPath, ['--no-node-snapshot', CLI, 'nats', 'creds', '--data-dir', data]);
    expect(printed.stdout.trim()).toBe(seed);
  });
});
