/*
 * A deferred reference (RunOptions.loadReference): the window runs without the reference rows,
 * and once more with them only if the app reads `ctx.reference`; what the first run did is
 * dropped. On the real isolated-vm.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ModelwatchError } from '../src/errors.js';
import { PluginSandbox, type LogLine, type SampleData, type SandboxInput, type WindowArtifact } from '../src/runner/sandbox.js';

const T0 = Date.UTC(2026, 0, 1);
const sandboxes: PluginSandbox[] = [];
afterAll(() => {
  for (const sb of sandboxes) sb.dispose();
});

/** A sandbox whose app's doTracking is `body` (ctx in scope), run with `isolation`. */
function sandboxOf(body: string, opts: { isolation?: 'window' | 'version'; timeoutMs?: number; module?: string } = {}): PluginSandbox {
  const code = `var __mw_plugin = (function () {
    ${opts.module ?? ''}
    function App() {}
    App.prototype.doTracking = function (ctx) { ${body} };
    return { default: App };
  })();`;
  const sb = new PluginSandbox({
    name: 'deferred',
    version: '1.0.0',
    code,
    limits: { memoryMb: 32, timeoutMs: opts.timeoutMs ?? 5000, extraDataBytes: 65536 },
    ...(opts.isolation ? { isolation: opts.isolation } : {}),
  });
  sandboxes.push(sb);
  return sb;
}

/** A sample of one numeric column `x`. */
function sample(values: number[]): SampleData {
  return {
    length: values.length,
    columns: ['x'],
    numeric: ['x'],
    packed: Float64Array.from(values),
    strings: {},
    requestIds: values.map(() => null),
    timed: false,
  };
}

const input = (): SandboxInput => ({
  applicationName: 'deferred',
  endpoint: { id: '0'.repeat(40), name: 'ep', featureNames: ['x'], labelNames: [] },
  windowStart: T0,
  windowEnd: T0 + 60_000,
  sample: sample([1, 2]),
  sampleStats: {},
  featureStats: {},
  config: {},
});

/** A loader of a 3-row reference that counts its calls. */
function loader(reference: SampleData | 'none' = sample([7, 8, 9])) {
  const calls = { n: 0 };
  const load = () => {
    calls.n++;
    return Promise.resolve(reference === 'none' ? undefined : reference);
  };
  return { calls, load };
}

/** The run's output and what reached onLog and onArtifact. */
async function run(sb: PluginSandbox, load: () => Promise<SampleData | undefined>) {
  const logs: LogLine[] = [];
  const artifacts: WindowArtifact[] = [];
  const out = JSON.parse(await sb.run(input(), { onLog: (l) => logs.push(l), onArtifact: (a) => artifacts.push(a), loadReference: load })) as {
    name: string;
    value: number;
  };
  return { out, logs: logs.map((l) => l.message), artifacts: artifacts.map((a) => a.name) };
}

const RESULT = (value: string) => `return { name: 'r', value: ${value}, kind: 0, status: 0 };`;

describe('a deferred reference', () => {
  it('is not read for an app that does not read ctx.reference: one run, its log lines and artifacts delivered', async () => {
    const sb = sandboxOf(`ctx.logger.info('once'); ctx.logArtifact('a.txt', 'x'); ${RESULT('ctx.sample.length')}`);
    const { calls, load } = loader();
    expect(await run(sb, load)).toEqual({ out: { name: 'r', value: 2, kind: 0, status: 0 }, logs: ['once'], artifacts: ['a.txt'] });
    expect(calls.n).toBe(0);
  });

  it('is read when the app reads ctx.reference: the window runs again with it, and only that run counts', async () => {
    const sb = sandboxOf(`ctx.logger.info('before'); ctx.logArtifact('a.txt', 'x'); var r = ctx.reference; ${RESULT('r.length * 10 + r.column("x")[2]')}`);
    const { calls, load } = loader();
    // the first run's log line and artifact are dropped: each is there once, from the second run
    expect(await run(sb, load)).toEqual({ out: { name: 'r', value: 39, kind: 0, status: 0 }, logs: ['before'], artifacts: ['a.txt'] });
    expect(calls.n).toBe(1);
  });

  it('an app that does not catch what reading it threw runs again in the same context: the module a version keeps survives', async () => {
    const sb = sandboxOf(`n++; var r = ctx.reference; ${RESULT('n * 10 + (r ? r.length : 0)')}`, { isolation: 'version', module: 'var n = 0;' });
    // a window without a reference: n = 1
    expect(JSON.parse(await sb.run(input()))).toMatchObject({ value: 10 });
    // deferred: the first run throws at ctx.reference (n = 2), the run with it sees n = 3
    expect((await run(sb, loader().load)).out.value).toBe(33);
    expect(sb.contextsCreated).toBe(1);
  });

  it('an app that catches what reading it threw still gets its window run again with the reference', async () => {
    const sb = sandboxOf(`var n; try { n = ctx.reference.length; } catch (e) { n = -1; } ${RESULT('n')}`, { isolation: 'version' });
    const { calls, load } = loader();
    expect((await run(sb, load)).out.value).toBe(3);
    expect(calls.n).toBe(1);
  });

  it('a reference that is not there is undefined in the run again', async () => {
    const sb = sandboxOf(RESULT('ctx.reference === undefined ? 1 : 0'));
    const { calls, load } = loader('none');
    expect((await run(sb, load)).out.value).toBe(1);
    expect(calls.n).toBe(1);
  });

  it("a read that fails rejects the run with the read's error, not the app's", async () => {
    const sb = sandboxOf(RESULT('ctx.reference.length'));
    const down = new Error('NATS is down');
    await expect(sb.run(input(), { loadReference: () => Promise.reject(down) })).rejects.toBe(down);
    // the sandbox keeps working
    expect((await run(sb, loader().load)).out.value).toBe(3);
  });

  it('an app that reads it and then loops fails with APP_TIMEOUT in the run with the reference, read once', async () => {
    const sb = sandboxOf(`var r = ctx.reference; for (;;) {}`, { timeoutMs: 200 });
    const { calls, load } = loader();
    const err = await sb.run(input(), { loadReference: load }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelwatchError);
    expect((err as ModelwatchError).code).toBe('APP_TIMEOUT');
    expect(calls.n).toBe(1);
  });

  it('an input that carries the reference runs once, with it, whatever loadReference would give', async () => {
    const sb = sandboxOf(RESULT('ctx.reference.length'));
    const { calls, load } = loader();
    const out = JSON.parse(await sb.run({ ...input(), reference: sample([1, 2, 3, 4]) }, { loadReference: load })) as { value: number };
    expect(out.value).toBe(4);
    expect(calls.n).toBe(0);
  });
});
