import { useEffect, useState } from 'preact/hooks';
import { api, enc, fmtNum, fmtTime, type EndpointSummary } from './api.js';
import { Chart } from './chart.js';
import { href } from './router.js';

interface Interval {
  start: number;
  intervalMs: number;
  requests: number;
  errors: number;
  latencyP50: number | null;
  latencyP99: number | null;
}

export function ServingPage({ name }: { name: string | undefined }) {
  const [eps, setEps] = useState<EndpointSummary[]>();
  const [intervals, setIntervals] = useState<Interval[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!name) {
      api<{ endpoints: EndpointSummary[] }>('/api/v1/endpoints')
        .then((r) => setEps(r.endpoints))
        .catch((e: Error) => setError(e.message));
      return;
    }
    setIntervals(undefined);
    api<{ intervals: Interval[] }>(`/api/v1/endpoints/${enc(name)}/serving?limit=1440`)
      .then((r) => setIntervals([...r.intervals].sort((a, b) => a.start - b.start)))
      .catch((e: Error) => setError(e.message));
  }, [name]);
  if (error)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (!name) {
    return (
      <section>
        <h1>Serving</h1>
        {!eps ? (
          <p>Loading…</p>
        ) : (
          <ul class="plain">
            {eps.map((e) => (
              <li>
                <a href={href(['serving', e.name])}>{e.name}</a> — {e.stats?.requests ?? 0} requests, {e.stats?.errors ?? 0} errors
              </li>
            ))}
          </ul>
        )}
      </section>
    );
  }
  if (!intervals) return <p>Loading…</p>;
  const xs = intervals.map((i) => i.start / 1000);
  const none = intervals.map(() => null);
  return (
    <section>
      <h1>
        Serving of <a href={href(['endpoints', name])}>{name}</a>
      </h1>
      {intervals.length === 0 ? (
        <p>No closed intervals yet.</p>
      ) : (
        <>
          <Chart title="requests" xs={xs} ys={intervals.map((i) => i.requests)} statuses={none} height={160} />
          <Chart title="errors" xs={xs} ys={intervals.map((i) => i.errors)} statuses={none} height={160} />
          <Chart title="latency p50 (ms)" xs={xs} ys={intervals.map((i) => (i.latencyP50 ?? NaN) / 1000)} statuses={none} height={160} />
          <Chart title="latency p99 (ms)" xs={xs} ys={intervals.map((i) => (i.latencyP99 ?? NaN) / 1000)} statuses={none} height={160} />
          <table>
            <caption>Last intervals</caption>
            <thead>
              <tr>
                <th scope="col">Start</th>
                <th scope="col">Requests</th>
                <th scope="col">Errors</th>
                <th scope="col">p50 (ms)</th>
                <th scope="col">p99 (ms)</th>
              </tr>
            </thead>
            <tbody>
              {intervals
                .slice(-20)
                .reverse()
                .map((i) => (
                  <tr>
                    <td>{fmtTime(i.start)}</td>
                    <td>{i.requests}</td>
                    <td>{i.errors}</td>
                    <td>{i.latencyP50 === null ? '—' : fmtNum(i.latencyP50 / 1000)}</td>
                    <td>{i.latencyP99 === null ? '—' : fmtNum(i.latencyP99 / 1000)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
