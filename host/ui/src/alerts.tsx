import { useEffect, useState } from 'preact/hooks';
import { api, can, enc, fmtNum, fmtTime, onLive, type Alert, type Session } from './api.js';
import { Page, useLoaded } from './page.js';
import { href } from './router.js';
import { Table } from './table.js';

const listeners = new Set<(a: Alert[]) => void>();
let active: Alert[] = [];
let timer: ReturnType<typeof setInterval> | undefined;
let stopLive: (() => void) | undefined;
let pending: ReturnType<typeof setTimeout> | undefined;

/** Ask the host for the active alerts again and tell every view showing them. */
export function refreshActiveAlerts(): Promise<void> {
  return api<{ alerts: Alert[] }>('/api/v1/alerts?active=true')
    .then((r) => r.alerts)
    .catch(() => [] as Alert[])
    .then((a) => {
      active = a;
      for (const l of listeners) l(a);
    });
}

/**
 * The active (firing and acknowledged) alerts, shared by the header's count and the overview's
 * rows: one request for all of them, again every 15 s and shortly after a window is stored (the
 * evaluator decides on stored windows).
 */
export function useActiveAlerts(): Alert[] {
  const [list, setList] = useState(active);
  useEffect(() => {
    listeners.add(setList);
    if (listeners.size === 1) {
      void refreshActiveAlerts();
      timer = setInterval(() => void refreshActiveAlerts(), 15_000);
      stopLive = onLive(
        () => {
          pending ??= setTimeout(() => {
            pending = undefined;
            void refreshActiveAlerts();
          }, 1000);
        },
        () => void refreshActiveAlerts(),
      );
    }
    return () => {
      listeners.delete(setList);
      if (listeners.size === 0) {
        clearInterval(timer);
        clearTimeout(pending);
        pending = undefined;
        stopLive?.();
      }
    };
  }, []);
  return list;
}

/** Active alerts by endpoint name. */
export function alertsByEndpoint(alerts: Alert[]): Map<string, Alert[]> {
  const out = new Map<string, Alert[]>();
  for (const a of alerts) if (a.endpoint !== undefined) out.set(a.endpoint, [...(out.get(a.endpoint) ?? []), a]);
  return out;
}

export function AlertsPage({ session, all }: { session: Session; all: boolean }) {
  const page = useLoaded(() => api<{ alerts: Alert[] }>(`/api/v1/alerts${all ? '' : '?active=true'}`).then((r) => r.alerts), [all]);
  const write = can(session, 'write');
  const change = (a: Alert, what: 'ack' | 'resolve') =>
    page.act(
      () => api<Alert>(`/api/v1/alerts/${enc(a.id)}/${what}`, { method: 'POST', body: {} }).finally(() => void refreshActiveAlerts()),
      (r) => `${a.rule}${a.endpoint ? ` on ${a.endpoint}` : ''}: ${r.state}`,
      `${a.rule}: `,
    );
  return (
    <Page title="Alerts" loaded={page}>
      {(alerts) => (
        <>
          <nav class="toolbar" aria-label="alerts shown">
            <a href={href(['alerts'])} aria-current={all ? undefined : 'page'}>
              active
            </a>
            <a href={href(['alerts'], { all: 1 })} aria-current={all ? 'page' : undefined}>
              all
            </a>
          </nav>
          {alerts.length === 0 ? (
            <p>{all ? 'No alerts.' : 'No active alerts.'}</p>
          ) : (
            <Table
              class="alerts"
              head={['State', 'Severity', 'Rule', 'Endpoint', 'Result', 'Since', 'Windows']}
              rows={alerts}
              attrs={(a) => ({ 'data-alert': a.id, 'data-state': a.state, 'data-rule': a.rule })}
              cells={(a) => (
                <>
                  <td>
                    <span class={`badge alert-${a.state}`}>{a.state}</span>
                    {a.acknowledgedBy && <small> by {a.acknowledgedBy}</small>}
                  </td>
                  <td>{a.severity}</td>
                  <td>
                    <b>{a.rule}</b>
                    <br />
                    <small class="summary">{a.summary}</small>
                  </td>
                  <td>{a.endpoint ? <a href={href(['endpoints', a.endpoint])}>{a.endpoint}</a> : '—'}</td>
                  <td>
                    {a.app && a.result ? `${a.app}/${a.result}` : (a.result ?? '—')}
                    {a.value !== undefined && <> = {fmtNum(a.value)}</>}
                    {a.threshold !== undefined && <small> (threshold {fmtNum(a.threshold)})</small>}
                  </td>
                  <td>{fmtTime(a.startsAt)}</td>
                  <td>
                    {a.windows.map((w) =>
                      a.endpoint && a.app ? (
                        <a class="window-link" href={href(['endpoints', a.endpoint, 'windows', a.app, w])}>
                          {fmtTime(w)}{' '}
                        </a>
                      ) : (
                        <span>{fmtTime(w)} </span>
                      ),
                    )}
                  </td>
                </>
              )}
              actions={(a) => (
                <>
                  {write && a.state === 'firing' && (
                    <button type="button" onClick={() => void change(a, 'ack')}>
                      Acknowledge
                    </button>
                  )}
                  {write && a.state !== 'resolved' && (
                    <button type="button" onClick={() => void change(a, 'resolve')}>
                      Resolve
                    </button>
                  )}
                </>
              )}
            />
          )}
        </>
      )}
    </Page>
  );
}
