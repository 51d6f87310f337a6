import { describe, expect, it } from 'vitest';
import { MonitoringApplication, type MonitoringContext } from '../src/index.js';
import { runApp } from '../src/testing.js';

class Table extends MonitoringApplication {
  doTracking(ctx: MonitoringContext) {
    ctx.logArtifact('table.csv', 'feature,tvd\nx,0.5\n', { contentType: 'text/csv' });
    ctx.logArtifact('raw.bin', Uint8Array.from([1, 2, 3]));
    ctx.logArtifact('note.txt', 'héllo');
    return [];
  }
}

const tryLog = (fn: (ctx: MonitoringContext) => void) =>
  class extends MonitoringApplication {
    doTracking(ctx: MonitoringContext) {
      fn(ctx);
      return [];
    }
  };

describe('ctx.logArtifact in @modelwatch/sdk/testing', () => {
  it('returns the artifacts in the test run, with their content types', async () => {
    const run = await runApp(Table, { sample: { x: [1, 2] } });
    expect(run.artifacts.map((a) => [a.name, a.contentType, a.body.length])).toEqual([
      ['table.csv', 'text/csv', 18],
      ['raw.bin', 'application/octet-stream', 3],
      ['note.txt', 'text/plain; charset=utf-8', 6],
    ]);
    expect(run.artifacts[0]!.text()).toBe('feature,tvd\nx,0.5\n');
  });

  it('refuses bad names, content types and bodies with a clear error', async () => {
    const cases: Array<[(ctx: MonitoringContext) => void, RegExp]> = [
      [(ctx) => ctx.logArtifact('../etc/passwd', 'x'), /artifact name '..\/etc\/passwd' is not valid: .*no path separators/],
      [(ctx) => ctx.logArtifact('a/b', 'x'), /not valid/],
      [(ctx) => ctx.logArtifact('x'.repeat(129), 'x'), /not valid/],
      [(ctx) => ctx.logArtifact('a.svg', 'x', { contentType: 'text/html<script>' }), /contentType must be a MIME type/],
      [(ctx) => ctx.logArtifact('a.bin', [1, 2] as unknown as Uint8Array), /must be a string or a Uint8Array/],
      [
        (ctx) => {
          ctx.logArtifact('a.txt', 'x');
          ctx.logArtifact('a.txt', 'y');
        },
        /artifact 'a.txt' was already logged in this window/,
      ],
    ];
    for (const [fn, message] of cases) {
      await expect(runApp(tryLog(fn), { sample: { x: [1] } })).rejects.toMatchObject({ code: 'INVALID_ARTIFACT', message: expect.stringMatching(message) });
    }
  });

  it('enforces the per-artifact and per-window limits', async () => {
    const big = tryLog((ctx) => ctx.logArtifact('big.txt', 'x'.repeat(2048)));
    await expect(runApp(big, { sample: { x: [1] }, artifactLimits: { artifactBytes: 1024 } })).rejects.toThrow(
      "artifact 'big.txt' is more than 1024 bytes, over the limit of 1024 bytes per artifact (limits.artifactBytes in plugin.json)",
    );
    const many = tryLog((ctx) => {
      for (let i = 0; i < 10; i++) ctx.logArtifact(`part-${i}.bin`, new Uint8Array(1000));
    });
    await expect(runApp(many, { sample: { x: [1] }, artifactLimits: { windowArtifactBytes: 4096 } })).rejects.toThrow(
      "artifact 'part-4.bin' (1000 bytes) would bring this window's artifacts to 5000 bytes, over the limit of 4096 bytes per window (limits.windowArtifactBytes in plugin.json)",
    );
  });

  it('keeps what the array held when it was logged', async () => {
    const bytes = Uint8Array.from([7, 7]);
    const run = await runApp(
      tryLog((ctx) => {
        ctx.logArtifact('b.bin', bytes);
        bytes[0] = 0;
      }),
      { sample: { x: [1] } },
    );
    expect(Array.from(run.artifacts[0]!.body)).toEqual([7, 7]);
  });
});
