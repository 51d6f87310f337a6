import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, enc, fmtNum, fmtTime, STATUS_NAMES, type WindowRecord, type WindowReply } from './api.js';
import { Bars } from './chart.js';
import { href } from './router.js';
import { Table } from './table.js';

interface NumericStats {
  type: 'numeric';
  count: number;
  missing: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  quantiles: Record<string, number>;
  hist: { counts: number[]; edges: number[] };
}
interface CategoricalStats {
  type: 'categorical';
  count: number;
  missing: number;
  unique: number;
  frequencies: Record<string, number>;
}
type FeatureStats = NumericStats | CategoricalStats;

interface FeatureDrift {
  feature: string;
  /** What decided it: the app and the test. */
  source: string;
  test: string;
  statistic: number | null;
  pValue: number | null;
  verdict: string;
  score: number;
  details: Record<string, unknown>;
}

/** Per-feature drift from the window's results: histogram-data-drift's extraData.features, data-drift's drift_<feature> results. */
function featureDrift(w: WindowRecord): FeatureDrift[] {
  const out: FeatureDrift[] = [];
  for (const r of w.results) {
    const x = r.extraData ?? {};
    const feats = x.features as Record<string, { tvd: number; hellinger: number; kld: number }> | undefined;
    const t = x.thresholds as { potentialThreshold?: number; detectedThreshold?: number } | undefined;
    if (feats && typeof feats === 'object') {
      for (const [f, d] of Object.entries(feats)) {
        const v = (d.tvd + d.hellinger) / 2;
        const verdict =
          t?.detectedThreshold !== undefined && v >= t.detectedThreshold
            ? 'detected'
            : t?.potentialThreshold !== undefined && v >= t.potentialThreshold
              ? 'potential'
              : 'no detection';
        out.push({
          feature: f,
          source: `${w.app} ${r.name}`,
          test: 'histogram distances (TVD, Hellinger, KLD)',
          statistic: v,
          pValue: null,
          verdict,
          score: v,
          details: d,
        });
      }
    } else if (r.name.startsWith('drift_')) {
      const f = r.name.slice('drift_'.length);
      const num = (k: string) => (typeof x[k] === 'number' ? (x[k] as number) : null);
      const statistic = num('statistic') ?? num('stat');
      const pValue = num('pValue') ?? num('p_value');
      out.push({
        feature: f,
        source: `${w.app} ${r.name}`,
        test: String(x.method ?? x.test ?? x.stattest ?? 'drift test'),
        statistic: statistic ?? r.value,
        pValue,
        verdict: STATUS_NAMES[String(r.status)] ?? String(r.status),
        score: r.status * 10 + (pValue !== null ? 1 - pValue : r.value),
        details: x,
      });
    }
  }
  const rank: Record<string, number> = { detected: 0, potential: 1 };
  return out.sort((a, b) => (rank[a.verdict] ?? 2) - (rank[b.verdict] ?? 2) || b.score - a.score || a.feature.localeCompare(b.feature));
}

export function WindowPage({ endpoint, app, start }: { endpoint: string; app: string; start: number }) {
  const [found, setFound] = useState<{ windows: WindowRecord[]; profile: Record<string, FeatureStats> | null } | null>();
  const [refStats, setRefStats] = useState<Record<string, FeatureStats>>({});
  const [error, setError] = useState<string>();
  useEffect(() => {
    // the window however old: the writer looks it up by its key
    api<WindowReply>(`/api/v1/endpoints/${enc(endpoint)}/windows/${start}`)
      .then((r) => setFound({ windows: r.windows, profile: (r.profile?.features as Record<string, FeatureStats> | undefined) ?? null }))
      .catch((e: unknown) => (e instanceof ApiError && e.status === 404 ? setFound(null) : setError((e as Error).message)));
    api<{ featureStats: Record<string, FeatureStats> }>(`/api/v1/endpoints/${enc(endpoint)}`)
      .then((r) => setRefStats(r.featureStats ?? {}))
      .catch((e: Error) => setError(e.message));
  }, [endpoint, app, start]);
  if (error)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (found === undefined) return <p>Loading…</p>;
  const win = found?.windows.find((w) => w.app === app);
  if (!found || !win)
    return (
      <p role="alert">
        No window of {app} starting at {fmtTime(start)} on {endpoint}.
      </p>
    );
  // this app's window first, then the other apps' outputs of the same window
  const windows = [win, ...found.windows.filter((w) => w !== win)];
  const drift = windows.flatMap(featureDrift);
  const listed = new Set(drift.map((d) => d.feature));
  const rest = Object.keys(refStats).filter((f) => !listed.has(f));
  return (
    <section>
      <h1>
        Window <span class="name">{fmtTime(win.windowStart)}</span> of <a href={href(['endpoints', endpoint])}>{endpoint}</a>
      </h1>
      <p class="meta">
        {fmtTime(win.windowStart)} – {fmtTime(win.windowEnd)}, {win.rows} rows
      </p>
      <Table
        class="results"
        caption="Results of every app"
        head={['App', 'Result', 'Value', 'Status']}
        rows={windows.flatMap((w) => [...w.results.map((r) => ({ w, r })), ...(w.outcome !== 'ok' ? [{ w, r: undefined }] : [])])}
        attrs={({ w, r }) => ({ 'data-app': w.app, 'data-outcome': r ? undefined : w.outcome })}
        cells={({ w, r }) => (
          <>
            <td>
              {w.app} {w.version}
            </td>
            {r ? (
              <>
                <td>{r.name}</td>
                <td>{fmtNum(r.value)}</td>
                <td>
                  <span class={`badge lvl-${(STATUS_NAMES[String(r.status)] ?? '').replace(' ', '-')}`}>{STATUS_NAMES[String(r.status)] ?? r.status}</span>
                </td>
              </>
            ) : (
              <>
                <td colSpan={2}>{w.outcome === 'error' ? (w.error ?? 'the app failed') : 'no rows'}</td>
                <td>
                  <span class={`badge lvl-${w.outcome === 'error' ? 'failed' : 'no-data'}`}>{w.outcome === 'error' ? 'failed' : w.outcome}</span>
                </td>
              </>
            )}
          </>
        )}
      />
      <h2>Features</h2>
      <ol class="features">
        {[...drift, ...rest.map(notCompared)].map((d) => (
          <Feature d={d} ref_={refStats[d.feature]} win={found.profile?.[d.feature]} />
        ))}
      </ol>
    </section>
  );
}

