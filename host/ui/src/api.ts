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

/** Called when a request finds no session: the app shows the sign-in page. */
export let onSignedOut: () => void = () => {};
export function setOnSignedOut(f: () => void): void {
  onSignedOut = f;
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    headers: init.body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
  });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (res.status === 401 && !path.startsWith('/ui/session')) onSignedOut();
    throw new ApiError(res.status, e?.code ?? 'HTTP_ERROR', e?.message ?? `${res.status} ${res.statusText}`);
  }
  return data as T;
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
let source: EventSource | undefined;

/** Stored windows as they come (`GET /api/v1/live`, Server-Sent Events): one connection for the whole app. */
export function onLive(f: LiveListener): () => void {
  listeners.add(f);
  if (!source) {
    source = new EventSource('/api/v1/live');
    source.addEventListener('window', (e) => {
      const w = JSON.parse((e as MessageEvent<string>).data) as LiveWindow;
      for (const l of listeners) l(w);
    });
  }
  return () => listeners.delete(f);
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
