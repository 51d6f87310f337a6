import { useEffect, useState } from 'preact/hooks';
import { api, can, enc, fmtTime, type PluginRecord, type Session } from './api.js';

export function AppsPage({ session }: { session: Session }) {
  const [plugins, setPlugins] = useState<PluginRecord[]>();
  const [logs, setLogs] = useState<Record<string, string[]>>({});
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  const load = () =>
    api<{ plugins: PluginRecord[] }>('/api/v1/plugins')
      .then((r) => setPlugins(r.plugins))
      .catch((e: Error) => setError(e.message));
  useEffect(() => void load(), []);
  const act = (name: string, what: 'enable' | 'disable' | 'rollback') =>
    api(`/api/v1/plugins/${enc(name)}/${what}`, { method: 'POST', body: {} })
      .then(() => setNote(`${name}: ${what}d`))
      .then(load)
      .catch((e: Error) => setNote(`${name}: ${e.message}`));
  const showLogs = (name: string) =>
    fetch(`/api/v1/plugins/${enc(name)}/logs?limit=50`, { credentials: 'same-origin' })
      .then((r) => r.text())
      .then((t) => setLogs((l) => ({ ...l, [name]: t.split('\n').filter(Boolean) })))
      .catch((e: Error) => setNote(e.message));
  if (error)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (!plugins) return <p>Loading…</p>;
  const admin = can(session, 'admin');
  return (
    <section>
      <h1>Apps</h1>
      {note && <p role="status">{note}</p>}
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
    </section>
  );
}
