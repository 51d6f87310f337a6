import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseCsv } from 'csv-parse/sync';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Streams, Subjects, type RetentionExpiredMessage, type WindowProfile, type WindowStoredMessage } from '@modelwatch/protocol';
import type { CategoricalFeatureStats, NumericFeatureStats } from '@modelwatch/sdk';
import { ModelwatchClient } from '../host/src/client/client.js';
import { endpointId } from '../host/src/domain/names.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { HISTOGRAM_PLUGIN, publishDir, REPO, startTestHost, TEST_TOKEN } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { hostProcess, testHostArgs, type HostProcess } from './helpers/processes.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(REPO, 'host/bin/modelwatch.js');
const PERIOD = 1000;
const CATS = ['red', 'green', 'blue'];
const HOUR = 3_600_000;

/** The rows of window k: `a` numbers (some missing, some of the wrong type), `c` categories. */
function rowsOf(k: number): Array<[number | string | null, string]> {
  const rows: Array<[number | string | null, string]> = [];
  for (let i = 0; i < 60 + 20 * k; i++) rows.push([((i * 7919) % 97) / 10 + k, CATS[(i + k) % 3]!]);
  rows.push([null, 'red'], [null, 'red'], ['oops', 'blue']);
  return rows;
}

const numbersOf = (rows: ReadonlyArray<[number | string | null, string]>) => rows.map((r) => r[0]).filter((v): v is number => typeof v === 'number');
const meanOf = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const stdOf = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + (x - meanOf(xs)) ** 2, 0) / (xs.length - 1));

