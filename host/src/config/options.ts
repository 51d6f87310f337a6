import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { ModelwatchError } from '../errors.js';
import { checkTokenText } from '../domain/tokens.js';
import { parseDuration } from './duration.js';
import { resolveWebOptions, type ResolvedWebOptions } from './web.js';

/** Where results go as time series (InfluxDB v2 write API). */
export interface InfluxOptions {
  url: string;
  /** @default '' (no auth) */
  token?: string;
  org: string;
  bucket: string;
}

/**
 * Everything a host can be told. CLI flags, `MODELWATCH_*` environment variables and code
 * all resolve into this one type through {@link resolveHostOptions}.
 */
export interface HostOptions {
  /** Folder for LevelDB (results) and, when the host owns it, nats-server's store. @default '~/.modelwatch' (env MODELWATCH_DATA_DIR) */
  dataDir?: string;
  /** NATS server URL. When absent the host starts and owns a local nats-server. (env MODELWATCH_NATS_URL) */
  natsUrl?: string;
  /** Port of the HTTP API. @default 7077 (env MODELWATCH_HTTP_PORT); 0 picks a free port */
  httpPort?: number;
  /** Address the HTTP API listens on. @default '127.0.0.1' (env MODELWATCH_HTTP_HOST) */
  httpHost?: string;
  /** Window length, used when monitoring has no period yet or when given explicitly. @default '10m' (env MODELWATCH_BASE_PERIOD) */
  basePeriod?: string | number;
  /** How long after a window's end rows may still arrive for it. @default '30s' (env MODELWATCH_ALLOWED_LATENESS) */
  allowedLateness?: string | number;
  /** How far in the future an event time may be before it is dead-lettered. @default '5m' */
  maxFutureSkew?: string | number;
  /** Length of the serving-metrics intervals (requests, errors, latency) by arrival time. @default '1m' (env MODELWATCH_SERVING_INTERVAL) */
  servingInterval?: string | number;
  /** How long events, rows and app outputs are kept in JetStream. @default '7d' (env MODELWATCH_RETENTION) */
  retention?: string | number;
  /** Number of app-runner processes the host starts and supervises. 0 = none (runners run elsewhere). @default 1 (env MODELWATCH_RUNNERS) */
  runners?: number;
  /** Windows a runner works on at once. @default 2 */
  runnerConcurrency?: number;
  /** Tries of a window (app failures, runner crashes) before it is recorded as failed. @default 3 */
  windowAttempts?: number;
  /** A plugin that fails this many windows in a row is quarantined (disabled until re-enabled or republished). @default 5 */
  quarantineAfter?: number;
  /** InfluxDB for time series; absent = no time series. (env MODELWATCH_INFLUX_URL, _TOKEN, _ORG, _BUCKET) */
  influx?: InfluxOptions;
  /** pino level. @default 'info' (env MODELWATCH_LOG_LEVEL) */
  logLevel?: string;
  /** Plugin folders (or folders of plugin folders) to rebuild and publish on every change: a development loop. */
  devPlugins?: readonly string[];
  /**
   * The bootstrap admin token (named `admin`), e.g. from a Kubernetes secret: 32 to 512 visible
   * ASCII characters. Without it, the first start makes one and writes it to
   * `<dataDir>/admin.token` (mode 0600). (env MODELWATCH_ADMIN_TOKEN)
   */
  adminToken?: string;
  /**
   * Serve the API without authentication: every request may do everything. Only on a loopback
   * address (`httpHost` 127.0.0.1, ::1 or localhost); refused at start on any other. @default false
   */
  insecureLocal?: boolean;
  /** Which components this process runs. @default all */
  components?: ReadonlyArray<ComponentName>;
  /**
   * Host names (`name`, `name:port`, `[v6]:port`; `*` = any) the API answers for besides its own
   * address and localhost, 127.0.0.1 and [::1] on its port: a request naming another `Host` is refused
   * (DNS rebinding). (env MODELWATCH_ALLOWED_HOSTS, comma-separated)
   */
  allowedHosts?: readonly string[];
  /** Origins allowed by CORS (`https://dashboard.example.com`). @default none: CORS off (env MODELWATCH_CORS_ORIGINS) */
  corsOrigins?: readonly string[];
  /** Requests per client (token, else address) outside the ingest routes: `N/s`, `N/min`, `N/h` or `off`. @default '3000/min' (env MODELWATCH_RATE_LIMIT) */
  rateLimit?: string;
  /** Serve the API over HTTPS with this certificate and key (PEM files). (env MODELWATCH_TLS_CERT, MODELWATCH_TLS_KEY) */
  tls?: { cert: string; key: string };
  /**
   * The time of the controller (when a window is due, how often it looks) and of the serving
   * aggregator (when an interval closes): tests hand in a clock they move themselves. Arrival
   * times stay JetStream's. @default systemClock
   */
  clock?: Clock;
}

