import { useState } from 'preact/hooks';
import { api, apiText, can, enc, fmtTime, type PluginRecord, type Session } from './api.js';
import { Page, useLoaded } from './page.js';

export function AppsPage({ session }: { session: Session }) {
  const [logs, setLogs] = useState<Record<string, string[]>>({});
  const page = useLoaded(() => api<{ plugins: PluginRecord[] }>('/api/v1/plugins').then((r) => r.plugins));
  const act = (name: string, what: 'enable' | 'disable' | 'rollback') =>
    page.act(() => api(`/api/v1/plugins/${enc(name)}/${what}`, { method: 'POST', body: {} }), `${name}: ${what}d`, `${name}: `);
  const showLogs = (name: string) =>
    apiText(`/api/v1/plugins/${enc(name)}/logs?limit=50`)
      .then((t) => setLogs((l) => ({ ...l, [name]: t.split('\n').filter(Boolean) })))
      .catch((e: Error) => page.setNote(e.message));
  const admin = can(session, 'admin');
  return (
    <Page title="Apps" loaded={page}>
      {(plugins) => (
        <>
          {plugins.length === 0 && <p>No apps published.</p>}
          {plugins.map((p) => (
            <article class="app" data-app={p.name} data-status={p.status}>
              <h2>
                {p.name} <span class={`badge st-${p.status}`}>{p.status}</span>
              </h2>
              <p>
                Active version <b>{p.activeVersion}</b>; versions: {p.versions.map((v) => v.version).join(', ')}
              </p>
              {p.statusReason && (
                <p class="reason">
                  <b>Reason:</b> <span class="status-reason">{p.statusReason}</span>
                </p>
              )}
              {p.lastError && (
                <details open={p.status === 'quarantined'}>
                  <summary>
                    Last error {p.lastError.code} at {fmtTime(p.lastError.at)} (version {p.lastError.version}, endpoint {p.lastError.endpoint}, window{' '}
                    {fmtTime(p.lastError.windowStart)})
                  </summary>
                  <pre class="error-text">{p.lastError.message}</pre>
                  {p.lastError.stack && <pre class="stack">{p.lastError.stack}</pre>}
                </details>
              )}
              <div class="actions">
                {admin && p.status !== 'active' && (
                  <button type="button" onClick={() => void act(p.name, 'enable')}>
                    Enable
                  </button>
                )}
                {admin && p.status === 'active' && (
                  <button type="button" onClick={() => void act(p.name, 'disable')}>
                    Disable
                  </button>
                )}
                {admin && p.versions.length > 1 && (
                  <button type="button" onClick={() => void act(p.name, 'rollback')}>
                    Roll back
                  </button>
                )}
                <button type="button" onClick={() => void showLogs(p.name)}>
                  Recent logs
                </button>
              </div>
              {logs[p.name] && (
                <pre class="logs" aria-label={`logs of ${p.name}`}>
                  {logs[p.name]!.length ? logs[p.name]!.join('\n') : 'no log lines'}
                </pre>
              )}
            </article>
          ))}
        </>
      )}
    </Page>
  );
}