/** Window profiles on a real host: stored per window with the numbers of the rows sent, kept after the rows are purged, rolled up, exported. */
describe('window profiles: stored, kept after the rows expire, rolled up, exported', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const starts: number[] = [];
  let profiles: WindowProfile[] = [];
  const cli = async (...args: string[]) =>
    (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', env.host.apiUrl, ...args], { timeout: 60_000 })).stdout;

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-profiles-');
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 200 });
    await publishDir(env.client, HISTOGRAM_PLUGIN);
    await env.client.createEndpoint({ name: 'prof', featureNames: ['a', 'c'], labelNames: ['y'] });
    const reference = ['a,c,y', ...Array.from({ length: 300 }, (_, i) => `${(i % 100) / 10},${CATS[i % 3]},0`)].join('\n');
    await env.client.setReference('prof', reference, 'csv');
    const first = Math.ceil((Date.now() + 1500) / PERIOD) * PERIOD;
    for (let k = 0; k < 2; k++) {
      const ws = first + k * PERIOD;
      starts.push(ws);
      const rows = rowsOf(k);
      const res = await env.client.sendEvents('prof', { when: ws + 10, inputs: rows, outputs: rows.map(() => 0) });
      expect(res).toEqual({ accepted: 1, rejected: [], wrongType: { a: 1 } });
    }
    profiles = await waitFor('the profiles of both windows', async () => {
      const p = await env.client.profiles('prof', { from: starts[0], to: starts[1]! + PERIOD });
      return p.length === 2 ? p : undefined;
    });
  });

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('stores one profile per window with the statistics of the rows sent', () => {
    expect(profiles.map((p) => [p.endpoint, p.windowStart, p.windowEnd, p.rows])).toEqual(starts.map((ws, k) => ['prof', ws, ws + PERIOD, rowsOf(k).length]));
    profiles.forEach((p, k) => {
      const rows = rowsOf(k);
      const xs = numbersOf(rows);
      const a = p.features.a as NumericFeatureStats;
      expect(a).toMatchObject({ type: 'numeric', count: xs.length, missing: 3, wrongType: 1, min: Math.min(...xs), max: Math.max(...xs) });
      expect(a.mean).toBeCloseTo(meanOf(xs), 10);
      expect(a.std).toBeCloseTo(stdOf(xs), 10);
      // on the reference's bins: 20 over the training data and an open one at each end
      expect(a.hist.edges).toHaveLength(23);
      expect(a.hist.counts.reduce((s, n) => s + n, 0)).toBe(xs.length);
      expect(Object.keys(a.quantiles)).toEqual(expect.arrayContaining(['0.25', '0.5', '0.75']));
      const c = p.features.c as CategoricalFeatureStats;
      const freq: Record<string, number> = {};
      for (const [, cat] of rows) freq[cat] = (freq[cat] ?? 0) + 1;
      expect(c).toMatchObject({ type: 'categorical', count: rows.length, missing: 0, unique: 3, frequencies: freq });
    });
  });

  it("keeps a window's profile after its rows are purged from the stream", async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.purge(Streams.rows, { filter: `mw.rows.${endpointId('prof')}.>` });
      const info = await jsm.streams.info(Streams.rows, { subjects_filter: `mw.rows.${endpointId('prof')}.>` });
      expect(info.state.subjects ?? {}).toEqual({});
    } finally {
      await nc.close();
    }
    expect(await env.client.profile('prof', starts[0]!)).toEqual(profiles[0]);
    await expect(env.client.profile('prof', starts[0]! + 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // evaluating the window again: no rows left, and the profile shows what it held (a change of
    // the endpoint makes the runner read the rows again instead of its cache of them)
    await env.client.updateEndpoint('prof', { tags: { purged: 'yes' } });
    const [evaluated] = await env.client.evaluatePlugin('histogram-data-drift', { endpoint: 'prof', from: starts[0]!, to: starts[0]! + PERIOD });
    expect(evaluated!.output.rows).toBe(0);
    expect(evaluated!.profile).toEqual(profiles[0]);
    const text = await cli(
      'plugin',
      'evaluate',
      'histogram-data-drift',
      '--endpoint',
      'prof',
      '--from',
      String(starts[0]),
      '--to',
      String(starts[0]! + PERIOD),
    );
    expect(text).toContain(`rows expired; profile kept: ${rowsOf(0).length} rows`);
  });

  it('rolls the windows up by hour and day with counts and means exact', async () => {
    const all = [...rowsOf(0), ...rowsOf(1)];
    const xs = numbersOf(all);
    for (const resolution of ['hour', 'day'] as const) {
      const rolled = await env.client.profiles('prof', { resolution });
      expect(rolled.reduce((s, p) => s + p.rows, 0)).toBe(all.length);
      expect(rolled.reduce((s, p) => s + (p.windows ?? 0), 0)).toBe(2);
      if (rolled.length === 1) {
        const a = rolled[0]!.features.a as NumericFeatureStats;
        expect(a.count).toBe(xs.length);
        expect(a.missing).toBe(6);
        expect(a.mean).toBeCloseTo(meanOf(xs), 10);
        expect(a.std).toBeCloseTo(stdOf(xs), 10);
        expect((rolled[0]!.features.c as CategoricalFeatureStats).count).toBe(all.length);
      }
    }
    const rollups = await env.client.rollups('prof', { resolution: 'day', app: 'histogram-data-drift' });
    // the analysed windows have results (the empty ones after them, none)
    const drift = rollups.flatMap((r) => r.results).filter((r) => r.name === rollups[0]!.results[0]!.name);
    expect(drift.reduce((s, r) => s + r.windows, 0)).toBe(2);
  });

  it('exports results and profiles of a range as JSON Lines and CSV', async () => {
    const [from, to] = [String(starts[0]), String(starts[1]! + PERIOD)];
    const jsonl = join(dir.path, 'prof.jsonl');
    await cli('export', '--endpoint', 'prof', '--from', from, '--to', to, '--what', 'both', '--format', 'jsonl', '-o', jsonl);
    const items = (await readFile(jsonl, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; windowStart: number; app?: string; features?: unknown });
    expect(items.filter((i) => i.type === 'window').map((i) => [i.windowStart, i.app])).toEqual(starts.map((s) => [s, 'histogram-data-drift']));
    expect(items.filter((i) => i.type === 'profile')).toEqual(profiles.map((p) => ({ type: 'profile', ...p })));

    const csv = join(dir.path, 'prof.csv');
    await cli(
      'export',
      '--endpoint',
      'prof',
      '--app',
      'histogram-data-drift',
      '--from',
      from,
      '--to',
      to,
      '--what',
      'profiles',
      '--format',
      'csv',
      '--output',
      csv,
    );
    const rows = parseCsv(await readFile(csv, 'utf8'), { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((r) => [r.type, r.window_start, r.feature])).toEqual(
      starts.flatMap((s) => [
        ['profile', new Date(s).toISOString(), 'a'],
        ['profile', new Date(s).toISOString(), 'c'],
        ['profile', new Date(s).toISOString(), 'y'],
      ]),
    );
    const a0 = rows[0]!;
    expect(Number(a0.count)).toBe(numbersOf(rowsOf(0)).length);
    expect(Number(a0.mean)).toBeCloseTo(meanOf(numbersOf(rowsOf(0))), 10);
    expect(JSON.parse(rows[1]!.categories!)).toEqual((profiles[0]!.features.c as CategoricalFeatureStats).frequencies);

    await expect(cli('export', '--endpoint', 'prof', '--from', from, '--format', 'xml')).rejects.toThrow(/--format: expected jsonl, csv, got 'xml'/);
    const hourly = await cli('export', '--endpoint', 'prof', '--from', from, '--to', to, '--what', 'results', '--resolution', 'hour', '--format', 'csv');
    const hrows = parseCsv(hourly, { columns: true }) as Array<Record<string, string>>;
    expect(hrows.length).toBeGreaterThan(0);
    expect(hrows.every((r) => r.resolution === 'hour' && r.app === 'histogram-data-drift')).toBe(true);
    expect(new Set(hrows.map((r) => Number(new Date(r.window_start!)) % HOUR))).toEqual(new Set([0]));
  });
});