export type ComponentName = 'stream' | 'controller' | 'writer' | 'api' | 'runners';

export interface ResolvedHostOptions {
  dataDir: string;
  natsUrl: string | undefined;
  httpPort: number;
  httpHost: string;
  basePeriodMs: number;
  basePeriodExplicit: boolean;
  allowedLatenessMs: number;
  maxFutureSkewMs: number;
  servingIntervalMs: number;
  retentionMs: number;
  runners: number;
  runnerConcurrency: number;
  windowAttempts: number;
  quarantineAfter: number;
  influx: Required<InfluxOptions> | undefined;
  logLevel: string;
  components: ReadonlySet<ComponentName>;
  web: ResolvedWebOptions;
  devPlugins: readonly string[];
  clock: Clock;
  adminToken: string | undefined;
  insecureLocal: boolean;
}

export const MIN_BASE_PERIOD_MS = 1000;
export const DEFAULT_HTTP_PORT = 7077;

/** Validate and default host options; environment variables fill what `options` leave out. */
export function resolveHostOptions(options: HostOptions = {}, rawEnv: NodeJS.ProcessEnv = process.env): ResolvedHostOptions {
  // an empty variable is an unset one
  const env = Object.fromEntries(Object.entries(rawEnv).filter(([, v]) => v !== undefined && v !== '')) as NodeJS.ProcessEnv;
  const basePeriodRaw = options.basePeriod ?? env.MODELWATCH_BASE_PERIOD;
  const basePeriodMs = parseDuration(basePeriodRaw ?? '10m', 'base period');
  if (basePeriodMs < MIN_BASE_PERIOD_MS) {
    throw new ModelwatchError('INVALID_OPTIONS', `base period: ${basePeriodMs} ms is below the minimum of 1s`);
  }
  const httpPort = options.httpPort ?? intEnv(env.MODELWATCH_HTTP_PORT, 'MODELWATCH_HTTP_PORT') ?? DEFAULT_HTTP_PORT;
  if (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535) {
    throw new ModelwatchError('INVALID_OPTIONS', `http port: ${httpPort} is not a port number`);
  }
  const runners = options.runners ?? intEnv(env.MODELWATCH_RUNNERS, 'MODELWATCH_RUNNERS') ?? 1;
  if (!Number.isInteger(runners) || runners < 0 || runners > 64) {
    throw new ModelwatchError('INVALID_OPTIONS', `runners: ${runners} must be a whole number from 0 to 64`);
  }
  const runnerConcurrency = options.runnerConcurrency ?? 2;
  if (!Number.isInteger(runnerConcurrency) || runnerConcurrency < 1) {
    throw new ModelwatchError('INVALID_OPTIONS', `runner concurrency: ${runnerConcurrency} must be a positive whole number`);
  }
  const windowAttempts = options.windowAttempts ?? 3;
  if (!Number.isInteger(windowAttempts) || windowAttempts < 1 || windowAttempts > 20) {
    throw new ModelwatchError('INVALID_OPTIONS', `window attempts: ${windowAttempts} must be a whole number from 1 to 20`);
  }
  const quarantineAfter = options.quarantineAfter ?? 5;
  if (!Number.isInteger(quarantineAfter) || quarantineAfter < 1) {
    throw new ModelwatchError('INVALID_OPTIONS', `quarantine after: ${quarantineAfter} must be a positive whole number`);
  }
  const influxUrl = options.influx?.url ?? env.MODELWATCH_INFLUX_URL;
  let influx: Required<InfluxOptions> | undefined;
  if (influxUrl) {
    const org = options.influx?.org ?? env.MODELWATCH_INFLUX_ORG;
    const bucket = options.influx?.bucket ?? env.MODELWATCH_INFLUX_BUCKET;
    if (!org || !bucket) {
      throw new ModelwatchError('INVALID_OPTIONS', 'influx: --influx-url needs --influx-org and --influx-bucket (or MODELWATCH_INFLUX_ORG / _BUCKET)');
    }
    try {
      new URL(influxUrl);
    } catch {
      throw new ModelwatchError('INVALID_OPTIONS', `influx url: '${influxUrl}' is not a URL`);
    }
    influx = { url: influxUrl, token: options.influx?.token ?? env.MODELWATCH_INFLUX_TOKEN ?? '', org, bucket };
  }
  const all: ComponentName[] = ['stream', 'controller', 'writer', 'api', 'runners'];
  const components = new Set(options.components ?? all);
  for (const c of components) {
    if (!all.includes(c)) throw new ModelwatchError('INVALID_OPTIONS', `components: unknown component '${c}' (known: ${all.join(', ')})`);
  }
  const httpHost = options.httpHost ?? env.MODELWATCH_HTTP_HOST ?? '127.0.0.1';
  const insecureLocal = options.insecureLocal ?? false;
  if (insecureLocal && !isLoopback(httpHost)) {
    throw new ModelwatchError(
      'INVALID_OPTIONS',
      `insecure local: --insecure-local serves the API without authentication, so only on a loopback address (127.0.0.1, ::1, localhost), not on '${httpHost}'; give --http-host 127.0.0.1, or drop --insecure-local and use tokens`,
    );
  }
  const adminToken = options.adminToken ?? env.MODELWATCH_ADMIN_TOKEN;
  return {
    dataDir: resolve(options.dataDir ?? env.MODELWATCH_DATA_DIR ?? join(homedir(), '.modelwatch')),
    natsUrl: options.natsUrl ?? env.MODELWATCH_NATS_URL,
    httpPort,
    httpHost,
    basePeriodMs,
    basePeriodExplicit: basePeriodRaw !== undefined,
    allowedLatenessMs: parseDuration(options.allowedLateness ?? env.MODELWATCH_ALLOWED_LATENESS ?? '30s', 'allowed lateness'),
    maxFutureSkewMs: parseDuration(options.maxFutureSkew ?? '5m', 'max future skew'),
    servingIntervalMs: parseDuration(options.servingInterval ?? env.MODELWATCH_SERVING_INTERVAL ?? '1m', 'serving interval'),
    retentionMs: parseDuration(options.retention ?? env.MODELWATCH_RETENTION ?? '7d', 'retention'),
    runners,
    runnerConcurrency,
    windowAttempts,
    quarantineAfter,
    influx,
    logLevel: options.logLevel ?? env.MODELWATCH_LOG_LEVEL ?? 'info',
    components,
    web: resolveWebOptions(options, env),
    devPlugins: options.devPlugins ?? [],
    clock: options.clock ?? systemClock,
    adminToken: adminToken === undefined ? undefined : checkTokenText(adminToken, 'admin token (MODELWATCH_ADMIN_TOKEN)'),
    insecureLocal,
  };
}

/** Whether an address to listen on is a loopback one: only this machine reaches it. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function intEnv(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ModelwatchError('INVALID_OPTIONS', `${name}: '${v}' is not a whole number`);
  return n;
}
