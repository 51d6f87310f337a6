import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI } from './helpers/processes.js';

const run = promisify(execFile);

/** `modelwatch demo`, the README's first command, with short windows. */
describe('modelwatch demo', () => {
  it('runs the whole pipeline: no drift in the normal windows, drift detected in the drifted ones; --keep-data keeps its folder', async () => {
    const { stdout, stderr } = await run(process.execPath, ['--no-node-snapshot', CLI, 'demo', '--base-period', '2s', '--windows', '1', '--keep-data'], {
      timeout: 110_000,
    });
    // piped: no progress bar
    expect(stdout + stderr).not.toMatch(/windows analysed/);
    const folder = /host in (\S+) \(log:/.exec(stdout)?.[1];
    try {
      expect(stdout).toMatch(/windows of 2s/);
      // deployed as `monitoring enable --default-app histogram-data-drift` deploys it
      expect(stdout).toMatch(/^ {2}monitoring enabled; default app: deployed histogram-data-drift@\d+\.\d+\.\d+$/m);
      expect(stdout).toMatch(/sending normal traffic for 1 window\(s\)[\s\S]*sending DRIFTED traffic for 1 window\(s\)/);
      expect(stdout).toMatch(/│ \d\d:\d\d:\d\d-\d\d:\d\d:\d\d │ normal +│ \d+ +│ [\d.]+ +│ no_detection/);
      expect(stdout).toMatch(/│ \d\d:\d\d:\d\d-\d\d:\d\d:\d\d │ drifted +│ \d+ +│ [\d.]+ +│ detected/);
      expect(stdout).toMatch(/^OK: no drift in normal windows, drift detected in drifted windows/m);
      expect(folder && existsSync(join(folder, 'host.log'))).toBe(true);
    } finally {
      if (folder) await rm(folder, { recursive: true, force: true });
    }
  });

  it('on a terminal (a pseudo-TTY) shows a progress bar of the windows analysed (piped, none: the test above); reads the period as the host does (2000ms)', async () => {
    const cmd = [process.execPath, '--no-node-snapshot', CLI, 'demo', '--base-period', '2000ms', '--windows', '1'].map((a) => `'${a}'`).join(' ');
    // script(1) runs the command on a pseudo-terminal: stdout and stderr are TTYs there
    const { stdout } = await run('script', ['-qfec', cmd, '/dev/null'], { timeout: 110_000 });
    expect(stdout).toMatch(/windows analysed .* [0-2]\/2 windows \| [\d.]+\/s \| .* left/);
    expect(stdout).toMatch(/2\/2 windows/);
    // the lines of the phases still show, above the bar
    expect(stdout).toMatch(/sending normal traffic for 1 window\(s\)[\s\S]*sending DRIFTED traffic for 1 window\(s\)/);
    expect(stdout).toMatch(/^OK: no drift in normal windows, drift detected in drifted windows/m);
  });

  it('refuses a base period it cannot read, before starting anything', async () => {
    await expect(run(process.execPath, ['--no-node-snapshot', CLI, 'demo', '--base-period', 'soon'], { timeout: 30_000 })).rejects.toMatchObject({
      stderr: expect.stringMatching(/--base-period.*soon/),
      stdout: '',
    });
  });
});
