import { useEffect, useState } from 'preact/hooks';
import { api, enc, fmtNum, fmtTime, onLive, type LatestResult } from './api.js';
import { Chart } from './chart.js';
import { go, href } from './router.js';

interface MetricName {
  fullName: string;
  app: string;
  type: 'result' | 'metric';
  name: string;
  windows: number;
  first: number;
  last: number;
}

interface Series {
  name: string;
  total: number;
  downsampled: boolean;
  points: Array<[number, number, number | null]>;
}

const RANGES: Record<string, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };

type Latest = LatestResult & { extraData?: Record<string, unknown> };
type Thresholds = { potential?: number; detected?: number };
type SeriesName = Pick<MetricName, 'fullName' | 'app' | 'type' | 'name'>;

/** The thresholds the app reported with its newest value (histogram-data-drift: extraData.thresholds). */
function thresholdsOf(l: Latest | undefined): Thresholds | undefined {
  const t = l?.extraData?.thresholds as { potentialThreshold?: number; detectedThreshold?: number } | undefined;
  return t ? { potential: t.potentialThreshold, detected: t.detectedThreshold } : undefined;
}

export function EndpointPage({ name, range }: { name: string; range: string }) {
  // the charts of results start from the latest values (a small read); the names of metrics, which
  // read the endpoint's whole series index, are asked for once those charts have their series, so
  // that they never hold the results' charts back nor compete with their reads
  const [latest, setLatest] = useState<Latest[] | undefined>();
  const [metrics, setMetrics] = useState<MetricName[] | undefined>();
  const [error, setError] = useState<string>();
  const [drawn, setDrawn] = useState(0);
  useEffect(() => {
    setLatest(undefined);
    setMetrics(undefined);
    setDrawn(0);
    api<{ latest: Latest[] }>(`/api/v1/results/latest?endpoint=${enc(name)}`)
      .then((r) => setLatest(r.latest))
      .catch((e: Error) => setError(e.message));
  }, [name]);
  const ready = latest !== undefined && drawn >= latest.length;
  useEffect(() => {
    if (!ready || metrics) return;
    api<{ metrics: MetricName[] }>(`/api/v1/endpoints/${enc(name)}/metrics`)
      .then((r) => setMetrics(r.metrics))
      .catch((e: Error) => setError(e.message));
  }, [name, ready]);
  if (error)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (!latest) return <p>Loading…</p>;
  const byName = new Map<string, SeriesName>();
  for (const l of latest) byName.set(`${l.app}.result.${l.name}`, { fullName: `${l.app}.result.${l.name}`, app: l.app, type: 'result', name: l.name });
  for (const m of metrics ?? []) if (m.type === 'result') byName.set(m.fullName, m);
  const results = [...byName.values()].sort((a, b) => a.fullName.localeCompare(b.fullName));
  const others = (metrics ?? []).filter((m) => m.type === 'metric');
  const thresholds = (m: SeriesName) => thresholdsOf(latest.find((x) => x.app === m.app && x.name === m.name));
  return (
    <section>
      <h1>
        Endpoint <span class="name">{name}</span>
      </h1>
      <nav class="toolbar" aria-label="range">
        {['all', ...Object.keys(RANGES)].map((r) => (
          <a href={href(['endpoints', name], { range: r === 'all' ? undefined : r })} aria-current={range === r ? 'page' : undefined}>
            {r}
          </a>
        ))}
        <a href={href(['serving', name])}>Serving</a>
      </nav>
      {results.length === 0 && metrics?.length === 0 && <p>No analysed windows yet.</p>}
      {results.map((m) => (
        <SeriesChart endpoint={name} metric={m} range={range} thresholds={thresholds(m)} onLoad={() => setDrawn((n) => n + 1)} key={`${m.fullName}-${range}`} />
      ))}
      {others.length > 0 && <h2>Metrics</h2>}
      {others.map((m) => (
        <SeriesChart endpoint={name} metric={m} range={range} key={`${m.fullName}-${range}`} />
      ))}
    </section>
  );
}

function SeriesChart({
  endpoint,
  metric,
  range,
  thresholds,
  onLoad,
}: {
  endpoint: string;
  metric: SeriesName;
  range: string;
  thresholds?: Thresholds | undefined;
  /** Called once its series came (or failed). */
  onLoad?: () => void;
}) {
  const [series, setSeries] = useState<Series>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const load = () => {
      const from = RANGES[range] ? Date.now() - RANGES[range]! : undefined;
      return api<Series>(`/api/v1/endpoints/${enc(endpoint)}/series?name=${enc(metric.fullName)}&points=1000${from ? `&from=${from}` : ''}`)
        .then(setSeries)
        .catch((e: Error) => setError(e.message));
    };
    void load().finally(() => onLoad?.());
    return onLive(
      (w) => {
        if (w.endpoint !== endpoint || w.app !== metric.app) return;
        const r = w.results.find((x) => x.name === metric.name);
        if (!r || metric.type !== 'result') return;
        setSeries((s) =>
          s
            ? {
                ...s,
                total: s.total + 1,
                points: [...s.points.filter((p) => p[0] !== w.windowStart), [w.windowStart, r.value, r.status] as [number, number, number | null]].sort(
                  (a, b) => a[0] - b[0],
                ),
              }
            : s,
        );
      },
      () => void load(),
    );
  }, [endpoint, metric.fullName, range]);
  if (error)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (!series) return <p>Loading {metric.fullName}…</p>;
  const detected = series.points.filter((p) => p[2] === 2);
  return (
    <article class="series" data-series={metric.fullName}>
      <h2>
        {metric.app} · {metric.name}
      </h2>
      <Chart
        title={`${metric.app} ${metric.type} ${metric.name}`}
        xs={series.points.map((p) => p[0] / 1000)}
        ys={series.points.map((p) => p[1])}
        statuses={series.points.map((p) => p[2])}
        {...(thresholds && { thresholds })}
        onPick={(i) => {
          const p = series.points[i];
          if (p) go(['endpoints', endpoint, 'windows', metric.app, p[0]]);
        }}
      />
      <p class="meta">
        {series.total} windows{series.downsampled ? `, ${series.points.length} points drawn (downsampled on the server)` : ''}.{' '}
        {detected.length > 0 && (
          <span>
            Detected:{' '}
            {detected.slice(-10).map((p) => (
              <a class="detected-window" href={href(['endpoints', endpoint, 'windows', metric.app, p[0]])}>
                {fmtTime(p[0])} ({fmtNum(p[1])}){' '}
              </a>
            ))}
          </span>
        )}
      </p>
    </article>
  );
}
