import { execFile, spawn } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateSummary } from '../host/src/cli/batch-gate.js';
import { ModelwatchClient } from '../host/src/client/client.js';
import { publishDir, TEST_TOKEN } from './helpers/host.js';
import { CLI, hostProcess, testHostArgs, type HostProcess } from './helpers/processes.js';
import { tempDir } from './helpers/tmp.js';

const FIXTURES = new URL('./fixtures/plugins/', import.meta.url).pathname;
const runFile = promisify(execFile);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI with its output piped (as CI runs it); resolves with the exit code whatever it is. */
function cliRun(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--no-node-snapshot', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Check a file is well-formed XML and read its test cases, with python3's xml.etree (a parser that is not ours). */
async function parseJunit(
  file: string,
): Promise<{ root: Record<string, string>; cases: Array<{ suite: string; classname: string; name: string; failure?: string; error?: string }> }> {
  const py = `
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = []
for s in root.findall('testsuite'):
    for c in s.findall('testcase'):
        d = {'suite': s.get('name'), 'classname': c.get('classname'), 'name': c.get('name')}
        f = c.find('failure'); e = c.find('error')
        if f is not None: d['failure'] = f.get('message')
        if e is not None: d['error'] = e.get('message')
        cases.append(d)
print(json.dumps({'root': {k: v for k, v in root.attrib.items()}, 'cases': cases}))
`;
  return JSON.parse((await runFile('python3', ['-c', py, file])).stdout) as Awaited<ReturnType<typeof parseJunit>>;
}

/**
 * `batch send --wait` as a CI gate, against a host run as a user runs it: the exit codes 0 (pass),
 * 1 (a result reached --fail-on), 2 (a window failed, or --timeout reached) and 3 (usage), the
 * summary, the JUnit report, get-or-create with --create --reference, and the progress bar that
 * shows on a terminal and nowhere else.
 */
describe('batch send --wait: a CI gate', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: HostProcess;
  let client: ModelwatchClient;
  const t0 = Date.UTC(2026, 0, 1);
  const send = (...args: string[]) => cliRun(['--host', host.url, 'batch', 'send', ...args]);
  /** A JSON Lines file of `perWindow` rows in each of `windows` one-second windows from `t0`. */
  const batchFile = async (name: string, windows: number, perWindow: number) => {
    const file = join(dir.path, name);
    const lines: string[] = [];
    for (let w = 0; w < windows; w++)
      for (let i = 0; i < perWindow; i++)
        lines.push(JSON.stringify({ when: t0 + w * 1000 + Math.floor((i * 1000) / perWindow), inputs: [[i % 7]], outputs: [0] }));
    await writeFile(file, lines.join('\n'));
    return file;
  };
  /** A copy of a fixture plugin that applies to the endpoints matching `endpoints` only. */
  const scoped = async (fixture: string, endpoints: string[]) => {
    const to = join(dir.path, 'plugins', fixture);
    await cp(join(FIXTURES, fixture), to, { recursive: true });
    const manifest = JSON.parse(await readFile(join(to, 'plugin.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(to, 'plugin.json'), JSON.stringify({ ...manifest, $schema: undefined, endpoints }));
    return to;
  };

  beforeAll(async () => {
    dir = await tempDir('mw-batch-gate-');
    host = await hostProcess(testHostArgs(join(dir.path, 'data'), '--window-attempts', '1'));
    await host.start();
    client = new ModelwatchClient({ url: host.url, token: TEST_TOKEN });
    // window-flag: `big_window` is detected in a window of 100 rows or more; always-throws fails every window of broken-*
    await publishDir(client, await scoped('window-flag', ['gate-*', 'made-*', 'tty-*']));
    await publishDir(client, await scoped('always-throws', ['broken-*']));
    for (const name of ['gate-a', 'gate-b', 'broken-a', 'tty-a']) await client.createEndpoint({ name, featureNames: ['x'] });
    await client.createEndpoint({ name: 'gate-off', featureNames: ['x'], monitoring: false });
  }, 120_000);
  afterAll(async () => {
    await host?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('exit 0: every window analysed, no result at --fail-on; the summary and a JUnit report with a test case per app result', async () => {
    const file = await batchFile('small.jsonl', 3, 20);
    const junit = join(dir.path, 'pass.xml');
    const r = await send('--endpoint', 'gate-a', '--id', 'pass-1', '--wait', '--fail-on', 'detected', '--junit', junit, file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/batch pass-1: accepted 60 event/);
    expect(r.stdout).toMatch(/batch pass-1 of gate-a: 3 of 3 window analyses stored \(dispatched\)/);
    expect(r.stdout).toMatch(/window-flag: 3 window\(s\): 3 ok, 0 empty, 0 failed/);
    expect(r.stdout).toMatch(/big_window: worst no_detection .*, 0 of 3 window\(s\) at detected or above/);
    expect(r.stdout).toMatch(/^PASS: no result reached detected \(exit 0\)$/m);
    const x = await parseJunit(junit);
    expect(x.root).toMatchObject({ tests: '2', failures: '0', errors: '0' });
    expect(x.cases.map((c) => c.name).sort()).toEqual(['big_window', 'windows']);
    expect(x.cases.every((c) => c.classname === 'modelwatch.gate-a.pass-1.window-flag' && !c.failure && !c.error)).toBe(true);
  });

  it('exit 1: a result reached --fail-on; the JUnit report has its failure; --json has the summary', async () => {
    const file = await batchFile('big.jsonl', 2, 120);
    const junit = join(dir.path, 'fail.xml');
    const r = await send('--endpoint', 'gate-b', '--id', 'fail-1', '--wait', '--fail-on', 'potential', '--junit', junit, '--json', file);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { batchId: string; accepted: number; summary: GateSummary };
    expect(out).toMatchObject({ batchId: 'fail-1', accepted: 240 });
    expect(out.summary).toMatchObject({ verdict: 'fail', exitCode: 1, expected: 2, analysed: 2, complete: true, failOn: 'potential' });
    expect(out.summary.apps[0]!.results.find((x) => x.result === 'big_window')).toMatchObject({ worstStatus: 2, worstValue: 120, failing: 2, windows: 2 });
    const x = await parseJunit(junit);
    expect(x.root).toMatchObject({ tests: '2', failures: '1', errors: '0' });
    expect(x.cases.find((c) => c.name === 'big_window')!.failure).toMatch(/^big_window reached detected in 2 of 2 window\(s\) \(value 120 /);
    // --fail-on detected reads the same windows the same way; without --fail-on a complete analysis passes
    expect((await send('--endpoint', 'gate-b', '--id', 'fail-2', '--wait', '--fail-on', 'detected', file)).code).toBe(1);
    const plain = await send('--endpoint', 'gate-b', '--id', 'fail-3', '--wait', file);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^PASS: every window analysed \(exit 0\)$/m);
  });

  it('exit 2: a window failed (never a pass, even without --fail-on); the JUnit report has the error', async () => {
    const file = await batchFile('broken.jsonl', 2, 10);
    const junit = join(dir.path, 'broken.xml');
    const r = await send('--endpoint', 'broken-a', '--id', 'broken-1', '--wait', '--fail-on', 'detected', '--junit', junit, file);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/always-throws: 2 window\(s\): 0 ok, 0 empty, 2 failed \(APP_ERROR: .*threw: always fails \(10 rows\)/);
    expect(r.stdout).toMatch(/^INCOMPLETE: the analysis is incomplete: 2 window analysis\(es\) failed \(exit 2\)$/m);
    const x = await parseJunit(junit);
    expect(x.root).toMatchObject({ tests: '1', failures: '0', errors: '1' });
    expect(x.cases[0]).toMatchObject({ classname: 'modelwatch.broken-a.broken-1.always-throws', name: 'windows' });
    expect(x.cases[0]!.error).toMatch(/^2 window\(s\) failed: APP_ERROR: .*always fails/);
  });

  it('exit 2: --timeout reached before the batch was analysed (an endpoint with monitoring off)', async () => {
    const file = await batchFile('off.jsonl', 1, 5);
    const junit = join(dir.path, 'timeout.xml');
    const started = Date.now();
    const r = await send('--endpoint', 'gate-off', '--id', 'off-1', '--wait', '--timeout', '1500ms', '--junit', junit, file);
    expect(r.code).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(r.stdout).toMatch(/^INCOMPLETE: the analysis is incomplete: timed out: the batch is not (dispatched|recorded) yet/m);
    const x = await parseJunit(junit);
    expect(x.root).toMatchObject({ tests: '1', errors: '1' });
    expect(x.cases[0]).toMatchObject({ name: 'analysis', classname: 'modelwatch.gate-off.off-1' });
    expect(x.cases[0]!.error).toMatch(/^timed out/);
  });

  it('exit 3: usage errors, before anything is sent', async () => {
    const file = await batchFile('usage.jsonl', 1, 5);
    const cases: Array<[string[], RegExp]> = [
      [['--fail-on', 'detected'], /--fail-on needs --wait/],
      [['--junit', 'x.xml'], /--junit needs --wait/],
      [['--wait', '--fail-on', 'sometimes'], /--fail-on sometimes: use potential or detected/],
      [['--wait', '--no-such-flag'], /Unknown argument/],
      [['--create'], /--create needs --reference FILE/],
      [['--reference', file], /--reference goes with --create/],
      [['--labels', 'y'], /--labels goes with --create/],
      [['--features', 'x'], /--features goes with --create/],
      [['--wait', '--timeout', 'soon'], /--timeout/],
    ];
    for (const [args, message] of cases) {
      const r = await send('--endpoint', 'gate-a', '--id', 'usage-1', ...args, file);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toMatch(message);
    }
    // nothing was sent
    await expect(client.getBatch('gate-a', 'usage-1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('--create --reference: a new endpoint from the reference file, then the batch (get-or-create: an existing one is left as it is)', async () => {
    const reference = join(dir.path, 'train.csv');
    await writeFile(reference, `x\n${Array.from({ length: 50 }, (_, i) => i % 7).join('\n')}\n`);
    const file = await batchFile('made.jsonl', 2, 10);
    const r = await send('--endpoint', 'made-a', '--id', 'made-1', '--create', '--reference', reference, '--wait', '--fail-on', 'detected', file);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^endpoint made-a created: 1 features, reference statistics from 50 rows$/m);
    expect(r.stdout).toMatch(/made-1 of made-a: 2 of 2 window analyses stored/);
    const ep = await client.getEndpoint('made-a');
    expect(ep).toMatchObject({ name: 'made-a', featureNames: ['x'], referenceRowCount: 50 });
    // again: the endpoint exists, so it is not created (nor its reference replaced)
    await writeFile(reference, `x\n1\n2\n`);
    const again = await send('--endpoint', 'made-a', '--id', 'made-2', '--create', '--reference', reference, file);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/created/);
    expect((await client.getEndpoint('made-a')).referenceRowCount).toBe(50);
  });

  it('--create --reference with a label column: --labels makes it a label, not a feature; without it every event is refused, said in a line', async () => {
    // the README's train.csv: features, then the label
    const reference = join(dir.path, 'labelled.csv');
    await writeFile(reference, `x,churned\n${Array.from({ length: 50 }, (_, i) => `${i % 7},${i % 2}`).join('\n')}\n`);
    const file = await batchFile('labelled.jsonl', 2, 10);

    // without --labels every column is a feature: the events (one value each) are all refused
    const refused = await send('--endpoint', 'made-unlabelled', '--id', 'u-1', '--create', '--reference', reference, '--wait', file);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      'error [INVALID_EVENT]: batch rejected: 0 accepted, 20 rejected; first: #0: inputs[0]: 1 values, but the endpoint has 2 features (x, churned)\n',
    );
    expect(refused.stdout).not.toMatch(/results:|report:/);

    const r = await send('--endpoint', 'made-labelled', '--id', 'l-1', '--create', '--reference', reference, '--labels', 'churned', '--wait', file);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^endpoint made-labelled created: 1 features, reference statistics from 50 rows$/m);
    expect(r.stdout).toMatch(/l-1 of made-labelled: 2 of 2 window analyses stored/);
    expect(await client.getEndpoint('made-labelled')).toMatchObject({ featureNames: ['x'], labelNames: ['churned'], referenceRowCount: 50 });
    // --features too, as endpoint create takes it: the named columns only
    const wide = join(dir.path, 'wide.csv');
    await writeFile(wide, `x,z,churned\n${Array.from({ length: 20 }, (_, i) => `${i % 7},${i},${i % 2}`).join('\n')}\n`);
    const named = await send('--endpoint', 'made-named', '--create', '--reference', wide, '--features', 'x', '--labels', 'churned', file);
    expect(named.code).toBe(0);
    expect(await client.getEndpoint('made-named')).toMatchObject({ featureNames: ['x'], labelNames: ['churned'] });

    // the same flags, with the same help, as endpoint create's (the help's words, however it wraps them)
    const helpOf = async (args: string[], flag: string) =>
      new RegExp(`--${flag} (.*?) \\[string\\]`).exec((await cliRun([...args, '--help'])).stdout.replace(/\s+/g, ' '))?.[1];
    for (const flag of ['features', 'labels']) {
      const help = await helpOf(['batch', 'send'], flag);
      expect(help).toMatch(/comma-separated/);
      expect(help).toBe(await helpOf(['endpoint', 'create'], flag));
    }
  });

  it('progress bars on a terminal (a pseudo-TTY): the upload of the batch and of a reference, the windows analysed; none when piped or with --json', async () => {
    // 21,000 rows, over a MiB: several chunks of the upload
    const file = await batchFile('tty.jsonl', 3, 7000);
    const reference = join(dir.path, 'tty-train.csv');
    await writeFile(reference, `x\n${Array.from({ length: 5000 }, (_, i) => i % 7).join('\n')}\n`);
    const onTty = async (args: string[]) => {
      const cmd = [process.execPath, '--no-node-snapshot', CLI, '--host', host.url, ...args].map((a) => `'${a}'`).join(' ');
      // script(1) runs the command on a pseudo-terminal: stdout and stderr are TTYs there
      return (await runFile('script', ['-qfec', cmd, '/dev/null'], { timeout: 60_000 })).stdout;
    };
    const tty = await onTty(['batch', 'send', '--endpoint', 'tty-a', '--id', 'tty-1', '--wait', file]);
    expect(tty).toMatch(/sending tty\.jsonl .* \d+\/\d+ KiB \| [\d.]+\/s \| .* left/);
    expect(tty).toMatch(/batch tty-1 .*\d+\/3 windows \| [\d.]+\/s \| .* left/);
    expect(tty).toMatch(/3\/3 windows/);
    expect(tty).toMatch(/PASS: every window analysed/);
    expect(await onTty(['endpoint', 'set-reference', 'tty-a', '--reference', reference])).toMatch(/reference of tty-a .* \d+\/\d+ KiB/);
    // piped, and --json on a terminal: no bar
    const piped = await send('--endpoint', 'tty-a', '--id', 'tty-2', '--wait', file);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).not.toMatch(/KiB|windows \|/);
    const json = await onTty(['batch', 'send', '--endpoint', 'tty-a', '--id', 'tty-3', '--wait', '--json', file]);
    expect(json).not.toMatch(/KiB|windows \|/);
    expect(json).toMatch(/"verdict": "pass"/);
  });

  it('plugin evaluate streams its progress to the client (NDJSON lines), and draws a bar on a terminal', async () => {
    // past windows of one second with no rows: each is evaluated (as empty)
    const to = Math.floor(Date.now() / 1000) * 1000 - 1000;
    const from = to - 8000;
    const seen: Array<[number, number]> = [];
    const windows = await client.evaluatePlugin('window-flag', { endpoint: 'tty-a', from, to }, { onProgress: (done, total) => seen.push([done, total]) });
    expect(windows).toHaveLength(8);
    expect(seen).toEqual(Array.from({ length: 9 }, (_, i) => [i, 8]));
    // the plain answer is the same windows
    expect((await client.evaluatePlugin('window-flag', { endpoint: 'tty-a', from, to })).map((w) => w.output.windowStart)).toEqual(
      windows.map((w) => w.output.windowStart),
    );
    // an error before the first window is an HTTP error as ever
    await expect(client.evaluatePlugin('window-flag', { endpoint: 'nope', from, to }, { onProgress: () => undefined })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const cmd = [
      process.execPath,
      '--no-node-snapshot',
      CLI,
      '--host',
      host.url,
      'plugin',
      'evaluate',
      'window-flag',
      '--endpoint',
      'tty-a',
      '--from',
      String(from),
      '--to',
      String(to),
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const tty = (await runFile('script', ['-qfec', cmd, '/dev/null'], { timeout: 60_000 })).stdout;
    expect(tty).toMatch(/evaluating window-flag .*8\/8 windows \| [\d.]+\/s/);
    expect(tty).toMatch(/window start/);
  });
});
