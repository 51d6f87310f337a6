import { resolve } from 'node:path';
import { ModelwatchError } from '../errors.js';

/** A `host[:port]` the API answers for: a port of `undefined` is any port (or none, behind a proxy). */
export interface HostPattern {
  hostname: string;
  port: number | undefined;
}

/** How the HTTP API faces browsers and the network (`--allowed-hosts`, `--cors-origins`, `--rate-limit`, `--tls-*`). */
export interface ResolvedWebOptions {
  /** Hosts the API answers for besides its own address and localhost/127.0.0.1/[::1] on its port; `'*'` = any. */
  allowedHosts: ReadonlyArray<HostPattern> | '*';
  /** Origins (`scheme://host[:port]`) allowed by CORS; empty = CORS off. */
  corsOrigins: readonly string[];
  /** Requests a client (a token, or an address) may make per window, ingest routes and probes aside; null = no limit. */
  rateLimit: { max: number; windowMs: number } | null;
  /** Certificate and key files (PEM): the API is served over HTTPS. */
  tls: { cert: string; key: string } | undefined;
}

export const DEFAULT_RATE_LIMIT = '3000/min';

const HOST_PATTERN = /^(\[[0-9a-f:.]+\]|[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?)\.?(?::(\d{1,5}))?$/i;

/** `host`, `host:port`, `[v6]`, `[v6]:port` (lower-cased, a trailing dot dropped); undefined when it is none of them. */
export function parseHostPort(text: string): HostPattern | undefined {
  const m = HOST_PATTERN.exec(text.trim());
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && port > 65535) return undefined;
  return { hostname: m[1]!.toLowerCase(), port };
}

/** A list given as an array or as one comma-separated string (a flag, an environment variable). */
function listOf(v: readonly string[] | string | undefined): string[] {
  if (v === undefined) return [];
  return (typeof v === 'string' ? [v] : [...v])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `N/s`, `N/min`, `N/h` or `off`. */
export function parseRateLimit(text: string): { max: number; windowMs: number } | null {
  const t = text.trim();
  if (t === 'off') return null;
  const m = /^(\d+)\s*\/\s*(s|sec|second|m|min|minute|h|hour)$/.exec(t);
  const max = Number(m?.[1]);
  if (!m || !Number.isSafeInteger(max) || max < 1) {
    throw new ModelwatchError('INVALID_OPTIONS', `rate limit: '${text}' is not a rate: give N/s, N/min or N/h with N >= 1, or off`);
  }
  const unit = m[2]!;
  return { max, windowMs: unit.startsWith('s') ? 1000 : unit.startsWith('h') ? 3_600_000 : 60_000 };
}

export interface WebOptionsInput {
  allowedHosts?: readonly string[] | string;
  corsOrigins?: readonly string[] | string;
  rateLimit?: string;
  tls?: { cert: string; key: string };
}

/** Validate the web options; `env` holds MODELWATCH_ALLOWED_HOSTS, _CORS_ORIGINS, _RATE_LIMIT, _TLS_CERT, _TLS_KEY. */
export function resolveWebOptions(o: WebOptionsInput, env: NodeJS.ProcessEnv): ResolvedWebOptions {
  const hosts = listOf(o.allowedHosts ?? env.MODELWATCH_ALLOWED_HOSTS);
  const allowedHosts: HostPattern[] | '*' = hosts.includes('*')
    ? '*'
    : hosts.map((h) => {
        const p = parseHostPort(h);
        if (!p) {
          throw new ModelwatchError(
            'INVALID_OPTIONS',
            `allowed hosts: '${h}' is not a host name or address with an optional port (e.g. monitor.example.com, 10.0.0.5:7077, [::1])`,
          );
        }
        return p;
      });
  const corsOrigins = listOf(o.corsOrigins ?? env.MODELWATCH_CORS_ORIGINS).map((s) => {
    let url: URL | undefined;
    try {
      url = new URL(s);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== s.replace(/\/$/, '')) {
      throw new ModelwatchError('INVALID_OPTIONS', `cors origins: '${s}' is not an origin: give scheme://host[:port], e.g. https://dashboard.example.com`);
    }
    return url.origin;
  });
  const rateLimit = parseRateLimit(o.rateLimit ?? env.MODELWATCH_RATE_LIMIT ?? DEFAULT_RATE_LIMIT);
  const cert = o.tls?.cert || env.MODELWATCH_TLS_CERT;
  const key = o.tls?.key || env.MODELWATCH_TLS_KEY;
  if (Boolean(cert) !== Boolean(key)) {
    throw new ModelwatchError('INVALID_OPTIONS', `tls: ${cert ? '--tls-cert needs --tls-key' : '--tls-key needs --tls-cert'} (or MODELWATCH_TLS_CERT / _KEY)`);
  }
  return { allowedHosts, corsOrigins, rateLimit, tls: cert && key ? { cert: resolve(cert), key: resolve(key) } : undefined };
}
