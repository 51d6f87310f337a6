/**
 * The nats-server a process starts (`startNatsServer`: a host's own, a test's, a bench's) ends with
 * that process, however it exits: nothing else ties the child to its parent, and left running it
 * would hold its port and its store's lock.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { alive } from './helpers/pids.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const SERVER = new URL('../host/dist/nats/server.js', import.meta.url).href;

/** Run a node process that starts a nats-server in `dir`, prints its pid, then ends by `end`; the pid. */
async function serverOfProcessEndedBy(dir: string, end: string): Promise<number> {
  const script = `
    const { startNatsServer } = await import(${JSON.stringify(SERVER)});
    const nats = await startNatsServer({ dataDir: ${JSON.stringify(join(dir, 'nats'))} });
    console.log(nats.pid);
    ${end}
  `;
  const out = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]).catch((err: { stdout?: string; code?: number }) => ({
    stdout: err.stdout ?? '',
    code: err.code,
  }));
  const pid = Number(out.stdout.trim().split('\n')[0]);
  expect(pid).toBeGreaterThan(0);
  return pid;
}

describe('a nats-server started by startNatsServer', () => {
  it.each([
    ['process.exit()', 'process.exit(3);'],
    ['an uncaught error', "setTimeout(() => { throw new Error('boom'); }, 0);"],
  ])('is killed when its process ends by %s', async (_how, end) => {
    await using dir = await tempDir('mw-nats-server-');
    const pid = await serverOfProcessEndedBy(dir.path, end);
    await waitFor(`nats-server ${pid} to be gone`, () => (alive(pid) ? undefined : true), 10_000, 50);
  });
});
