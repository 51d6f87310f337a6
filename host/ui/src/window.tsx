import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, enc, fmtNum, fmtTime, STATUS_NAMES, type WindowRecord } from './api.js';
import { Bars } from './chart.js';
import { href } from './router.js';

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
  const [win, setWin] = useState<WindowRecord | null>();
  const [refStats, setRefStats] = useState<Record<string, FeatureStats>>({});
  const [profile, setProfile] = useState<Record<string, FeatureStats> | null>(null);
  const [error, setError] = useState<string>();
  useEffect(() => {
    api<{ windows: WindowRecord[] }>(`/api/v1/results?endpoint=${enc(endpoint)}&app=${enc(app)}&since=${start}`)
      .then((r) => setWin(r.windows.find((w) => w.windowStart === start) ?? null))
      .catch((e: Error) => setError(e.message));
    api<{ featureStats: Record<string, FeatureStats> }>(`/api/v1/endpoints/${enc(endpoint)}`)
      .then((r) => setRefStats(r.featureStats ?? {}))
      .catch((e: Error) => setError(e.message));
    // the window's own profile, where the host keeps them (404 before)
    api<{ features: Record<string, FeatureStats> }>(`/api/v1/endpoints/${enc(endpoint)}/profiles/${start}`)
      .then((r) => setProfile(r.features))
      .catch((e: unknown) => {
        if (!(e instanceof ApiError && e.status === 404)) setError((e as Error).message);
      });
  }, [endpoint, app, start]);
  if (error)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (win === undefined) return <p>Loading…</p>;
  if (win === null)
    return (
      <p role="alert">
        No window of {app} starting at {fmtTime(start)} on {endpoint}.
      </p>
    );
  const drift = featureDrift(win);
  const listed = new Set(drift.map((d) => d.feature));
  const rest = Object.keys(refStats).filter((f) => !listed.has(f));
  return (
    <section>
      <h1>
        Window <span class="name">{fmtTime(win.windowStart)}</span> of <a href={href(['endpoints', endpoint])}>{endpoint}</a>
      </h1>
      <p class="meta">
        {app} {win.version}: {win.outcome}, {win.rows} rows, {fmtTime(win.windowStart)} – {fmtTime(win.windowEnd)}
      </p>
      <table class="results">
        <caption>Results</caption>
        <thead>
          <tr>
            <th scope="col">Result</th>
            <th scope="col">Value</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {win.results.map((r) => (
            <tr>
              <td>{r.name}</td>
              <td>{fmtNum(r.value)}</td>
              <td>
                <span class={`badge lvl-${(STATUS_NAMES[String(r.status)] ?? '').replace(' ', '-')}`}>{STATUS_NAMES[String(r.status)] ?? r.status}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Features</h2>
      <ol class="features">
        {drift.map((d) => (
          <Feature d={d} ref_={refStats[d.feature]} win={profile?.[d.feature]} />
        ))}
        {rest.map((f) => (
          <Feature
            d={{ feature: f, source: '', test: 'not compared', statistic: null, pValue: null, verdict: 'not compared', score: 0, details: {} }}
            ref_={refStats[f]}
            win={profile?.[f]}
          />
        ))}
      </ol>
    </section>
  );
}

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

function Distribution({ ref_, win, name }: { ref_: FeatureStats | undefined; win: FeatureStats | undefined; name: string }) {
  if (!ref_) return <p class="meta">No reference statistics.</p>;
  if (ref_.type === 'numeric') {
    const edges = ref_.hist.edges;
    const bins = ref_.hist.counts.map((_, i) => `[${fmtNum(edges[i])}, ${fmtNum(edges[i + 1])})`);
    const series = [{ name: 'reference', counts: ref_.hist.counts, color: '#90a4ae' }];
    if (win?.type === 'numeric' && win.hist.counts.length === ref_.hist.counts.length)
      series.push({ name: 'window', counts: win.hist.counts, color: '#1565c0' });
    return <Bars label={`${name}: histogram`} bins={bins} series={series} />;
  }
  const wf = win?.type === 'categorical' ? win.frequencies : {};
  const cats = [...new Set([...Object.keys(ref_.frequencies), ...Object.keys(wf)])].slice(0, 40);
  const unseen = new Set(cats.map((c, i) => (ref_.frequencies[c] === undefined ? i : -1)).filter((i) => i >= 0));
  const series = [{ name: 'reference', counts: cats.map((c) => ref_.frequencies[c] ?? 0), color: '#90a4ae' }];
  if (win?.type === 'categorical') series.push({ name: 'window', counts: cats.map((c) => wf[c] ?? 0), color: '#1565c0' });
  return (
    <div>
      <Bars label={`${name}: categories`} bins={cats} series={series} marked={unseen} />
      {unseen.size > 0 && (
        <p class="meta unseen">
          Unseen in the reference:{' '}
          {[...unseen].map((i) => (
            <code>{cats[i]} </code>
          ))}
        </p>
      )}
    </div>
  );
}

function StatsTable({ ref_, win }: { ref_: FeatureStats | undefined; win: FeatureStats | undefined }) {
  const rows: Array<[string, (s: FeatureStats | undefined) => string]> = [
    ['count', (s) => fmtNum(s?.count)],
    ['missing', (s) => fmtNum(s?.missing)],
    ['mean', (s) => (s?.type === 'numeric' ? fmtNum(s.mean) : '—')],
    ['std', (s) => (s?.type === 'numeric' ? fmtNum(s.std) : '—')],
    ['min', (s) => (s?.type === 'numeric' ? fmtNum(s.min) : '—')],
    ['25%', (s) => (s?.type === 'numeric' ? fmtNum(s.quantiles['0.25']) : '—')],
    ['50%', (s) => (s?.type === 'numeric' ? fmtNum(s.quantiles['0.5']) : '—')],
    ['75%', (s) => (s?.type === 'numeric' ? fmtNum(s.quantiles['0.75']) : '—')],
    ['max', (s) => (s?.type === 'numeric' ? fmtNum(s.max) : '—')],
    ['unique', (s) => (s?.type === 'categorical' ? fmtNum(s.unique) : '—')],
  ];
  return (
    <table class="stats">
      <thead>
        <tr>
          <th scope="col">Statistic</th>
          <th scope="col">Reference</th>
          <th scope="col">Window</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([k, f]) => (
          <tr>
            <th scope="row">{k}</th>
            <td>{f(ref_)}</td>
            <td>{win ? f(win) : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