/** Retention on a host started from the CLI with short retentions: windows, profiles and roll-ups expire, and the writer says so. */
describe('retention of results and profiles', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: HostProcess;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-retention-');
    host = await hostProcess([
      ...testHostArgs(dir.path),
      '--nats',
      nats.url,
      '--results-retention',
      '3s',
      '--hourly-retention',
      '4s',
      '--daily-retention',
      '5s',
      '--retention-check-interval',
      '500ms',
    ]);
    await host.start();
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    await host?.stop();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('removes windows, profiles and roll-ups past their retention, announced on mw.retention.expired', async () => {
    const client = new ModelwatchClient({ url: host.url, token: TEST_TOKEN });
    await publishDir(client, HISTOGRAM_PLUGIN);
    await client.createEndpoint({ name: 'short', featureNames: ['a'], labelNames: ['y'] });
    await client.setReference('short', ['a,y', ...Array.from({ length: 50 }, (_, i) => `${i},0`)].join('\n'), 'csv');
    const stored: WindowStoredMessage[] = [];
    const expired: RetentionExpiredMessage[] = [];
    nc.subscribe(Subjects.stored(endpointId('short')), { callback: (_e, m) => void stored.push(jsonCodec.decode(m.data)) });
    nc.subscribe(Subjects.retentionExpired, { callback: (_e, m) => void expired.push(jsonCodec.decode(m.data)) });
    await nc.flush();
    const ws = Math.ceil((Date.now() + 1500) / PERIOD) * PERIOD;
    await client.sendEvents('short', { when: ws + 10, inputs: [[1], [2], [3]], outputs: [0, 0, 0] });
    await waitFor('the window stored', () => stored.find((s) => s.output.windowStart === ws));
    expect((await client.profile('short', ws)).rows).toBe(3);
    // the day's roll-up is the last to go (5 s)
    await waitFor(
      'the window, its profile and its roll-ups expired',
      () => {
        const sum = expired.reduce((s, e) => ({ windows: s.windows + e.windows, profiles: s.profiles + e.profiles, rollups: s.rollups + e.rollups }), {
          windows: 0,
          profiles: 0,
          rollups: 0,
        });
        return sum.windows >= 1 && sum.profiles >= 3 && sum.rollups >= 2 ? sum : undefined;
      },
      30_000,
    );
    expect(expired.every((e) => e.before.window <= e.at - 3000 && e.before.day === e.at - 5000)).toBe(true);
    await expect(client.profile('short', ws)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await client.profiles('short', { resolution: 'day' })).toEqual([]);
    expect((await client.results({ endpoint: 'short' })).filter((w) => w.windowStart === ws)).toEqual([]);
  });
});
