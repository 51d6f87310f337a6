/** The dashboard's calls to the host's HTTP API: the session cookie authenticates them. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Called when a request finds no session, or on sign-out: the app shows the sign-in page. */
let onSignedOut: () => void = () => {};
export function setOnSignedOut(f: () => void): void {
  onSignedOut = f;
}

/**
 * The one fetch of the dashboard: same-origin with the session cookie, a JSON body when given,
 * the API's error envelope turned into an {@link ApiError}, and a lost session (401) sending the
 * app back to the sign-in page. Answers the body as text (empty for 204).
 */
async function request(path: string, init: { method?: string; body?: unknown; accept?: string }): Promise<string> {
  const accept = init.accept ?? 'application/json';
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    headers: init.body === undefined ? { accept } : { accept, 'content-type': 'application/json' },
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
  });
  const text = res.status === 204 ? '' : await res.text();
  if (!res.ok) {
    let e: { code?: string; message?: string } | undefined;
    try {
      e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    } catch {
      e = undefined;
    }
    if (res.status === 401 && !path.startsWith('/ui/session')) signedOut();
    throw new ApiError(res.status, e?.code ?? 'HTTP_ERROR', e?.message ?? `${res.status} ${res.statusText}`);
  }
  return text;
}

/** A JSON call of the API (`undefined` for an empty answer). */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const text = await request(path, init);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A call of the API that answers text (plugin logs as JSON Lines). */
export function apiText(path: string): Promise<string> {
  return request(path, { accept: 'application/x-ndjson, text/plain, */*' });
}

function signedOut(): void {
  closeLive();
  onSignedOut();
}

/** End the session (the cookie is cleared by the host) and show the sign-in page. */
export function signOut(): Promise<void> {
  return api('/ui/session', { method: 'DELETE' })
    .catch(() => undefined)
    .then(signedOut);
}

export const enc = encodeURIComponent;

/** Result statuses as the SDK numbers them. */
export const STATUS_NAMES: Record<string, string> = { '-1': 'irrelevant', '0': 'no detection', '1': 'potential', '2': 'detected' };

export interface Session {
  name: string;
  scopes: string[];
  insecureLocal: boolean;
}

export function can(s: Session | undefined, scope: 'read' | 'write' | 'admin'): boolean {
  if (!s) return false;
  return s.scopes.includes('admin') || s.scopes.includes(scope);
}

export interface LatestResult {
  endpointName: string;
  endpointId: string;
  app: string;
  name: string;
  value: number;
  status: number;
  windowStart: number;
  windowEnd: number;
}

export interface EndpointStats {
  requests: number;
  errors: number;
  lastRequest: number | null;
  driftStatus: number | null;
  deadLetters: { total: number; byReason: Record<string, number> };
  lastInterval: { start: number; intervalMs: number; requests: number; errors: number; latencyP50: number | null; latencyP99: number | null } | null;
  /** Windows with at least one app's output stored (null: a store older than the count). */
  windowsAnalysed?: number | null;
  /** App -> the outcome of its newest stored window. */
  lastOutcomes?: Record<string, { windowStart: number; outcome: string }>;
}

export interface EndpointSummary {
  id: string;
  name: string;
  modelName?: string;
  modelVersion?: string;
  tags?: Record<string, string>;
  featureNames: string[];
  monitoring: boolean;
  stats?: EndpointStats;
}

export interface PluginRecord {
  name: string;
  activeVersion: string;
  status: string;
  statusReason?: string;
  lastError?: { code: string; message: string; stack?: string; version: string; endpoint: string; windowStart: number; at: number };
  versions: Array<{ version: string; publishedAt?: number }>;
}

export interface WindowResult {
  name: string;
  value: number;
  kind?: number;
  status: number;
  extraData?: Record<string, unknown>;
}

export interface WindowRecord {
  endpointId: string;
  app: string;
  version: string;
  windowStart: number;
  windowEnd: number;
  outcome: string;
  rows: number;
  results: WindowResult[];
  metrics: Array<{ name: string; value: number }>;
  error?: string;
}

/** `GET /api/v1/endpoints/:name/windows/:windowStart`: every app's output of one window, and its profile. */
export interface WindowReply {
  endpoint: string;
  windowStart: number;
  windows: WindowRecord[];
  profile: { features: Record<string, unknown> } | null;
}

/** An alert as `GET /api/v1/alerts` lists it: the host's contract, imported for its type only (no host code in the bundle). */
export type { Alert } from '../../src/alerts/contract.js';

export interface LiveWindow {
  endpoint: string;
  endpointId: string;
  app: string;
  windowStart: number;
  windowEnd: number;
  outcome: string;
  storedAt: number;
  results: Array<{ name: string; value: number; status: number }>;
}

type LiveListener = (w: LiveWindow) => void;
const listeners = new Set<LiveListener>();
const missedListeners = new Set<() => void>();
let source: EventSource | undefined;

/**
 * Stored windows as they come (`GET /api/v1/live`, Server-Sent Events): one connection for the
 * whole app. `missed` is called when windows may have gone by unseen: the host skipped some this
 * page was too slow to take (event `lagged`), or the feed reconnected; what was built from the
 * feed should then be loaded again.
 */
export function onLive(f: LiveListener, missed?: () => void): () => void {
  listeners.add(f);
  if (missed) missedListeners.add(missed);
  if (!source) {
    source = new EventSource('/api/v1/live');
    source.addEventListener('window', (e) => {
      const w = JSON.parse((e as MessageEvent<string>).data) as LiveWindow;
      for (const l of listeners) l(w);
    });
    const tell = () => {
      for (const l of missedListeners) l();
    };
    source.addEventListener('lagged', tell);
    let opened = false;
    source.addEventListener('open', () => {
      if (opened) tell();
      opened = true;
    });
  }
  return () => {
    listeners.delete(f);
    if (missed) missedListeners.delete(missed);
  };
}

export function closeLive(): void {
  source?.close();
  source = undefined;
}

export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function fmtNum(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0)) return v.toExponential(2);
  return String(Number(v.toFixed(digits)));
}
