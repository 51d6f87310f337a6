import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { docBlocks } from './helpers/doc-blocks.js';
import { HISTOGRAM_PLUGIN, publishDir, REPO, rng, startTestHost } from './helpers/host.js';
import { startTestInfluxdb, startWriteCapture, type InfluxSeries, type TestInfluxdb } from './helpers/influxdb.js';
import { startTestNats } from './helpers/nats.js';
import { untilWallClock, waitFor } from './helpers/tmp.js';

/**
 * The Grafana dashboards (dashboards/grafana/) against what the writer really writes: a host with
 * real traffic (one endpoint drifting, one steady) writes its points to a recorder of the InfluxDB
 * v2 write API; the recorded line protocol is loaded into a real InfluxDB 1.6 (Debian's influxd,
 * through its 1.x `/write`), and every panel query and template variable query of every dashboard
 * runs there with its variables expanded the way Grafana expands them, each answer checked for
 * the series, columns and tags the panel needs.
 */

const DIR = join(REPO, 'dashboards/grafana');
const PERIOD = 1000;
const DRIFT = 'gf-drift';
const STEADY = 'gf-steady';
const APP = 'histogram-data-drift';
const ERRORS = 5;

interface Target {
  refId: string;
  query: string;
  rawQuery?: boolean;
  resultFormat?: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  interval?: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  gridPos: { h: number; w: number; x: number; y: number };
}
interface Variable {
  name: string;
  type: string;
  query: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  datasource?: { type: string; uid: string };
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  tags: string[];
  panels: Panel[];
  templating: { list: Variable[] };
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const dashboards = files.map((f) => ({ file: f, d: JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Dashboard }));
const byUid = (uid: string) => dashboards.find((x) => x.d.uid === uid)!.d;

const datasourceFile = parseYaml(readFileSync(join(DIR, 'provisioning/datasources/modelwatch-influxdb.yaml'), 'utf8')) as {
  apiVersion: number;
  datasources: Array<{ type: string; uid: string; jsonData: { version: string; dbName: string; timeInterval?: string } }>;
};
const providerFile = parseYaml(readFileSync(join(DIR, 'provisioning/dashboards/modelwatch.yaml'), 'utf8')) as {
  apiVersion: number;
  providers: Array<{ type: string; folder: string; options: { path: string } }>;
};

/** Grafana's duration syntax (`10s`, `1m`) in ms. */
function durationMs(s: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(s);
  if (!m) throw new Error(`'${s}' is not a Grafana interval`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
}

/** What Grafana's InfluxDB data source does to a value of a multi-value variable used in a regex. */
const escapeRegex = (s: string) => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/**
 * Expand a query's variables as Grafana's InfluxDB data source does: `$timeFilter` to the range
 * (an absolute one in epoch ms, a relative one as `now() - 1h`), `$__interval` / `$__interval_ms` to the panel's interval (its min interval, else
 * the data source's `timeInterval`), a template variable to its selected values (regex-escaped,
 * several as `(a|b)`, "All" as the variable's `allValue`). An unknown variable fails: a dashboard
 * may use only what it defines.
 */
function expand(query: string, o: { timeFilter: string; interval: string; selected: Record<string, string[] | 'all'>; vars: Variable[] }): string {
  return query.replace(/\$(\w+)|\$\{(\w+)\}/g, (_, a?: string, b?: string) => {
    const name = (a ?? b)!;
    if (name === 'timeFilter') return o.timeFilter;
    if (name === '__interval') return o.interval;
    if (name === '__interval_ms') return String(durationMs(o.interval));
    const v = o.vars.find((x) => x.name === name);
    if (!v) throw new Error(`unknown variable $${name} in: ${query}`);
    const sel = o.selected[name];
    if (!sel) throw new Error(`no selection given for $${name}`);
    if (sel === 'all') {
      if (v.allValue === undefined) throw new Error(`$${name} has "All" without an allValue`);
      return v.allValue;
    }
    return sel.length === 1 ? escapeRegex(sel[0]!) : `(${sel.map(escapeRegex).join('|')})`;
  });
}

/** The split of `s` on `sep` outside parentheses and quotes. */
function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'" || (c === '/' && depth >= 0 && /=~\s*$/.test(s.slice(0, i)))) quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && s.startsWith(sep, i)) {
      out.push(s.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

/** The columns and GROUP BY tags a panel's InfluxQL statement answers with (its outer SELECT). */
function expectedShape(query: string): { columns: string[]; tags: string[] } {
  const [select, rest] = splitTop(query.replace(/^SELECT\s+/, ''), ' FROM ') as [string, string];
  const columns = splitTop(select, ',').map((item) => {
    const as = /\bAS\s+"(\w+)"\s*$/.exec(item.trim());
    if (!as) throw new Error(`'${item.trim()}' has no AS "name": a panel's columns are named (${query})`);
    return as[1]!;
  });
  const groupBy = splitTop(rest, ' GROUP BY ');
  const tags =
    groupBy.length > 1
      ? splitTop(groupBy.at(-1)!.replace(/\s+fill\(\w+\)\s*$/, ''), ',')
          .map((t) => t.trim())
          .filter((t) => !t.startsWith('time('))
          .map((t) => t.replace(/^"|"$/g, ''))
      : [];
  return { columns: ['time', ...columns], tags: tags.sort() };
}

/** The template variables' selections each dashboard's queries are run with (and each with "All"). */
const SELECTIONS: Record<string, Record<string, string[]>> = {
  'modelwatch-overview': { endpoint: [DRIFT, STEADY] },
  'modelwatch-details': { endpoint: [DRIFT], app: [APP] },
  'modelwatch-performance': { endpoint: [DRIFT, STEADY] },
  'modelwatch-applications': { app: [APP], endpoint: [DRIFT, STEADY] },
};
/**
 * `$timeFilter` as Grafana writes it: for an absolute range with the given selection, for the last
 * hour with "All".
 */
const timeFilter = (which: 'given' | 'all', from: number, to: number) => (which === 'given' ? `time >= ${from}ms and time <= ${to}ms` : 'time >= now() - 1h');
/** A dashboard's selections, or "All" for each variable that has it. */
function selection(d: Dashboard, which: 'given' | 'all'): Record<string, string[] | 'all'> {
  const given = SELECTIONS[d.uid]!;
  if (which === 'given') return given;
  return Object.fromEntries(Object.entries(given).map(([k, v]) => [k, d.templating.list.find((x) => x.name === k)?.includeAll ? ('all' as const) : v]));
}
/** What each template variable must list. */
const VARIABLE_VALUES: Record<string, string[]> = { endpoint: [DRIFT, STEADY], app: [APP] };

describe('Grafana dashboards: files', () => {
  it('are the four dashboards, provisioning-ready, on the InfluxDB data source with raw InfluxQL', () => {
    expect(dashboards.map((x) => x.d.uid).sort()).toEqual(['modelwatch-applications', 'modelwatch-details', 'modelwatch-overview', 'modelwatch-performance']);
    for (const { file, d } of dashboards) {
      expect(d.schemaVersion, file).toBeGreaterThanOrEqual(39);
      expect(d.tags, file).toContain('modelwatch');
      expect(d).not.toHaveProperty('id');
      expect(d).not.toHaveProperty('__inputs');
      const ds = d.templating.list.find((v) => v.name === 'datasource')!;
      expect(ds, `${file}: a datasource variable`).toMatchObject({ type: 'datasource', query: 'influxdb' });
      const ids = d.panels.map((p) => p.id);
      expect(new Set(ids).size, `${file}: panel ids`).toBe(ids.length);
      for (const p of d.panels) {
        expect(p.datasource, `${file} / ${p.title}`).toEqual({ type: 'influxdb', uid: '${datasource}' });
        expect(p.targets?.length, `${file} / ${p.title}: its queries`).toBeGreaterThan(0);
        for (const t of p.targets!) {
          expect(t, `${file} / ${p.title}`).toMatchObject({ rawQuery: true, datasource: { type: 'influxdb', uid: '${datasource}' } });
          expect(t.query, `${file} / ${p.title}: InfluxQL, not Flux`).toMatch(/^SELECT /);
          expect(t.query).not.toMatch(/from\(bucket|\|>/);
        }
        expect(p.gridPos.x + p.gridPos.w, `${file} / ${p.title}: fits the 24 columns`).toBeLessThanOrEqual(24);
      }
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        expect(v.datasource, `${file} $${v.name}`).toEqual({ type: 'influxdb', uid: '${datasource}' });
        expect(v.query, `${file} $${v.name}`).toMatch(/^SHOW TAG VALUES /);
      }
    }
  });

  it('come with a data source (InfluxQL) and a dashboard provider that the README shows', () => {
    expect(datasourceFile.apiVersion).toBe(1);
    expect(datasourceFile.datasources).toHaveLength(1);
    expect(datasourceFile.datasources[0]).toMatchObject({
      type: 'influxdb',
      uid: 'modelwatch-influxdb',
      jsonData: { version: 'InfluxQL', dbName: 'modelwatch' },
    });
    expect(providerFile.providers[0]).toMatchObject({ type: 'file', folder: 'modelwatch' });
    // the README's Grafana YAML blocks: the files themselves, and the data sources of InfluxDB 2.x and 3.x
    const lines = readFileSync(join(REPO, 'README.md'), 'utf8').split('\n');
    const first = lines.indexOf('## Grafana dashboards') + 1;
    expect(first, 'README has a section "Grafana dashboards"').toBeGreaterThan(0);
    const end = lines.findIndex((l, i) => i >= first && l.startsWith('## '));
    const yamlBlocks = docBlocks(REPO, 'README.md').filter((b) => b.lang === 'yaml' && b.line > first && (end < 0 || b.line <= end));
    expect(yamlBlocks.length).toBeGreaterThanOrEqual(3);
    const sources = yamlBlocks.map((b) => parseYaml(b.text) as { apiVersion: number; datasources?: Array<Record<string, unknown>>; providers?: unknown[] });
    for (const s of sources) expect(s.apiVersion).toBe(1);
    const ds = sources.flatMap((s) => s.datasources ?? []);
    expect(ds.length).toBeGreaterThanOrEqual(3);
    for (const d of ds) expect(d).toMatchObject({ type: 'influxdb', jsonData: { version: 'InfluxQL', dbName: 'modelwatch' } });
    expect(sources.some((s) => JSON.stringify(s) === JSON.stringify(providerFile))).toBe(true);
    expect(sources.some((s) => JSON.stringify(s) === JSON.stringify(datasourceFile))).toBe(true);
  });
});

describe('Grafana dashboards: every query against the writer’s points in InfluxDB 1.6', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let influx: TestInfluxdb;
  let capture: Awaited<ReturnType<typeof startWriteCapture>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let from = 0;
  let to = 0;

  beforeAll(async () => {
    // one after the other: each is in hand for afterAll, whichever fails to start
    nats = await startTestNats();
    influx = await startTestInfluxdb();
    capture = await startWriteCapture();
    env = await startTestHost({
      natsUrl: nats.url,
      basePeriod: PERIOD,
      // room for a send that a loaded machine slows: no row of the traffic may come late
      allowedLateness: 1000,
      servingInterval: PERIOD,
      influx: { url: capture.url, org: 'test', bucket: datasourceFile.datasources[0]!.jsonData.dbName, token: 't' },
    });
    await publishDir(env.client, HISTOGRAM_PLUGIN);
    const r = rng(11);
    const normalRow = () => [r.normal(0, 1), r.normal(10, 2), r.uniform()];
    const driftRow = () => [r.normal(4, 1), r.normal(2, 2), r.uniform() ** 6];
    const mildRow = () => [r.normal(2.2, 1), r.normal(6, 2), r.uniform() ** 3];
    const reference = ['a,b,c', ...Array.from({ length: 2000 }, () => normalRow().join(','))].join('\n');
    for (const name of [DRIFT, STEADY]) {
      await env.client.createEndpoint({ name, featureNames: ['a', 'b', 'c'] });
      await env.client.setReference(name, reference, 'csv');
    }
    // four windows: STEADY normal throughout; DRIFT normal, a little drifted (potential detection),
    // then drifted (detected) twice, with a few failed requests; the rows are the same on every run
    const start = Math.ceil(Date.now() / PERIOD) * PERIOD;
    from = start - 60_000;
    for (let w = 0; w < 4; w++) {
      const ws = start + w * PERIOD;
      await untilWallClock(ws);
      for (const name of [DRIFT, STEADY]) {
        const gen = name !== DRIFT ? normalRow : [normalRow, mildRow, driftRow, driftRow][w]!;
        const events: unknown[] = Array.from({ length: 200 }, (_, i) => ({
          when: ws + (i * (PERIOD - 10)) / 200,
          inputs: [gen()],
          outputs: [r.uniform()],
          requestId: `${name}-${ws}-${i}`,
          latencyMicros: Math.round(500 + 1000 * r.uniform()),
        }));
        if (name === DRIFT && w === 0) {
          for (let i = 0; i < ERRORS; i++)
            events.push({ when: ws + i, inputs: [normalRow()], requestId: `err-${i}`, error: 'model failed', latencyMicros: 100 });
        }
        const res = await env.client.sendEvents(name, events);
        expect(res.rejected).toEqual([]);
      }
    }
    const windowEnds = [1, 2, 3, 4].map((i) => start + i * PERIOD);
    // what the writer sent: a result point of every window of both endpoints, and serving points counting every request
    await waitFor(
      'the points of every window and every request recorded from the writer',
      () => {
        const lines = capture.lines();
        const results = (ep: string) => lines.filter((l) => l.startsWith('app_results,') && l.includes(`endpoint_name=${ep},`));
        const requests = (ep: string) =>
          lines
            .filter((l) => l.startsWith('serving_metrics,') && new RegExp(`endpoint_name=${ep}[ ,]`).test(l))
            .reduce((n, l) => n + Number(/[ ,]requests=([\d.e+-]+)/.exec(l)?.[1] ?? 0), 0);
        const done =
          [DRIFT, STEADY].every((ep) => windowEnds.every((t) => results(ep).some((l) => l.endsWith(` ${t}`)))) &&
          requests(DRIFT) === 800 + ERRORS &&
          requests(STEADY) === 800;
        return done ? true : undefined;
      },
      45_000,
      200,
    );
    to = Date.now() + 60_000;
    // into InfluxDB 1.6 as the writer sent it, with the writer's precision in 1.x's words
    for (const w of capture.writes) await influx.write(w.body, ({ ns: 'n', us: 'u', ms: 'ms', s: 's' } as Record<string, string>)[w.precision]!);
  }, 120_000);

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await capture?.close();
    await influx?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it('the writer wrote the measurements the dashboards read, in ms, to the configured bucket', () => {
    expect(new Set(capture.writes.map((w) => `${w.precision} ${w.bucket}`))).toEqual(new Set([`ms ${datasourceFile.datasources[0]!.jsonData.dbName}`]));
    const measurements = new Set(capture.lines().map((l) => l.slice(0, l.indexOf(','))));
    expect(measurements).toEqual(new Set(['app_results', 'app_metrics', 'serving_metrics']));
  });

  it.each(dashboards.map(({ file, d }) => ({ file, d })))('$file: every template variable lists its values', async ({ d }) => {
    const vars = d.templating.list;
    for (const v of vars.filter((x) => x.type === 'query')) {
      for (const sel of ['given', 'all'] as const) {
        const selected = selection(d, sel);
        const q = expand(v.query, { timeFilter: timeFilter(sel, from, to), interval: '10s', selected, vars });
        const series = await influx.query(q);
        expect(series.length, `$${v.name}: ${q}`).toBeGreaterThan(0);
        expect(series[0]!.columns).toEqual(['key', 'value']);
        const values = series.flatMap((s) => s.values.map((x) => x[1] as string));
        expect(values, `$${v.name}: ${q}`).toEqual(expect.arrayContaining(VARIABLE_VALUES[v.name]!));
      }
    }
  });

  it.each(dashboards.map(({ file, d }) => ({ file, d })))('$file: every panel query returns its series, columns and tags', async ({ d }) => {
    const vars = d.templating.list;
    const interval = datasourceFile.datasources[0]!.jsonData.timeInterval ?? '10s';
    for (const p of d.panels) {
      for (const t of p.targets ?? []) {
        const shape = expectedShape(t.query);
        for (const sel of ['given', 'all'] as const) {
          const selected = selection(d, sel);
          const q = expand(t.query, { timeFilter: timeFilter(sel, from, to), interval: p.interval ?? interval, selected, vars });
          const where = `${d.uid} / ${p.title} / ${t.refId} (${sel}): ${q}`;
          const series: InfluxSeries[] = await influx.query(q);
          expect(series.length, where).toBeGreaterThan(0);
          for (const s of series) {
            expect(s.columns, where).toEqual(shape.columns);
            expect(Object.keys(s.tags ?? {}).sort(), where).toEqual(shape.tags);
            expect(
              s.values.some((row) => row.slice(1).some((x) => x !== null)),
              where,
            ).toBe(true);
          }
        }
      }
    }
  });

  /** The answer of a panel's query with the dashboard's given selection, as rows keyed by column and tag. */
  async function panelRows(uid: string, title: string, refId = 'A'): Promise<Array<Record<string, unknown>>> {
    const d = byUid(uid);
    const p = d.panels.find((x) => x.title === title)!;
    const t = p.targets!.find((x) => x.refId === refId)!;
    const q = expand(t.query, {
      timeFilter: timeFilter('given', from, to),
      interval: p.interval ?? '10s',
      selected: SELECTIONS[uid]!,
      vars: d.templating.list,
    });
    return (await influx.query(q)).flatMap((s) => s.values.map((v) => ({ ...s.tags, ...Object.fromEntries(s.columns.map((c, i) => [c, v[i]])) })));
  }

  it('show what happened: the drifted endpoint detected and potential, the steady one not, the failed requests', async () => {
    const latest = await panelRows('modelwatch-overview', 'Latest result per endpoint, app and result');
    const status = (ep: string) => latest.find((r) => r.endpoint_name === ep && r.result_name === 'general_drift')?.status;
    expect(status(DRIFT)).toBe(2);
    expect(status(STEADY)).toBe(0);
    expect(await panelRows('modelwatch-overview', 'Endpoints monitored')).toEqual([expect.objectContaining({ endpoints: 2 })]);
    expect(await panelRows('modelwatch-overview', 'Results detected')).toEqual([expect.objectContaining({ detected: 2 })]);
    expect(await panelRows('modelwatch-overview', 'Results potentially drifted')).toEqual([expect.objectContaining({ potential: 1 })]);
    expect(await panelRows('modelwatch-details', 'Drift status')).toEqual([expect.objectContaining({ status: 2 })]);
    const metrics = await panelRows('modelwatch-details', 'Latest metrics');
    expect(metrics.map((m) => m.metric_name).sort()).toEqual(['hellinger_mean', 'kld_mean', 'tvd_mean']);
    expect(await panelRows('modelwatch-performance', 'Requests')).toEqual([expect.objectContaining({ requests: 1600 + ERRORS })]);
    const [rate] = await panelRows('modelwatch-performance', 'Error rate');
    expect(rate!.error_rate).toBeCloseTo(ERRORS / (1600 + ERRORS), 10);
    // the Apps table joins its four answers on the app
    const apps = await Promise.all(['A', 'B', 'C', 'D'].map((refId) => panelRows('modelwatch-applications', 'Apps', refId)));
    expect(apps.map((rows) => rows.map(({ time: _, ...rest }) => rest))).toEqual([
      [{ application: APP, endpoints: 2 }],
      [{ application: APP, results: 8 }],
      [{ application: APP, detected: 2 }],
      [{ application: APP, potential: 1 }],
    ]);
  });
});
