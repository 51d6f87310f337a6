import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ModelwatchError } from '../errors.js';
import { checkDurationBounds, formatDuration, parseDuration } from './duration.js';
import { intEnv } from './env.js';

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
  /** How long a connection may idle or take over a request, and how many may be open at once. */
  connections: ConnectionLimits;
}

/**
 * What keeps the HTTP server's connections from starving the process: a socket costs a file
 * handle, and NATS, LevelDB and the runners' pipes need theirs.
 */
export interface ConnectionLimits {
  /**
   * A connection is closed after this long with nothing received or sent while no request of it
   * is in progress (before its first request, between keep-alive requests), or with its client
   * reading nothing of a reply for as long. A route that takes long or streams (a log follow,
   * the live feed, an evaluation) is not cut while the host works on it.
   */
  idleTimeoutMs: number;
  /** The most time from a request's first byte to the end of its headers. */
  headersTimeoutMs: number;
  /** The most time from a request's first byte to the end of its body. */
  requestTimeoutMs: number;
  /** Connections open at once; past it a new one is closed as soon as it is accepted. */
  maxConnections: number;
}

/** Above the 60 s idle timeout of common load balancers, so a proxy's kept-alive connection is closed by the proxy first (Fastify's own default). */
export const DEFAULT_IDLE_TIMEOUT = '72s';
/** Node's own defaults, which Fastify turns off. */
export const DEFAULT_HEADERS_TIMEOUT = '60s';
export const DEFAULT_REQUEST_TIMEOUT = '5m';
/** The most connections by default: at most this, and at most half the process's open-file limit. */
export const MAX_DEFAULT_CONNECTIONS = 4096;
const MIN_TIMEOUT_MS = 1000;
const MAX_TIMEOUT_MS = 86_400_000;

/** The soft limit on open files (RLIMIT_NOFILE) of this process, from `/proc/self/limits` (Linux); undefined where it cannot be read or is unlimited. */
export function openFileLimit(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+)\s/m.exec(text)?.[1];
  return soft === undefined ? undefined : Number(soft);
}

/** The default cap on connections: {@link MAX_DEFAULT_CONNECTIONS}, or half the open-file limit when that is lower, so the other half stays for everything else. */
export function defaultMaxConnections(fileLimit: number | undefined = openFileLimit()): number {
  return fileLimit === undefined ? MAX_DEFAULT_CONNECTIONS : Math.max(1, Math.min(MAX_DEFAULT_CONNECTIONS, Math.floor(fileLimit / 2)));
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
  httpIdleTimeout?: string | number;
  httpHeadersTimeout?: string | number;
  httpRequestTimeout?: string | number;
  httpMaxConnections?: number;
}

/**
 * Validate the web options; `env` holds MODELWATCH_ALLOWED_HOSTS, _CORS_ORIGINS, _RATE_LIMIT,
 * _TLS_CERT, _TLS_KEY, _HTTP_IDLE_TIMEOUT, _HTTP_HEADERS_TIMEOUT, _HTTP_REQUEST_TIMEOUT and
 * _HTTP_MAX_CONNECTIONS.
 */
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
  return {
    allowedHosts,
    corsOrigins,
    rateLimit,
    tls: cert && key ? { cert: resolve(cert), key: resolve(key) } : undefined,
    connections: resolveConnectionLimits(o, env),
  };
}

/** The connection limits of a host given none (the defaults above, the cap read from the open-file limit). */
export function defaultConnectionLimits(): ConnectionLimits {
  return resolveConnectionLimits({}, {});
}

function resolveConnectionLimits(o: WebOptionsInput, env: NodeJS.ProcessEnv): ConnectionLimits {
  const timeout = (value: string | number, flag: string): number => checkDurationBounds(parseDuration(value, flag), flag, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS);
  const idleTimeoutMs = timeout(o.httpIdleTimeout ?? env.MODELWATCH_HTTP_IDLE_TIMEOUT ?? DEFAULT_IDLE_TIMEOUT, 'http idle timeout (--http-idle-timeout)');
  const headersTimeoutMs = timeout(
    o.httpHeadersTimeout ?? env.MODELWATCH_HTTP_HEADERS_TIMEOUT ?? DEFAULT_HEADERS_TIMEOUT,
    'http headers timeout (--http-headers-timeout)',
  );
  const requestTimeoutMs = timeout(
    o.httpRequestTimeout ?? env.MODELWATCH_HTTP_REQUEST_TIMEOUT ?? DEFAULT_REQUEST_TIMEOUT,
    'http request timeout (--http-request-timeout)',
  );
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ModelwatchError(
      'INVALID_OPTIONS',
      `http headers timeout (--http-headers-timeout): ${formatDuration(headersTimeoutMs)} is longer than the request timeout (${formatDuration(requestTimeoutMs)}), which includes the headers`,
    );
  }
  const given = o.httpMaxConnections ?? intEnv(env.MODELWATCH_HTTP_MAX_CONNECTIONS, 'MODELWATCH_HTTP_MAX_CONNECTIONS');
  const fileLimit = openFileLimit();
  if (given !== undefined && (!Number.isInteger(given) || given < 1)) {
    throw new ModelwatchError('INVALID_OPTIONS', `http max connections (--http-max-connections): ${given} must be a positive whole number`);
  }
  if (given !== undefined && fileLimit !== undefined && given >= fileLimit) {
    throw new ModelwatchError(
      'INVALID_OPTIONS',
      `http max connections (--http-max-connections): ${given} is not below this process's limit of ${fileLimit} open files (ulimit -n): connections would take every file handle before the cap; raise the limit or give fewer (the default is ${defaultMaxConnections(fileLimit)})`,
    );
  }
  return { idleTimeoutMs, headersTimeoutMs, requestTimeoutMs, maxConnections: given ?? defaultMaxConnections(fileLimit) };
}
