/**
 * Issue #10, durability: a damaged results store is rebuilt from MW_OUTPUTS, never silently
 * short of windows (finding 12), or the host refuses to start naming the folder; a full disk is
 * a 503 with its reason, and the writer retries instead of acknowledging (finding 13), while the
 * `writer_failing` alert rule fires (issue #12).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, truncate, writeFile, rm, open } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, Streams } from '@modelwatch/protocol';
import { isModelwatchError } from '../../host/src/errors.js';
import { trickle, waitForWindows } from '../helpers/events.js';
import { authHeaders, publishDir, startTestHost } from '../helpers/host.js';
import { startTestNats } from '../helpers/nats.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

const ROW_COUNT = new URL('../fixtures/plugins/row-count', import.meta.url).pathname;
const PERIOD = 1000;

/** The newest LevelDB log of a store (`NNNNNN.log`, the highest number). */
async function newestLog(dir: string): Promise<string> {
  const logs = (await readdir(dir)).filter((f) => /^\d+\.log$/.test(f)).sort();
  if (logs.length === 0) throw new Error(`no .log file in ${dir}`);
  return join(dir, logs.at(-1)!);
}

describe('a damaged results store', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-durability-');
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  /** A host that stored windows `[first, first + 3 periods]` of endpoint `name`, stopped. */
  async function fourWindows(dataDir: string, name: string): Promise<number[]> {
    const env = await startTestHost({ natsUrl: nats.url, dataDir, basePeriod: PERIOD, allowedLateness: 500 });
    try {
      await publishDir(env.client, ROW_COUNT);
      await env.client.createEndpoint({ name, featureNames: ['i'], labelNames: ['y'] });
      const first = Math.floor(Date.now() / PERIOD) * PERIOD;
      const t = trickle(nats.url, [name], 50);
      const ws = await waitForWindows('four windows', () => env.client.results({ endpoint: name }), first, first + 3 * PERIOD);
      await t.stop();
      return ws.map((w) => w.windowStart);
    } finally {
      await env.host.stop();
    }
  }

  it('finding 12: with the newest LevelDB log truncated while stopped, the host starts with every window', async () => {
    const dataDir = join(dir.path, 'truncated');
    const stored = await fourWindows(dataDir, 'trunc');
    const log = await newestLog(join(dataDir, 'results'));
    const size = (await stat(log)).size;
    expect(size).toBeGreaterThan(0);
    // the tail of the log torn off, as a crash or a full disk leaves it
    await truncate(log, Math.floor(size / 2));
    await using env = await startTestHost({ natsUrl: nats.url, dataDir, basePeriod: PERIOD, allowedLateness: 500 });
    const after = (await env.client.results({ endpoint: 'trunc' })).map((w) => w.windowStart);
    for (const w of stored) expect(after, `window ${w}`).toContain(w);
  });

  it('a store LevelDB cannot open is rebuilt from MW_OUTPUTS, the damaged one kept aside', async () => {
    const dataDir = join(dir.path, 'unopenable');
    const stored = await fourWindows(dataDir, 'broken');
    const results = join(dataDir, 'results');
    // CURRENT names a manifest that is not there: LevelDB refuses to open
    await writeFile(join(results, 'CURRENT'), 'MANIFEST-999999\n');
    await using env = await startTestHost({ natsUrl: nats.url, dataDir, basePeriod: PERIOD, allowedLateness: 500 });
    const after = (await env.client.results({ endpoint: 'broken' })).map((w) => w.windowStart);
    for (const w of stored) expect(after, `window ${w}`).toContain(w);
    const aside = (await readdir(dataDir)).filter((f) => f.startsWith('results.damaged-'));
    expect(aside).toHaveLength(1);
    expect(existsSync(join(dataDir, 'results.rebuild'))).toBe(false);
  });

  it('when the store cannot be opened nor rebuilt, the host refuses to start, naming the folder and what to do', async () => {
    await using own = await startTestNats();
    const dataDir = join(dir.path, 'lost');
    const env = await startTestHost({ natsUrl: own.url, dataDir, basePeriod: PERIOD, allowedLateness: 500 });
    try {
      await publishDir(env.client, ROW_COUNT);
      await env.client.createEndpoint({ name: 'gone', featureNames: ['i'] });
      const first = Math.floor(Date.now() / PERIOD) * PERIOD;
      const t = trickle(own.url, ['gone'], 50);
      await waitForWindows('two windows', () => env.client.results({ endpoint: 'gone' }), first, first + PERIOD);
      await t.stop();
    } finally {
      await env.host.stop();
    }
    const results = join(dataDir, 'results');
    await writeFile(join(results, 'CURRENT'), 'MANIFEST-999999\n');
    // and the stream it would be rebuilt from is emptied
    const nc = await connect({ servers: own.url });
    try {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.consumers.info(Streams.outputs, Consumers.writer)).ack_floor.stream_seq).toBeGreaterThan(0);
      await jsm.streams.purge(Streams.outputs);
    } finally {
      await nc.close();
    }
    const refused = await startTestHost({ natsUrl: own.url, dataDir, basePeriod: PERIOD }).then(
      async (e) => {
        await e.host.stop();
        throw new Error('the host started');
      },
      (err: unknown) => err,
    );
    expect(isModelwatchError(refused)).toBe(true);
    expect((refused as Error).message).toContain(`the results store ${results} cannot be opened (`);
    expect((refused as Error).message).toContain('could not be rebuilt from the MW_OUTPUTS stream (the writer acknowledged');
    expect((refused as Error).message).toContain(`Restore ${results} from a backup, or move it aside to start with an empty store`);
    // nothing was moved: the damaged store is where it was, for the operator
    expect(existsSync(join(results, 'CURRENT'))).toBe(true);
    expect((await readdir(dataDir)).filter((f) => f.startsWith('results.'))).toEqual([]);
  });
});

