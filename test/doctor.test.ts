import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../host/src/nats/server.js';
import { checkNode, type DoctorCheck } from '../host/src/cli/commands/doctor.js';
import { startTestNats } from './helpers/nats.js';
import { CLI } from './helpers/processes.js';
import { tempDir } from './helpers/tmp.js';
import { startTestTsdb, type TestTsdb } from './helpers/tsdb.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a user runs it, with `env` over this process's environment; it must exit by itself. */
async function modelwatch(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const child = spawn(process.execPath, ['--no-node-snapshot', CLI, ...args], {
    env: { ...process.env, MODELWATCH_NATS_URL: '', MODELWATCH_INFLUX_URL: '', MODELWATCH_DATA_DIR: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stdout, stderr };
}

const report = (r: Run) => JSON.parse(r.stdout) as { ok: boolean; checks: DoctorCheck[] };
const check = (r: Run, name: DoctorCheck['name']) => report(r).checks.find((c) => c.name === name);

/**
 * `modelwatch doctor` on a good setup (a NATS URL or nats-server on PATH, a writable data folder,
 * a TSDB that accepts writes) and on bad ones, each named with what to do; and a host started
 * without nats-server on PATH says how to get it instead of failing with a stack trace.
 */
describe('modelwatch doctor', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let tsdb: TestTsdb;
  /** A PATH without nats-server: an empty folder (node is started by its absolute path). */
  let noNatsPath: string;

  beforeAll(async () => {
    dir = await tempDir('mw-doctor-');
    tsdb = await startTestTsdb();
    noNatsPath = join(dir.path, 'empty-bin');
    await mkdir(noNatsPath);
  });
  afterAll(async () => {
    await tsdb?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('passes on a good setup: Node, nats-server on PATH, a writable data folder, a TSDB that accepts writes', async () => {
    const dataDir = join(dir.path, 'data');
    await mkdir(dataDir);
    const args = ['doctor', '--data-dir', dataDir, '--influx-url', tsdb.url, '--influx-token', 'a-token', '--influx-org', 'o', '--influx-bucket', 'b'];
    const r = await modelwatch([...args, '--json']);
    expect(r.code).toBe(0);
    expect(report(r)).toMatchObject({ ok: true });
    expect(report(r).checks.map((c) => [c.name, c.ok])).toEqual([
      ['node', true],
      ['nats', true],
      ['data-dir', true],
      ['tsdb', true],
    ]);
    expect(check(r, 'node')!.message).toContain(process.versions.node);
    expect(check(r, 'nats')!.message).toMatch(/nats-server v[\d.]+ is on PATH/);
    expect(check(r, 'data-dir')!.message).toBe(`${dataDir} is a writable folder`);
    expect(check(r, 'tsdb')!.message).toContain(`InfluxDB at ${tsdb.url} accepts writes to bucket 'b' of org 'o'`);

    // the same, for people: one line per check and a verdict
    const text = await modelwatch(args);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ok {4}node /m);
    expect(text.stdout).toMatch(/^ok {4}tsdb /m);
    expect(text.stdout).not.toContain('FAIL');
    expect(text.stdout).toContain('everything a host needs is here');
  });

  it('with --nats, checks that server (JetStream on) instead of nats-server on PATH', async () => {
    await using nats = await startTestNats();
    const r = await modelwatch(['doctor', '--nats', nats.url, '--data-dir', join(dir.path, 'not-yet', 'data'), '--json'], { PATH: noNatsPath });
    expect(r.code).toBe(0);
    expect(check(r, 'nats')).toMatchObject({ ok: true, message: expect.stringContaining(`NATS at ${nats.url} answers, with JetStream`) });
    // a folder that does not exist yet is fine when it can be created
    expect(check(r, 'data-dir')).toMatchObject({ ok: true, message: expect.stringContaining('does not exist yet; the host will create it') });
    expect(check(r, 'tsdb')).toMatchObject({ ok: true, message: expect.stringContaining('no InfluxDB configured') });
  });

  it('fails on a TSDB URL that nothing answers, saying so, with exit code 1', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const r = await modelwatch(['doctor', '--data-dir', dir.path, '--influx-url', url, '--influx-org', 'o', '--influx-bucket', 'b', '--json']);
    expect(r.code).toBe(1);
    expect(report(r).ok).toBe(false);
    expect(check(r, 'tsdb')).toMatchObject({
      ok: false,
      message: expect.stringContaining(`InfluxDB at ${url} does not answer`),
      hint: expect.stringContaining('--influx-url'),
    });
    // the rest is still checked, and fine
    expect(check(r, 'data-dir')!.ok).toBe(true);
    expect(check(r, 'nats')!.ok).toBe(true);

    // a TSDB URL that is not a URL at all, for people
    const text = await modelwatch(['doctor', '--data-dir', dir.path, '--influx-url', 'not a url', '--influx-org', 'o', '--influx-bucket', 'b']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^FAIL {2}tsdb {6}influx url: 'not a url' is not a URL$/m);
    expect(text.stdout).toContain('1 problem: see FAIL above');
  });

  it('fails on a data folder that cannot be written: a file, or under a file', async () => {
    const file = join(dir.path, 'a-file');
    await writeFile(file, 'not a folder');
    const r = await modelwatch(['doctor', '--data-dir', file, '--json']);
    expect(r.code).toBe(1);
    expect(check(r, 'data-dir')).toMatchObject({ ok: false, message: `${file} is not a folder`, hint: expect.stringContaining('--data-dir DIR') });

    const under = join(file, 'data');
    const env = await modelwatch(['doctor', '--json'], { MODELWATCH_DATA_DIR: under });
    expect(env.code).toBe(1);
    expect(check(env, 'data-dir')).toMatchObject({ ok: false, message: `${under} cannot be created: ${file} is not a folder` });
  });

  it("fails on a Node older than the host package's engines, saying which it needs", () => {
    expect(checkNode('22.12.0')).toMatchObject({
      ok: false,
      message: 'Node 22.12.0 is too old: the host needs 24 or newer',
      hint: expect.stringContaining('install Node 24'),
    });
    expect(checkNode('24.0.0')).toMatchObject({ ok: true });
  });

  it('without nats-server on PATH: doctor says how to get it, and so does host start, without a stack trace', async () => {
    const r = await modelwatch(['doctor', '--data-dir', dir.path, '--json'], { PATH: noNatsPath });
    expect(r.code).toBe(1);
    const nats = check(r, 'nats')!;
    expect(nats).toMatchObject({ ok: false, message: 'nats-server is not on PATH, and no --nats URL is given' });
    for (const way of ['apt-get install nats-server', 'brew install nats-server', 'docker run', '--nats nats://']) expect(nats.hint).toContain(way);

    const start = await modelwatch(['host', 'start', '--data-dir', join(dir.path, 'host'), '--http-port', '0'], { PATH: noNatsPath });
    expect(start.code).toBe(1);
    expect(start.stderr).toMatch(/^error \[NATS_SERVER_NOT_FOUND\]: nats-server not found on PATH/);
    for (const way of ['Debian/Ubuntu:', 'sudo apt-get install nats-server', 'macOS:', 'brew install nats-server', 'docker run -d -p 4222:4222 nats:2 -js'])
      expect(start.stderr).toContain(way);
    expect(start.stderr).not.toMatch(/^\s+at /m);
  });
});
