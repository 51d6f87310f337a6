import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PluginRecord, WindowRecord } from '@modelwatch/protocol';
import { bundlePlugin } from '../host/src/plugins/bundle.js';
import { CRASH_TOLERANCE } from '../host/src/runner/runner.js';
import { waitUntilDrained } from './helpers/events.js';
import { publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

/**
 * Limits are wall-clock under load (the isolate's timeout is, and isolated-vm's cpuTime counts the
 * wall time of the running call): the plugins that test time limits get 300 ms, so they fail fast;
 * the others get room enough not to time out on a loaded 2-core machine (a quick plugin was cut at
 * 300 ms there) before the behaviour they test shows.
 */
const TIME_BOUND = { timeoutMs: 300, memoryMb: 32 };
const ROOMY = { timeoutMs: 5000, memoryMb: 32 };
// Filling 32 MB, and V8's last garbage collections before it gives up, took over 10 s of a
// starved runner thread: those that test memory exhaustion (and the log flood) get 30 s, so the
// limit they test is reached before the time limit.
const SLOW_BOUND = { timeoutMs: 30_000, memoryMb: 32 };

/**
 * Untrusted code against a running host: every hostile behaviour of
 * shared/reference/sandbox-notes.md as a plugin published next to a well-behaved one (before
 * the endpoint exists, so there is no dry run at publish), each misbehaving on real windows.
 * The well-behaved plugin must keep producing every window's result (how late:
 * bench/hostile-neighbours.mjs); each
 * failure must be recorded for its window with a clear reason, retried a bounded number of
 * times, and a plugin failing window after window must end up quarantined.
 */
const HOSTILE: Record<string, { code: string; expect: { code: RegExp; message: RegExp }; limits?: object; top?: string }> = {
  'sync-loop': { code: 'for (;;) {}', expect: { code: /APP_TIMEOUT/, message: /time limit of 300 ms|CPU time/ }, limits: TIME_BOUND },
  'microtask-loop': {
    code: 'const spin = () => Promise.resolve().then(spin); await spin();',
    expect: { code: /APP_TIMEOUT/, message: /time limit|CPU time/ },
    // every chained promise stays reachable: 32 MB filled within the 300 ms on a loaded machine
    limits: { ...TIME_BOUND, memoryMb: 256 },
  },
  'loop-after-await': {
    code: 'await Promise.resolve(); await null; for (;;) {}',
    expect: { code: /APP_TIMEOUT/, message: /time limit|CPU time/ },
    limits: TIME_BOUND,
  },
  'never-settles': {
    code: 'await new Promise(() => {});',
    expect: { code: /APP_TIMEOUT/, message: /did not finish: its promise can never settle/ },
    limits: TIME_BOUND,
  },
  'bigint-power': {
    code: 'const x = 7n ** 30000000n; return { name: "big", value: Number(x % 10n) };',
    expect: { code: /APP_TIMEOUT|APP_MEMORY_LIMIT/, message: /time limit|CPU time|memory/ },
    limits: TIME_BOUND,
  },
  'heap-exhaustion': {
    code: 'const a = []; for (;;) a.push(new Array(1e5).fill(1.5));',
    expect: { code: /APP_MEMORY_LIMIT/, message: /memory limit of 32 MB|memory beyond recovery/ },
    limits: SLOW_BOUND,
  },
  // V8 cannot recover from this one: the runner process aborts, the supervisor restarts it,
  // and after the last attempt the window is recorded as failed without running it again
  'catastrophic-oom': {
    code: 'const m = new Map(); for (let i = 0; ; i++) m.set(i, { i });',
    expect: { code: /APP_MEMORY_LIMIT/, message: /exhausted V8's memory beyond recovery .* and crashed its runner, which was restarted/ },
    limits: SLOW_BOUND,
  },
  // memory exhaustion ends in one of three ways, depending on where V8 runs out: a RangeError,
  // the isolate disposed at its limit, or a crash beyond recovery; each is recorded
  'arraybuffer-exhaustion': {
    code: 'const k = []; for (;;) k.push(new ArrayBuffer(64 * 1024 * 1024));',
    expect: { code: /APP_ERROR|APP_MEMORY_LIMIT/, message: /Array buffer allocation failed|memory/ },
    limits: SLOW_BOUND,
  },
  'webassembly-memory': {
    code: 'const mems = []; for (let i = 0; i < 40; i++) mems.push(new WebAssembly.Memory({ initial: 160 }));',
    expect: { code: /APP_ERROR/, message: /WebAssembly is not defined/ },
  },
  'atomics-wait': {
    code: 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);',
    expect: { code: /APP_ERROR/, message: /(Atomics|SharedArrayBuffer) is not defined/ },
  },
  'string-blowup': {
    code: 'let s = "x"; for (;;) s += s;',
    expect: { code: /APP_ERROR|APP_MEMORY_LIMIT/, message: /Invalid string length|memory/ },
    limits: SLOW_BOUND,
  },
  'stack-overflow': {
    code: 'const f = (n) => f(n + 1) + 1; f(0);',
    expect: { code: /APP_ERROR/, message: /Maximum call stack size exceeded/ },
    limits: { timeoutMs: 5000, memoryMb: 32 },
  },
  'unhandled-rejection': {
    code: 'Promise.reject(new Error("nobody handles me")); return { name: "ok", value: 1 };',
    expect: { code: /APP_ERROR/, message: /nobody handles me/ },
  },
  'throws-string': { code: 'throw "a plain string";', expect: { code: /APP_ERROR/, message: /threw: .*(a plain string|not an instance of .Error.)/ } },
  'stack-getter-throws': {
    code: 'const e = new Error("bad stack"); Object.defineProperty(e, "stack", { get() { throw new Error("no stack for you"); } }); throw e;',
    expect: { code: /APP_ERROR|APP_TIMEOUT/, message: /threw|time limit/ },
    limits: TIME_BOUND,
  },
  'probe-host': {
    code: 'const g = globalThis as Record<string, unknown>; const found = ["process", "require", "Buffer", "fetch", "setTimeout", "setInterval", "WebAssembly", "SharedArrayBuffer", "Atomics", "module", "__dirname"].map((k) => typeof g[k]).concat([Object.getOwnPropertyNames(globalThis).filter((k) => k.startsWith("__mw") && !["__mw_factory", "__mw_bind", "__mw_run", "__mw_take"].includes(k)).join()]); throw new Error("probe: " + JSON.stringify(found));',
    expect: {
      code: /APP_ERROR/,
      message:
        /probe: \["undefined","undefined","undefined","undefined","undefined","undefined","undefined","undefined","undefined","undefined","undefined",""\]/,
    },
  },
  'giant-output': {
    code: 'return { name: "g", value: 1, kind: 0, status: 0, extraData: { s: "x".repeat(200000) } };',
    expect: { code: /APP_INVALID_OUTPUT/, message: /extraData is \d+ bytes of JSON, over the limit of 65536 bytes/ },
  },
  'proxy-output': { code: 'return new Proxy({ name: "p", value: 1 }, {});', expect: { code: /APP_INVALID_OUTPUT/, message: /output is a Proxy/ } },
  'getter-output': {
    code: 'return Object.defineProperty({ name: "g" }, "value", { get: () => 1, enumerable: true });',
    expect: { code: /APP_INVALID_OUTPUT/, message: /output\.value is a getter/ },
  },
  'cyclic-output': { code: 'const o = { name: "c", value: 1 }; o.self = o; return o;', expect: { code: /APP_INVALID_OUTPUT/, message: /a cycle/ } },
  'function-output': { code: 'return { name: "f", value: () => 1 };', expect: { code: /APP_INVALID_OUTPUT/, message: /output\.value is a function/ } },
  'log-flood': {
    code: 'for (let i = 0; i < 1e6; i++) ctx.logger.info("flood " + i); return { name: "flooded", value: 1 };',
    expect: { code: /ok/, message: /.*/ },
    limits: SLOW_BOUND,
  },
  pollution: {
    code: 'const seen = typeof globalThis.leak; globalThis.leak = 1; Object.prototype.polluted = true; Array.prototype.evil = 1; return { name: "seen_before", value: seen === "undefined" && ({}).polluted === true ? 0 : 1 };',
    expect: { code: /ok/, message: /.*/ },
  },
};

/** Every window with rows fails (the others return a result, log-flood included: its flood is cut). */
const failsEveryWindow = (name: string): boolean => name in HOSTILE && !HOSTILE[name]!.expect.code.test('ok');

const GOOD = `export default class Good extends MonitoringApplication {
  doTracking(ctx: MonitoringContext) {
    const polluted = ({} as Record<string, unknown>).polluted !== undefined || ([] as unknown as Record<string, unknown>).evil !== undefined;
    return [{ name: 'rows', value: ctx.sample.length, kind: ResultKind.SystemPerformance, status: polluted ? ResultStatus.Detected : ResultStatus.NoDetection }];
  }
}`;

async function writePlugin(root: string, name: string, body: string, limits: object = ROOMY): Promise<string> {
  const dir = join(root, name);
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(join(dir, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', description: `hostile: ${name}`, entry: 'src/index.ts', limits }));
  await writeFile(
    join(dir, 'src/index.ts'),
    `import { MonitoringApplication, ResultKind, ResultStatus, type MonitoringContext } from '@modelwatch/sdk';\n${body}\n`,
  );
  return dir;
}

const hostileBody = (code: string) => `export default class Hostile extends MonitoringApplication {
  // eslint-disable-next-line
  async doTracking(ctx: MonitoringContext): Promise<any> {
    if (ctx.sample.length === 0) return [];
    void ResultKind; void ResultStatus;
    ${code}
  }
}`;

describe('hostile plugins next to a well-behaved one, on a running host', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const PERIOD = 1000;
  const WINDOWS = 5;
  const WINDOW_ATTEMPTS = 2;
  let first = 0;
  let last = 0;
  let windows: WindowRecord[] = [];
  let plugins: PluginRecord[] = [];

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-hostile-');
    env = await startTestHost({
      natsUrl: nats.url,
      basePeriod: PERIOD,
      allowedLateness: 200,
      runners: 2,
      runnerConcurrency: 4,
      windowAttempts: WINDOW_ATTEMPTS,
      quarantineAfter: 3,
    });
    await publishDir(env.client, await writePlugin(dir.path, 'good', GOOD, {}));
    for (const [name, h] of Object.entries(HOSTILE)) await publishDir(env.client, await writePlugin(dir.path, name, hostileBody(h.code), h.limits));
    await env.client.createEndpoint({ name: 'target', featureNames: ['x'], labelNames: ['y'] });
    first = Math.ceil((Date.now() + 500) / PERIOD) * PERIOD;
    for (let w = 0; w < WINDOWS; w++) {
      const ws = first + w * PERIOD;
      await untilWallClock(ws);
      await env.client.sendEvents(
        'target',
        Array.from({ length: 20 }, (_, i) => ({ when: ws + i * 10, inputs: [[i]], outputs: [0] })),
      );
    }
    last = first + (WINDOWS - 1) * PERIOD;
    // each plugin's own event: a plugin that fails every window is quarantined (its failures in
    // window order reach 3 whatever order they are stored in), any other has an outcome for every
    // window (not only the last: a window lost with a crashed runner is redelivered later)
    let missing: string[] = [];
    windows = await waitFor(
      'outcomes of every plugin',
      async () => {
        // plugins first: the windows that led to a quarantine are stored before it
        const ps = await env.client.listPlugins();
        const ws = (await env.client.results({ endpoint: 'target', limit: 100_000 })).filter((w) => w.windowStart >= first && w.windowStart <= last);
        const count = (name: string) => ws.filter((w) => w.app === name).length;
        missing = ps
          .filter((p) => (failsEveryWindow(p.name) ? p.status !== 'quarantined' : count(p.name) < WINDOWS))
          .map((p) => `${p.name} (${p.status}, ${count(p.name)} windows)`);
        if (missing.length) return undefined;
        plugins = ps;
        return ws;
      },
      150_000,
      500,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; still missing: ${missing.join(', ')}`);
    });
  }, 240_000);

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('the well-behaved plugin produced every window, unpolluted', () => {
    const good = windows.filter((w) => w.app === 'good').sort((a, b) => a.windowStart - b.windowStart);
    expect(good.map((w) => w.windowStart)).toEqual(Array.from({ length: WINDOWS }, (_, i) => first + i * PERIOD));
    for (const w of good) {
      expect(w.outcome).toBe('ok');
      expect(w.results).toEqual([expect.objectContaining({ name: 'rows', value: 20, status: 0 })]);
    }
    // how late it is next to hostile plugins is a figure of bench/hostile-neighbours.mjs, not an
    // assertion: it is the time spent queued behind their windows and retries, which grows with
    // the machine's load (18-25 s with the other sessions' tests running on these 2 cores)
  });

  it.each(Object.entries(HOSTILE).filter(([, h]) => !h.expect.code.test('ok')))(
    '%s: each failure is recorded for its window with a clear reason',
    (name, h) => {
      const mine = windows.filter((w) => w.app === name);
      const p = plugins.find((x) => x.name === name)!;
      expect(mine.length + (p.status === 'quarantined' ? 1 : 0)).toBeGreaterThan(0);
      for (const w of mine) {
        expect(w.outcome).toBe('error');
        if (w.error!.code === 'WINDOW_FAILED') {
          // every delivery of this window was lost with its runner, which neighbours crash (as
          // bigint-power and catastrophic-oom do on every window): recorded as such, with a count
          const lost = Number(/gave up after (\d+) deliveries ended without an outcome/.exec(w.error!.message)?.[1]);
          expect(lost).toBeGreaterThanOrEqual(WINDOW_ATTEMPTS + CRASH_TOLERANCE - 1);
        } else {
          expect(w.error!.code).toMatch(h.expect.code);
          expect(w.error!.message).toMatch(h.expect.message);
        }
        expect(w.error!.message).toContain(`${name}@1.0.0 on endpoint target, window ${new Date(w.windowStart).toISOString()}`);
        expect(w.error!.message).not.toMatch(/\/work\/|node_modules|host\/src|host\/dist/);
        // two tries of its own, plus redeliveries when another plugin crashed the runner it was
        // on; a runner gives up at the delivery after those (which may be lost too)
        if (w.error!.code !== 'WINDOW_FAILED') expect(w.attempts).toBeLessThanOrEqual(WINDOW_ATTEMPTS + CRASH_TOLERANCE);
      }
      expect(p.lastError?.code).toMatch(new RegExp(`${h.expect.code.source}|WINDOW_FAILED`));
    },
  );

  it('a plugin failing window after window is quarantined with the reason, and analyses no more windows', async () => {
    const quarantined = plugins.filter((p) => p.status === 'quarantined');
    expect(quarantined.map((p) => p.name).sort()).toEqual(Object.keys(HOSTILE).filter(failsEveryWindow).sort());
    // 3, or more when the outputs of earlier windows came last and completed a longer run at once
    for (const p of quarantined)
      expect(Number(/^failed (\d+) windows in a row on endpoint target; last: /.exec(p.statusReason ?? '')?.[1])).toBeGreaterThanOrEqual(3);
    expect(plugins.filter((p) => p.status !== 'quarantined').every((p) => p.status === 'active')).toBe(true);
    // more traffic: the good plugin analyses it, quarantined ones do not
    const more = Math.ceil((Date.now() + 200) / PERIOD) * PERIOD;
    await untilWallClock(more);
    await env.client.sendEvents(
      'target',
      Array.from({ length: 5 }, (_, i) => ({ when: more + i, inputs: [[i]], outputs: [0] })),
    );
    const after = await waitFor('the good plugin on the new window', async () => {
      const ws = await env.client.results({ endpoint: 'target', limit: 100_000 });
      return ws.some((w) => w.app === 'good' && w.windowStart === more) ? ws : undefined;
    });
    expect(after.find((w) => w.app === 'good' && w.windowStart === more)!.results[0]!.value).toBe(5);
    // the positive marker for "no more": every task dispatched so far (a quarantined plugin's for
    // this window would have gone out with the good plugin's) has been run and its output stored
    await waitUntilDrained(nats.url);
    const late = (await env.client.results({ endpoint: 'target', limit: 100_000 })).filter((w) => w.windowStart === more);
    for (const p of quarantined) expect(late.filter((w) => w.app === p.name)).toEqual([]);
  });

  it('log floods are cut, and pollution does not reach the next window or another plugin', () => {
    const flood = windows.filter((w) => w.app === 'log-flood');
    expect(flood.length).toBeGreaterThan(0);
    for (const w of flood) expect(w.outcome).toBe('ok');
    const pol = windows.filter((w) => w.app === 'pollution');
    expect(pol.length).toBeGreaterThanOrEqual(WINDOWS);
    for (const w of pol) expect(w.metrics.find((m) => m.name === 'seen_before')?.value).toBe(0);
  });

  it('the host and its runners are still up; a re-enabled quarantined plugin runs again', async () => {
    expect((await env.client.health()).ok).toBe(true);
    await waitFor('both runners up again', () => (env.host.runnerPids().length === 2 ? true : undefined), 20_000);
    const q = await env.client.enablePlugin('sync-loop');
    expect(q.status).toBe('active');
    expect(q.statusReason).toBeUndefined();
  });

  it('refuses at publish, with strict, what fails its dry run, keeping the running version', async () => {
    const broken = await writePlugin(
      dir.path,
      'good',
      'export default class Broken extends MonitoringApplication { doTracking(): never { throw new Error("broken on purpose"); } }',
      {},
    );
    await writeFile(join(broken, 'plugin.json'), JSON.stringify({ name: 'good', version: '2.0.0', description: 'broken', entry: 'src/index.ts' }));
    await expect(publishDir(env.client, broken, { strict: true })).rejects.toThrow(
      /refused \(strict\): dry run on endpoint 'target' failed: APP_ERROR: good@2\.0\.0 threw: broken on purpose \(at src\/index\.ts:2:\d+\)/,
    );
    const good = (await env.client.listPlugins()).find((p) => p.name === 'good')!;
    expect(good.activeVersion).toBe('1.0.0');
    expect(good.versions.map((v) => v.version)).toEqual(['1.0.0']);
    // top-level await, malformed manifests, a wrong default export and banned imports never reach the host
    const tla = await writePlugin(
      dir.path,
      'tla',
      'await Promise.resolve();\nexport default class A extends MonitoringApplication { doTracking() { return []; } }',
      {},
    );
    await expect(bundlePlugin(tla)).rejects.toThrow(/does not build:[\s\S]*src\/index\.ts:2:\d+: Top-level await is currently not supported/);
    const notClass = await writePlugin(dir.path, 'not-class', 'export default 42; void MonitoringApplication;', {});
    await expect(publishDir(env.client, notClass)).rejects.toThrow(/default-export a class extending MonitoringApplication, got number/);
    const banned = await writePlugin(
      dir.path,
      'banned',
      "import { execSync } from 'node:child_process';\nexport default class A extends MonitoringApplication { doTracking() { execSync('id'); return []; } }",
      {},
    );
    await expect(bundlePlugin(banned)).rejects.toThrow(/src\/index\.ts:2:\d+: 'node:child_process' is a Node\.js built-in module/);
    await writeFile(join(banned, 'plugin.json'), '{"name": "Bad Name", "version": "x"}');
    await expect(bundlePlugin(banned)).rejects.toThrow(/plugin\.json is not valid:/);
    await expect(bundlePlugin(banned)).rejects.toThrow(/missing field 'entry'/);
    await expect(bundlePlugin(banned)).rejects.toThrow(/name: must match pattern/);
  });
});
