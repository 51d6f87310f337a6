import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, fmtNum, fmtTime, onLive, type EndpointSummary, type LatestResult, type PluginRecord } from './api.js';
import { alertsByEndpoint, useActiveAlerts } from './alerts.js';
import { go, href, type Route } from './router.js';

/**
 * Worst first: what the colour of a row says. A detection outranks an app that failed (its
 * newest window's outcome was `error`: that app says nothing of drift now, the others may), a
 * failure outranks a quarantined app (quarantine follows failures and is already known), and all
 * of them outrank a calm or silent endpoint.
 */
export const LEVELS = ['detected', 'potential', 'failed', 'quarantined', 'no detection', 'no data'] as const;
export type Level = (typeof LEVELS)[number];
const RANK: Record<Level, number> = { detected: 0, potential: 1, failed: 2, quarantined: 3, 'no detection': 4, 'no data': 5 };
type Outcomes = Record<string, { windowStart: number; outcome: string }>;

export function levelOfStatus(s: number | null | undefined): Level {
  return s === 2 ? 'detected' : s === 1 ? 'potential' : s === 0 || s === -1 ? 'no detection' : 'no data';
}

interface Row {
  name: string;
  labels: string;
  apps: Array<{ app: string; level: Level; windowStart: number }>;
  worst: Level;
  eventsPerS: number | null;
  errorRate: number | null;
  p99: number | null;
  lastEvent: number | null;
  windows: number;
  analysed: number | null;
  alerts: number;
}

const ROW_H = 34;

