/*
 * ctx.logArtifact in the sandbox: artifacts reach the host through its operation, and the limits
 * hold inside the isolate, before anything is copied out, whatever the plugin does.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PluginSandbox, type SandboxInput, type WindowArtifact } from '../src/runner/sandbox.js';

const T0 = Date.UTC(2026, 0, 1);
const input: SandboxInput = {
  applicationName: 'art',
  endpoint: { id: '0'.repeat(40), name: 'e', featureNames: ['a'], labelNames: [] },
  windowStart: T0,
  windowEnd: T0 + 600_000,
  sample: { length: 1, columns: ['a'], numeric: ['a'], packed: Float64Array.from([1, T0, NaN]), strings: {}, requestIds: [null], timed: true },
  sampleStats: {},
  featureStats: {},
  config: {},
};

const sandboxes: PluginSandbox[] = [];
afterAll(() => {
  for (const sb of sandboxes) sb.dispose();
});

function sandbox(body: string, limits: { artifactBytes?: number; windowArtifactBytes?: number } = {}) {
  const code = `var __mw_plugin = (function () {
    function App() {}
    App.prototype.doTracking = function (ctx) { ${body}; return []; };
    return { default: App };
  })();`;
  const sb = new PluginSandbox({ name: 'art', version: '1.0.0', code, limits: { memoryMb: 64, timeoutMs: 5000, extraDataBytes: 65536, ...limits } });
  sandboxes.push(sb);
  return sb;
}

async function run(sb: PluginSandbox): Promise<WindowArtifact[]> {
  const got: WindowArtifact[] = [];
  await sb.run(input, { onArtifact: (a) => got.push(a) });
  return got;
}

describe('ctx.logArtifact in the sandbox', () => {
  it('hands the window artifacts to the host, strings as UTF-8', async () => {
    const got = await run(
      sandbox(`ctx.logArtifact('t.csv', 'a,b\\n1,é\\n', { contentType: 'text/csv' }); ctx.logArtifact('b.bin', new Uint8Array([1, 2, 255]).subarray(1))`),
    );
    expect(got.map((a) => [a.name, a.contentType, Buffer.from(a.body).toString('hex')])).toEqual([
      ['t.csv', 'text/csv', Buffer.from('a,b\n1,é\n').toString('hex')],
      ['b.bin', 'application/octet-stream', '02ff'],
    ]);
  });

  it('fails the window with a clear error for an artifact over its limit, before copying it', async () => {
    const sb = sandbox(`ctx.logArtifact('big.txt', 'x'.repeat(64 * 1024 * 1024))`, { artifactBytes: 1024 * 1024 });
    const got: WindowArtifact[] = [];
    await expect(sb.run(input, { onArtifact: (a) => got.push(a) })).rejects.toMatchObject({
      code: 'APP_ERROR',
      message: expect.stringContaining(
        "artifact 'big.txt' is more than 1048576 bytes, over the limit of 1048576 bytes per artifact (limits.artifactBytes in plugin.json)",
      ),
    });
    expect(got).toEqual([]);
  });

  it('fails the window when many small artifacts pass the window limit', async () => {
    const sb = sandbox(`for (var i = 0; i < 20; i++) ctx.logArtifact('p' + i + '.bin', new Uint8Array(300 * 1024))`, { windowArtifactBytes: 1024 * 1024 });
    const got: WindowArtifact[] = [];
    await expect(sb.run(input, { onArtifact: (a) => got.push(a) })).rejects.toMatchObject({
      code: 'APP_ERROR',
      message: expect.stringContaining(
        "artifact 'p3.bin' (307200 bytes) would bring this window's artifacts to 1228800 bytes, over the limit of 1048576 bytes per window",
      ),
    });
    expect(got.map((a) => a.name)).toEqual(['p0.bin', 'p1.bin', 'p2.bin']);
  });

  it('is not fooled by a typed array that lies about its size or a polluted prototype', async () => {
    const sb = sandbox(
      `var u = new Uint8Array(2 * 1024 * 1024);
       Object.defineProperty(u, 'byteLength', { value: 10 });
       Object.defineProperty(u, 'length', { value: 10 });
       u.slice = function () { return new Uint8Array(1); };
       Object.defineProperty(Uint8Array, Symbol.hasInstance, { value: function () { return false; } });
       ctx.logArtifact('lie.bin', u)`,
      { artifactBytes: 1024 * 1024 },
    );
    await expect(run(sb)).rejects.toMatchObject({ code: 'APP_ERROR', message: expect.stringContaining("artifact 'lie.bin' is 2097152 bytes, over the limit") });
  });

  it('refuses a path as a name and a content type that is not a MIME type', async () => {
    await expect(run(sandbox(`ctx.logArtifact('../x', 'a')`))).rejects.toThrow(/artifact name '..\/x' is not valid/);
    await expect(run(sandbox(`ctx.logArtifact('x.html', 'a', { contentType: 'text/html\\r\\nX-Evil: 1' })`))).rejects.toThrow(
      /contentType must be a MIME type/,
    );
  });
});

describe('ctx.logArtifact of a window that is over', () => {
  it('refuses an artifact logged through a context kept from an earlier window (isolation: version)', async () => {
    const code = `var __mw_plugin = (function () {
      var kept;
      function App() {}
      App.prototype.doTracking = function (ctx) {
        if (!kept) { kept = ctx; ctx.logArtifact('first.txt', 'one'); return []; }
        try { kept.logArtifact('stale.txt', 'two'); return [{ name: 'stale', value: 0 }]; }
        catch (e) { return [{ name: 'refused', value: 1, kind: 0, status: 0, extraData: { message: e.message } }]; }
      };
      return { default: App };
    })();`;
    const sb = new PluginSandbox({
      name: 'art',
      version: '1.0.0',
      code,
      isolation: 'version',
      limits: { memoryMb: 64, timeoutMs: 5000, extraDataBytes: 65536 },
    });
    sandboxes.push(sb);
    expect((await run(sb)).map((a) => a.name)).toEqual(['first.txt']);
    const got: WindowArtifact[] = [];
    const out = JSON.parse(await sb.run(input, { onArtifact: (a) => got.push(a) })) as Array<{ name: string; extraData?: { message: string } }>;
    expect(got).toEqual([]);
    expect(out[0]).toMatchObject({ name: 'refused', extraData: { message: 'this window is over' } });
  });
});