/** Whether this process may mount a tmpfs (root in a container that allows it). */
function canMount(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('a full disk', () => {
  it('answers 503 with the reason, the writer retries its outputs instead of acknowledging them, and the writer_failing alert rule fires', async () => {
    await using nats = await startTestNats();
    await using dir = await tempDir('mw-full-');
    const dataDir = join(dir.path, 'small');
    await mkdir(dataDir);
    // a real full disk: a 2 MiB tmpfs, which needs root (CI runs as root; `make test` elsewhere
    // with sudo). Not skipped where it cannot mount: a test that does not run proves nothing.
    if (!canMount(dataDir)) throw new Error(`cannot mount a tmpfs on ${dataDir}: this test needs root (mount -t tmpfs) to fill a real disk`);
    try {
      const env = await startTestHost({ natsUrl: nats.url, dataDir, basePeriod: PERIOD, allowedLateness: 500, alertCheckInterval: '200ms' });
      try {
        // the system rule `writer_failing` (issue #12): the writer failing to store, for real
        await env.client.putAlertRule({ name: 'writer-down', when: { event: 'writer_failing' }, severity: 'critical' });
        await publishDir(env.client, ROW_COUNT);
        await env.client.createEndpoint({ name: 'full', featureNames: ['i'] });
        await env.client.createEndpoint({ name: 'victim', featureNames: ['i'] });
        const first = Math.floor(Date.now() / PERIOD) * PERIOD;
        const t = trickle(nats.url, ['full'], 50);
        await waitForWindows('a first window', () => env.client.results({ endpoint: 'full' }), first, first);
        // fill the disk
        const filler = await open(join(dataDir, 'filler'), 'w');
        try {
          const block = Buffer.alloc(64 * 1024, 1);
          for (;;) await filler.write(block);
        } catch (err) {
          expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
        } finally {
          await filler.close();
        }
        const fullAt = Date.now();
        // the writer cannot store the windows that end now: it naks them (redelivered), never acks them
        const nc = await connect({ servers: nats.url });
        try {
          const jsm = await jetstreamManager(nc);
          await waitFor('an output redelivered', async () =>
            (await jsm.consumers.info(Streams.outputs, Consumers.writer)).num_redelivered > 0 ? true : undefined,
          );
        } finally {
          await nc.close();
        }
        // the writer's failure fires the writer_failing rule (alerts live in NATS' KV, not on the full disk)
        const fired = await waitFor(
          'the writer_failing alert',
          async () => (await env.client.listAlerts({ active: true })).find((a) => a.rule === 'writer-down'),
          30_000,
        );
        expect(fired.severity).toBe('critical');
        // whichever LevelDB write met the full disk last names the failure: an output's store, or
        // the serving metrics the trickle's events produce each minute (both are the writer's)
        expect(fired.summary).toMatch(/the writer is failing: (store|serving|account|outbox) failed \d+ s ago/);
        // a write through the API: 503 with the reason
        const res = await fetch(`${env.host.apiUrl}/api/v1/endpoints/victim?purge=true`, { method: 'DELETE', headers: authHeaders() });
        expect(res.status).toBe(503);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('STORAGE_FULL');
        expect(body.error.message).toMatch(/the disk is full .*free space in the data folder and try again/);
        // space again: the windows the writer could not store are stored, none skipped
        await rm(join(dataDir, 'filler'));
        // (the purge of another endpoint drops the outputs waiting for a redelivery from the
        // writer's consumer on nats-server 2.9: the writer takes them from the stream itself)
        await waitForWindows('the windows of the full disk', () => env.client.results({ endpoint: 'full' }), first, fullAt + 2 * PERIOD);
        await t.stop();
      } finally {
        await env.host.stop();
      }
    } finally {
      // lazily: the host's files are closed, but the kernel may hold the mount a moment longer
      execFileSync('umount', ['-l', dataDir]);
    }
  });
});
