import 'uplot/dist/uPlot.min.css';
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { AlertsPage, useActiveAlerts } from './alerts.js';
import { api, setOnSignedOut, signOut, type Session } from './api.js';
import { AppsPage } from './apps.js';
import { DeadLettersPage } from './dlq.js';
import { EndpointPage } from './endpoint.js';
import { Overview } from './overview.js';
import { href, useRoute } from './router.js';
import { ServingPage } from './serving.js';
import { WindowPage } from './window.js';

function SignIn({ onIn }: { onIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const submit = (e: Event) => {
    e.preventDefault();
    api<Session>('/ui/session', { method: 'POST', body: { token } })
      .then((s) => onIn({ ...s, insecureLocal: false }))
      .catch((err: Error) => setError(err.message));
  };
  return (
    <main class="signin">
      <h1>modelwatch</h1>
      <form onSubmit={submit}>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        <button type="submit">Sign in</button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <p class="meta">A token of `modelwatch token create` (or the admin token the first start wrote to &lt;data-dir&gt;/admin.token).</p>
      </form>
    </main>
  );
}

/** The Alerts link, with the count of active alerts. */
function AlertsNav({ current }: { current: boolean }) {
  const n = useActiveAlerts().length;
  return (
    <a href={href(['alerts'])} aria-current={current ? 'page' : undefined}>
      Alerts{' '}
      {n > 0 && (
        <span class="count-badge" data-testid="active-alerts" title={`${n} active alerts`}>
          {n}
        </span>
      )}
    </a>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>();
  const route = useRoute();
  useEffect(() => {
    setOnSignedOut(() => setSession(null));
    api<Session & { signedIn: boolean }>('/ui/session')
      .then((s) => setSession(s.signedIn ? s : null))
      .catch(() => setSession(null));
  }, []);
  if (session === undefined) return <p>Loading…</p>;
  if (session === null) return <SignIn onIn={setSession} />;
  const [page = '', a, b, c, d] = route.parts;
  let body;
  if (page === 'endpoints' && a && b === 'windows' && c && d) body = <WindowPage endpoint={a} app={c} start={Number(d)} key={`${a}/${c}/${d}`} />;
  else if (page === 'endpoints' && a) body = <EndpointPage name={a} range={route.query.get('range') ?? 'all'} key={a} />;
  else if (page === 'serving') body = <ServingPage name={a} key={a ?? ''} />;
  else if (page === 'apps') body = <AppsPage session={session} />;
  else if (page === 'dlq') body = <DeadLettersPage session={session} />;
  else if (page === 'alerts') body = <AlertsPage session={session} all={route.query.get('all') === '1'} key={route.query.get('all') ?? ''} />;
  else body = <Overview route={route} />;
  const nav = (to: string, label: string) => (
    <a href={href([to])} aria-current={(page || 'endpoints') === to ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <header>
        <nav aria-label="main">
          <b class="brand">modelwatch</b>
          {nav('endpoints', 'Endpoints')}
          {nav('serving', 'Serving')}
          {nav('apps', 'Apps')}
          {nav('dlq', 'Dead letters')}
          <AlertsNav current={page === 'alerts'} />
        </nav>
        <span class="who">
          {session.name} ({session.scopes.join(', ')}){' '}
          {!session.insecureLocal && (
            <button type="button" onClick={() => void signOut()}>
              Sign out
            </button>
          )}
        </span>
      </header>
      <main>{body}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