const notCompared = (feature: string): FeatureDrift => ({
  feature,
  source: '',
  test: 'not compared',
  statistic: null,
  pValue: null,
  verdict: 'not compared',
  score: 0,
  details: {},
});

function Feature({ d, ref_, win }: { d: FeatureDrift; ref_: FeatureStats | undefined; win: FeatureStats | undefined }) {
  return (
    <li class="feature" data-feature={d.feature} data-verdict={d.verdict}>
      <h3>
        <span class="fname">{d.feature}</span> <span class={`badge lvl-${d.verdict.replace(' ', '-')}`}>{d.verdict}</span>
      </h3>
      <p class="meta">
        {d.test}
        {d.statistic !== null && <> · statistic {fmtNum(d.statistic)}</>}
        {d.pValue !== null && <> · p-value {fmtNum(d.pValue)}</>}
        {d.source && <> · {d.source}</>}
      </p>
      {Object.keys(d.details).length > 0 && (
        <p class="meta">
          {Object.entries(d.details)
            .filter(([, v]) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')
            .map(([k, v]) => `${k}: ${typeof v === 'number' ? fmtNum(v) : String(v)}`)
            .join(' · ')}
        </p>
      )}
      <div class="feature-body">
        <Distribution ref_={ref_} win={win} name={d.feature} />
        <StatsTable ref_={ref_} win={win} />
      </div>
    </li>
  );
}

/** The bins of a feature and the reference's and window's counts in them: the reference's histogram bins, or the categories of both. */
function binsOf(ref_: FeatureStats, win: FeatureStats | undefined): { bins: string[]; counts: [number[], number[] | undefined]; unseen: Set<number> } {
  if (ref_.type === 'numeric') {
    const e = ref_.hist.edges;
    const w = win?.type === 'numeric' && win.hist.counts.length === ref_.hist.counts.length ? win.hist.counts : undefined;
    return { bins: ref_.hist.counts.map((_, i) => `[${fmtNum(e[i])}, ${fmtNum(e[i + 1])})`), counts: [ref_.hist.counts, w], unseen: new Set() };
  }
  const wf = win?.type === 'categorical' ? win.frequencies : undefined;
  const bins = [...new Set([...Object.keys(ref_.frequencies), ...Object.keys(wf ?? {})])].slice(0, 40);
  return {
    bins,
    counts: [bins.map((c) => ref_.frequencies[c] ?? 0), wf && bins.map((c) => wf[c] ?? 0)],
    unseen: new Set(bins.flatMap((c, i) => (ref_.frequencies[c] === undefined ? [i] : []))),
  };
}

function Distribution({ ref_, win, name }: { ref_: FeatureStats | undefined; win: FeatureStats | undefined; name: string }) {
  if (!ref_) return <p class="meta">No reference statistics.</p>;
  const { bins, counts, unseen } = binsOf(ref_, win);
  const series = [{ name: 'reference', counts: counts[0], color: '#90a4ae' }];
  if (counts[1]) series.push({ name: 'window', counts: counts[1], color: '#1565c0' });
  return (
    <div>
      <Bars label={`${name}: ${ref_.type === 'numeric' ? 'histogram' : 'categories'}`} bins={bins} series={series} marked={unseen} />
      {unseen.size > 0 && (
        <p class="meta unseen">
          Unseen in the reference:{' '}
          {[...unseen].map((i) => (
            <code>{bins[i]} </code>
          ))}
        </p>
      )}
    </div>
  );
}

function StatsTable({ ref_, win }: { ref_: FeatureStats | undefined; win: FeatureStats | undefined }) {
  const numeric = (f: (s: NumericStats) => number | undefined) => (s: FeatureStats | undefined) => (s?.type === 'numeric' ? fmtNum(f(s)) : '—');
  const rows: Array<[string, (s: FeatureStats | undefined) => string]> = [
    ['count', (s) => fmtNum(s?.count)],
    ['missing', (s) => fmtNum(s?.missing)],
    ['mean', numeric((s) => s.mean)],
    ['std', numeric((s) => s.std)],
    ['min', numeric((s) => s.min)],
    ['25%', numeric((s) => s.quantiles['0.25'])],
    ['50%', numeric((s) => s.quantiles['0.5'])],
    ['75%', numeric((s) => s.quantiles['0.75'])],
    ['max', numeric((s) => s.max)],
    ['unique', (s) => (s?.type === 'categorical' ? fmtNum(s.unique) : '—')],
  ];
  return (
    <Table
      class="stats"
      head={['Statistic', 'Reference', 'Window']}
      rows={rows}
      cells={([k, f]) => (
        <>
          <th scope="row">{k}</th>
          <td>{f(ref_)}</td>
          <td>{win ? f(win) : '—'}</td>
        </>
      )}
    />
  );
}
