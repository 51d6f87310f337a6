import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
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

const run = promisify(execFile);

/** The CLI's own behaviour, with no host: usage errors, output into a pipe. */
describe('the CLI without a host', () => {
  it('points a usage error at the help of the command it is about', async () => {
    for (const [args, help] of [
      [['plugin', 'publish'], 'modelwatch plugin publish --help'],
      [['results', '--no-such-flag'], 'modelwatch results --help'],
      [['evnts'], 'modelwatch --help'],
    ] as const) {
      await expect(run(process.execPath, ['--no-node-snapshot', CLI, ...args])).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining(`(see ${help})`),
      });
    }
  });

  it('names what is wrong with a --host that is no URL, and with a .json file that holds JSON Lines', async () => {
    await expect(run(process.execPath, ['--no-node-snapshot', CLI, 'results', '--host', 'localhost:7077'])).rejects.toMatchObject({
      code: 1,
      stderr: "error [INVALID_ARGUMENT]: --host localhost:7077: expected the host's URL, e.g. http://127.0.0.1:7077\n",
    });
    await using dir = await tempDir('mw-usage-');
    const file = join(dir.path, 'events.json');
    await writeFile(file, '{"inputs": [[1]]}\n{"inputs": [[2]]}\n');
    await expect(
      run(process.execPath, ['--no-node-snapshot', CLI, 'events', 'send', '--endpoint', 'e', file, '--host', 'http://127.0.0.1:1']),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /^error \[INVALID_ARGUMENT\]: .*events\.json: not JSON \(.*\); one event a line is JSON Lines: name the file \.jsonl or \.ndjson\n$/,
      ),
    });
  });

  it('names the rule file that cannot be read as YAML or as a rule', async () => {
    await using dir = await tempDir('mw-usage-');
    const broken = join(dir.path, 'broken.yaml');
    await writeFile(broken, 'name: drift\nwhen: [unclosed\n');
    const wrong = join(dir.path, 'wrong.yaml');
    await writeFile(wrong, 'name: drift\nseverity: loud\n');
    for (const file of [broken, wrong]) {
      await expect(run(process.execPath, ['--no-node-snapshot', CLI, 'alert', 'rule', 'create', '-f', file])).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringMatching(new RegExp(`^error \\[INVALID_ARGUMENT\\]: ${file.replace(/\./g, '\\.')}: \\S`)),
      });
    }
  });

  it('stops quietly with exit 0 when its reader is gone (`modelwatch ... | head`)', async () => {
    await using dir = await tempDir('mw-pipe-');
    const r = await runIntoClosedPipe('nats', 'creds', '--data-dir', dir.path);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
