import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/host.js';
import { tempDir } from './helpers/tmp.js';

const CLI = join(REPO, 'host/bin/modelwatch.js');

/** Runs the CLI with its standard output's reader gone before it writes (as `| head` does once it has its lines). */
function runIntoClosedPipe(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--no-node-snapshot', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

describe('the CLI writing into a closed pipe', () => {
  it('stops quietly with exit 0 when its reader is gone (`modelwatch ... | head`)', async () => {
    await using dir = await tempDir('mw-pipe-');
    const r = await runIntoClosedPipe('nats', 'creds', '--data-dir', dir.path);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
