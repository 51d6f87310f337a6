import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CrashReport } from '@modelwatch/protocol';
import { createLogger } from '../src/logger.js';
import { RunnerSupervisor } from '../src/runner/supervisor.js';
import { alive } from '../../test/helpers/pids.js';
import { waitFor } from '../../test/helpers/tmp.js';

/** A runner that reports a crash and dies at once (`fixtures/crashing-runner.mjs`). */
const CRASHING = fileURLToPath(new URL('./fixtures/crashing-runner.mjs', import.meta.url));
/** A runner that ignores SIGTERM, and whose output a process it started holds open (`fixtures/pipe-holding-runner.mjs`). */
const PIPE_HOLDING = fileURLToPath(new URL('./fixtures/pipe-holding-runner.mjs', import.meta.url));

const options = { count: 1, natsUrl: 'nats://127.0.0.1:1', concurrency: 1, windowAttempts: 1, logLevel: 'silent', logger: createLogger('silent') };

describe('RunnerSupervisor', () => {
  it("a stop waits for the crash a runner reported to be recorded: a crash as the host stops is not lost to the NATS connection's drain", async () => {
    const order: string[] = [];
    const crashes: CrashReport[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let seen!: () => void;
    const reported = new Promise<void>((r) => (seen = r));
    const supervisor = new RunnerSupervisor({
      ...options,
      logStream: new Writable({ write: (_chunk, _enc, done) => done() }),
      entry: CRASHING,
      // the first crash is recorded when the test says (the stop ends the restarts, and their crashes)
      onCrash: async (c) => {
        crashes.push(c);
        seen();
        if (crashes.length > 1) return;
        await held;
        order.push('recorded');
      },
    });
    await supervisor.start();
    await reported;
    // the runner's report, read from its stderr
    expect(crashes[0]).toEqual({
      app: 'boom',
      version: '1.0.0',
      message: 'Catastrophic out-of-memory error',
      window: { endpointId: 'e1', endpointName: 'one', windowStart: 0, windowEnd: 1000 },
    });
    const stopped = supervisor.stop(1_000).then(() => order.push('stopped'));
    // every microtask and I/O callback of the stop has had its turn: a stop that did not wait for
    // the recording (its runner is dead already) has ended by now
    await new Promise((r) => setImmediate(r));
    release();
    await stopped;
    expect(order).toEqual(['recorded', 'stopped']);
  });

  it('a stop ends when its runners are gone, though a process they started still holds their output', async () => {
    let out = '';
    const supervisor = new RunnerSupervisor({
      ...options,
      entry: PIPE_HOLDING,
      logStream: new Writable({
        write: (chunk: Buffer, _enc, done) => {
          out += chunk.toString();
          done();
        },
      }),
    });
    await supervisor.start();
    const { holder } = await waitFor('the runner to start its holder', () => {
      const line = out.split('\n').find((l) => l.startsWith('{"holder"'));
      return line ? (JSON.parse(line) as { holder: number }) : undefined;
    });
    try {
      // SIGTERM is ignored: SIGKILL after the grace; the holder keeps the pipes open for minutes
      await supervisor.stop(200);
      expect(supervisor.pids()).toEqual([]);
      expect(alive(holder)).toBe(true);
    } finally {
      process.kill(holder, 'SIGKILL');
    }
  });
});
