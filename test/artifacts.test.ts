import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACT_STORE, type ArtifactInfo, type WindowRecord } from '@modelwatch/protocol';
import { authHeaders, HISTOGRAM_PLUGIN, publishDir, rng, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { CLI } from './helpers/processes.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const run = promisify(execFile);
const MAKER = new URL('./fixtures/plugins/artifact-maker', import.meta.url).pathname;
const PERIOD = 1000;
const RETENTION_MS = 2 * 86_400_000;

/**
 * Artifacts end to end: apps attach files to a window (`ctx.logArtifact`) in the sandbox of a
 * runner process, the runner stores them in `mw_artifacts`, and they are listed and downloaded
 * through HTTP (as attachments that are never rendered) and the CLI.
 */
describe('artifacts: ctx.logArtifact -> mw_artifacts -> HTTP and CLI', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let ws = 0;
  let windows: WindowRecord[] = [];
  const cli = async (...args: string[]) =>
    (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', env.host.apiUrl, ...args], { timeout: 60_000 })).stdout;

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-artifacts-');
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 200, retention: RETENTION_MS });
    await publishDir(env.client, MAKER);
    await publishDir(env.client, HISTOGRAM_PLUGIN);
    await env.client.createEndpoint({ name: 'art', featureNames: ['x'], labelNames: ['y'] });
    const r = rng(3);
    await env.client.setReference('art', ['x,y', ...Array.from({ length: 500 }, () => `${r.normal(0, 1)},0`)].join('\n'), 'csv');
    ws = Math.ceil((Date.now() + 200) / PERIOD) * PERIOD;
    await untilWallClock(ws);
    const events = Array.from({ length: 50 }, (_, i) => ({ when: ws + i * 10, inputs: [[i]], outputs: [0] }));
    expect(await env.client.sendEvents('art', events)).toEqual({ accepted: 50, rejected: [] });
    windows = await waitFor('both apps analysed the window', async () => {
      const w = (await env.client.results({ endpoint: 'art' })).filter((x) => x.windowStart === ws && x.outcome === 'ok');
      return w.length === 2 ? w : undefined;
    });
  });

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('names the artifacts in the window record', () => {
    const maker = windows.find((w) => w.app === 'artifact-maker')!;
    expect(maker.artifacts).toEqual([
      { id: `artifact-maker.${ws}.rows.csv`, name: 'rows.csv', contentType: 'text/csv', size: expect.any(Number) },
      { id: `artifact-maker.${ws}.plot.svg`, name: 'plot.svg', contentType: 'image/svg+xml', size: expect.any(Number) },
    ]);
    const drift = windows.find((w) => w.app === 'histogram-data-drift')!;
    expect(drift.artifacts?.map((a) => a.name)).toEqual(['drift-table.csv']);
  });

  it('lists them over HTTP, by app and window', async () => {
    const list = async (q: string) =>
      ((await (await fetch(`${env.host.apiUrl}/api/v1/endpoints/art/artifacts${q}`, { headers: authHeaders() })).json()) as { artifacts: ArtifactInfo[] })
        .artifacts;
    const all = await list('');
    expect(all.map((a) => a.id).sort()).toEqual([
      `artifact-maker.${ws}.plot.svg`,
      `artifact-maker.${ws}.rows.csv`,
      `histogram-data-drift.${ws}.drift-table.csv`,
    ]);
    expect(all.find((a) => a.name === 'rows.csv')).toMatchObject({
      endpoint: 'art',
      app: 'artifact-maker',
      version: '1.0.0',
      windowStart: ws,
      windowEnd: ws + PERIOD,
    });
    expect((await list('?app=histogram-data-drift')).map((a) => a.name)).toEqual(['drift-table.csv']);
    expect(await list(`?from=${ws + PERIOD}`)).toEqual([]);
    expect(await list(`?to=${new Date(ws).toISOString()}`)).toEqual([]);
    expect((await list(`?from=${new Date(ws).toISOString()}&to=${ws + 1}`)).length).toBe(3);
  });

  it('serves one as an attachment, never rendered: nosniff and a sandboxing CSP', async () => {
    const res = await fetch(`${env.host.apiUrl}/api/v1/endpoints/art/artifacts/artifact-maker.${ws}.plot.svg`, { headers: authHeaders() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="artifact-maker-${new Date(ws).toISOString().replace(/[:.]/g, '-')}-plot.svg"`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("sandbox; default-src 'none'");
    expect(await res.text()).toContain('<script>alert(1)</script>');
    const missing = await fetch(`${env.host.apiUrl}/api/v1/endpoints/art/artifacts/artifact-maker.${ws}.nope.csv`, { headers: authHeaders() });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    const bad = await fetch(`${env.host.apiUrl}/api/v1/endpoints/art/artifacts/${encodeURIComponent('../../etc/passwd')}`, { headers: authHeaders() });
    expect(bad.status).toBe(400);
  });

  it("has histogram-data-drift's per-feature drift table", async () => {
    const a = await env.client.getArtifact('art', `histogram-data-drift.${ws}.drift-table.csv`);
    expect(a.contentType).toBe('text/csv; charset=utf-8');
    const [head, ...rows] = new TextDecoder().decode(a.body).trimEnd().split('\n');
    expect(head).toBe('feature,tvd,hellinger,kld,general_drift');
    expect(rows.map((r) => r.split(',')[0])).toEqual(['x']);
    const general = windows.find((w) => w.app === 'histogram-data-drift')!.results.find((r) => r.name === 'general_drift')!;
    expect(Number(rows[0]!.split(',')[4])).toBeCloseTo(general.value, 12);
  });

  it('artifacts list --endpoint --app --from --to and artifacts get --endpoint --output, through the CLI', async () => {
    const listed = JSON.parse(
      await cli(
        'artifacts',
        'list',
        '--endpoint',
        'art',
        '--app',
        'artifact-maker',
        '--from',
        new Date(ws).toISOString(),
        '--to',
        String(ws + PERIOD),
        '--json',
      ),
    ) as ArtifactInfo[];
    expect(listed.map((a) => a.name).sort()).toEqual(['plot.svg', 'rows.csv']);
    expect(await cli('artifacts', 'list', '--endpoint', 'art')).toContain(`histogram-data-drift.${ws}.drift-table.csv`);
    const file = join(dir.path, 'rows.csv');
    await cli('artifacts', 'get', `artifact-maker.${ws}.rows.csv`, '--endpoint', 'art', '--output', file);
    const text = await readFile(file, 'utf8');
    expect(text.split('\n').slice(0, 3)).toEqual(['x', '0', '1']);
    expect(text.trimEnd().split('\n')).toHaveLength(51);
    expect(await cli('artifacts', 'get', `artifact-maker.${ws}.rows.csv`, '--endpoint', 'art')).toBe(text);
  });

  it('keeps them for the retention', async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const info = await (await jetstreamManager(nc)).streams.info(`OBJ_${ARTIFACT_STORE}`);
      expect(info.config.max_age).toBe(RETENTION_MS * 1e6);
    } finally {
      await nc.close();
    }
  });
});