export function Overview({ route }: { route: Route }) {
  const [eps, setEps] = useState<EndpointSummary[] | undefined>();
  const [latest, setLatest] = useState<LatestResult[]>([]);
  const [plugins, setPlugins] = useState<PluginRecord[]>([]);
  const [error, setError] = useState<string>();
  const filter = route.query.get('q') ?? '';
  const status = route.query.get('status') ?? '';
  const sort = route.query.get('sort') ?? 'status';

  // one request: endpoints with their stats, latest values and plugins (GET /api/v1/overview)
  const load = () =>
    api<{ endpoints: EndpointSummary[]; latest: LatestResult[]; plugins: PluginRecord[] }>('/api/v1/overview')
      .then((o) => {
        setEps(o.endpoints);
        setLatest(o.latest);
        setPlugins(o.plugins);
        setError(undefined);
      })
      .catch((err: Error) => setError(err.message));
  useEffect(() => {
    void load();
    return onLive(
      (w) => {
        setLatest((prev) => {
          const next = prev.filter((r) => !(r.endpointId === w.endpointId && r.app === w.app && w.results.some((x) => x.name === r.name)));
          for (const r of w.results)
            next.push({ ...r, endpointId: w.endpointId, endpointName: w.endpoint, app: w.app, windowStart: w.windowStart, windowEnd: w.windowEnd });
          return next;
        });
        setSeen((n) => n + 1);
      },
      () => void load(),
    );
  }, []);
  const [seen, setSeen] = useState(0);
  // each app's newest outcome by endpoint id, as windows are stored after the load
  const [liveOutcomes, setLiveOutcomes] = useState<Record<string, Outcomes>>({});
  useEffect(
    () =>
      onLive((w) => {
        // an empty window tells nothing of an app (as the writer's lastOutcomes)
        if (w.outcome !== 'empty')
          setLiveOutcomes((prev) => ({ ...prev, [w.endpointId]: { ...prev[w.endpointId], [w.app]: { windowStart: w.windowStart, outcome: w.outcome } } }));
      }),
    [],
  );
  const active = useActiveAlerts();
  const alerts = useMemo(() => alertsByEndpoint(active), [active]);

  const rows = useMemo((): Row[] => {
    if (!eps) return [];
    const quarantined = new Set(plugins.filter((p) => p.status === 'quarantined').map((p) => p.name));
    const byEp = new Map<string, LatestResult[]>();
    for (const l of latest) byEp.set(l.endpointName, [...(byEp.get(l.endpointName) ?? []), l]);
    return eps.map((e) => {
      const apps = new Map<string, { app: string; level: Level; windowStart: number }>();
      for (const l of byEp.get(e.name) ?? []) {
        const level: Level = quarantined.has(l.app) ? 'quarantined' : levelOfStatus(l.status);
        const cur = apps.get(l.app);
        if (!cur || RANK[level] < RANK[cur.level]) apps.set(l.app, { app: l.app, level, windowStart: Math.max(l.windowStart, cur?.windowStart ?? 0) });
      }
      // an app whose newest window failed (newer than its newest results)
      for (const [app, o] of Object.entries({ ...e.stats?.lastOutcomes, ...liveOutcomes[e.id] })) {
        if (o.outcome !== 'error' || quarantined.has(app)) continue;
        const results = (byEp.get(e.name) ?? []).filter((l) => l.app === app);
        if (results.every((l) => l.windowStart < o.windowStart)) apps.set(app, { app, level: 'failed', windowStart: o.windowStart });
      }
      // a quarantined app analyses no endpoint: shown on every one, with or without results
      for (const q of quarantined) apps.set(q, { app: q, level: 'quarantined', windowStart: apps.get(q)?.windowStart ?? 0 });
      const list = [...apps.values()].sort((a, b) => a.app.localeCompare(b.app));
      const worst = list.reduce<Level>((w, a) => (RANK[a.level] < RANK[w] ? a.level : w), 'no data');
      const li = e.stats?.lastInterval;
      return {
        name: e.name,
        labels: Object.entries(e.tags ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
        apps: list,
        worst,
        eventsPerS: li ? li.requests / (li.intervalMs / 1000) : null,
        errorRate: e.stats && e.stats.requests > 0 ? e.stats.errors / e.stats.requests : null,
        p99: li?.latencyP99 ?? null,
        lastEvent: e.stats?.lastRequest ?? null,
        windows: list.length,
        analysed: e.stats?.windowsAnalysed ?? null,
        alerts: alerts.get(e.name)?.length ?? 0,
      };
    });
  }, [eps, latest, plugins, seen, liveOutcomes, alerts]);

  const shown = useMemo(() => {
    const f = filter.toLowerCase();
    const out = rows.filter((r) => (!f || r.name.toLowerCase().includes(f) || r.labels.toLowerCase().includes(f)) && (!status || r.worst === status));
    const cmp: Record<string, (a: Row, b: Row) => number> = {
      status: (a, b) => RANK[a.worst] - RANK[b.worst] || a.name.localeCompare(b.name),
      name: (a, b) => a.name.localeCompare(b.name),
      events: (a, b) => (b.eventsPerS ?? -1) - (a.eventsPerS ?? -1),
      errors: (a, b) => (b.errorRate ?? -1) - (a.errorRate ?? -1),
      p99: (a, b) => (b.p99 ?? -1) - (a.p99 ?? -1),
      last: (a, b) => (b.lastEvent ?? 0) - (a.lastEvent ?? 0),
      analysed: (a, b) => (b.analysed ?? -1) - (a.analysed ?? -1),
    };
    return out.sort(cmp[sort] ?? cmp.status);
  }, [rows, filter, status, sort]);

  // only the rows in view are in the DOM: 1,000 endpoints scroll as fast as 10
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    const f = () => setHeight(box.current?.clientHeight ?? 600);
    f();
    addEventListener('resize', f);
    return () => removeEventListener('resize', f);
  }, [eps]);
  const first = Math.max(0, Math.floor(top / ROW_H) - 5);
  const last = Math.min(shown.length, Math.ceil((top + height) / ROW_H) + 5);

  const setQuery = (k: string, v: string) => go([], { q: filter, status, sort, [k]: v }, true);
  const th = (key: string, label: string) => (
    <th scope="col" aria-sort={sort === key ? 'descending' : 'none'}>
      <a href={href([], { q: filter, status, sort: key })}>{label}</a>
    </th>
  );

  if (error)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (!eps) return <p>Loading…</p>;
  return (
    <section>
      <h1>Endpoints</h1>
      <div class="toolbar">
        <label>
          Filter <input type="search" value={filter} placeholder="name or label" onInput={(e) => setQuery('q', (e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Status{' '}
          <select value={status} onChange={(e) => setQuery('status', (e.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            {LEVELS.map((l) => (
              <option value={l}>{l}</option>
            ))}
          </select>
        </label>
        <span class="count" data-testid="count">
          {shown.length} of {rows.length} endpoints
        </span>
      </div>
      <div class="vtable" ref={box} onScroll={(e) => setTop((e.target as HTMLDivElement).scrollTop)}>
        <table class="endpoints">
          <thead>
            <tr>
              {th('status', 'Status')}
              {th('name', 'Endpoint')}
              <th scope="col">Apps</th>
              {th('events', 'Events/s')}
              {th('errors', 'Error rate')}
              {th('p99', 'p99 latency')}
              {th('last', 'Last event')}
              <th scope="col">Apps reporting</th>
              {th('analysed', 'Windows analysed')}
            </tr>
          </thead>
          <tbody>
            {first > 0 && (
              <tr aria-hidden="true" style={{ height: `${first * ROW_H}px` }}>
                <td colSpan={9} />
              </tr>
            )}
            {shown.slice(first, last).map((r) => (
              <tr key={r.name} data-endpoint={r.name} data-status={r.worst} class={`lvl-${r.worst.replace(' ', '-')}`}>
                <td>
                  <span class={`badge lvl-${r.worst.replace(' ', '-')}`}>{r.worst}</span>
                </td>
                <td>
                  <a href={href(['endpoints', r.name])}>{r.name}</a>
                  {r.alerts > 0 && (
                    <a class="count-badge" href={href(['alerts'])} data-testid="endpoint-alerts" aria-label={`${r.alerts} active alerts`}>
                      {r.alerts}
                    </a>
                  )}
                  {r.labels && <small class="labels"> {r.labels}</small>}
                </td>
                <td>
                  {r.apps.map((a) => (
                    <span class={`chip lvl-${a.level.replace(' ', '-')}`} title={`${a.app}: ${a.level}`} data-app={a.app} data-status={a.level}>
                      {a.app}: {a.level}
                    </span>
                  ))}
                </td>
                <td>{fmtNum(r.eventsPerS, 2)}</td>
                <td>{r.errorRate === null ? '—' : `${fmtNum(r.errorRate * 100, 2)}%`}</td>
                <td>{r.p99 === null ? '—' : `${fmtNum(r.p99 / 1000, 2)} ms`}</td>
                <td>{fmtTime(r.lastEvent)}</td>
                <td>{r.windows}</td>
                <td data-testid="analysed">{r.analysed ?? '—'}</td>
              </tr>
            ))}
            {last < shown.length && (
              <tr aria-hidden="true" style={{ height: `${(shown.length - last) * ROW_H}px` }}>
                <td colSpan={9} />
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
