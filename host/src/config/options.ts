import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Notifier } from '../alerts/contract.js';
import { systemClock, type Clock } from '../clock.js';
import { DEFAULT_MAX_FEATURES } from '../domain/names.js';
import { ModelwatchError } from '../errors.js';
import { checkTokenText } from '../domain/tokens.js';
import { checkDurationBounds, parseDuration, type DurationErrorCode } from './duration.js';
import { boolEnv, intEnv } from './env.js';
import { resolveWebOptions, type ResolvedWebOptions } from './web.js';

/** Credentials and TLS files of the connections to an external NATS (the `nats/auth.ts` connection options come from them). */
export interface NatsSecurity {
  /** A credentials file: a `.creds` file (user JWT and seed) or an nkey user seed (`SU...`). */
  credsFile?: string;
  /** CA certificate(s) to verify the server with (PEM). */
  tlsCaFile?: string;
  /** Client certificate (PEM), for servers that verify clients; with `tlsKeyFile`. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

/** Where results go as time series (InfluxDB v2 write API). */
export interface InfluxOptions {
  url: string;
  /** @default '' (no auth) */
  token?: string;
  org: string;
  bucket: string;
}

/** How alert notifications are delivered (`alerts/notify/`). Durations as `'10s'` or ms. */
export interface AlertDeliveryOptions {
  /** How long one delivery attempt may take. @default '10s' (env MODELWATCH_ALERT_TIMEOUT) */
  timeout?: string | number;
  /** Attempts of one delivery before it is given up (recorded as such). @default 10 (env MODELWATCH_ALERT_MAX_ATTEMPTS) */
  maxAttempts?: number;
  /** The first retry's delay; each next one doubles, with jitter, up to `backoffMax`. @default '1s' (env MODELWATCH_ALERT_BACKOFF) */
  backoff?: string | number;
  /** @default '5m' */
  backoffMax?: string | number;
  /** Storm grouping: the interval over which one channel's notifications are counted. @default '10s' (env MODELWATCH_ALERT_GROUP_INTERVAL) */
  groupInterval?: string | number;
  /** Storm grouping: past this many notifications in an interval, a channel's next ones go out as one digest at the interval's end. @default 5 (env MODELWATCH_ALERT_GROUP_THRESHOLD) */
  groupThreshold?: number;
}

export interface ResolvedAlertDeliveryOptions {
  timeoutMs: number;
  maxAttempts: number;
  backoffMs: number;
  backoffMaxMs: number;
  groupIntervalMs: number;
  groupThreshold: number;
}

/**
 * Everything a host can be told. CLI flags, `MODELWATCH_*` environment variables and code
 * all resolve into this one type through {@link resolveHostOptions}.
 */
export interface HostOptions {
  /** Folder for LevelDB (results) and, when the host owns it, nats-server's store. @default '~/.modelwatch' (env MODELWATCH_DATA_DIR) */
  dataDir?: string;
  /**
   * NATS server URL. When absent the host starts and owns a local nats-server, with
   * authentication: nkey credentials per role in `<dataDir>/nats/<role>.nk`. (env MODELWATCH_NATS_URL)
   */
  natsUrl?: string;
  /** With `natsUrl`: a credentials file for every connection of the host and its runners (a `.creds` file or an nkey seed). (env MODELWATCH_NATS_CREDS) */
  natsCreds?: string;
  /** With `natsUrl`: CA certificate (PEM) to verify the NATS server's TLS certificate. (env MODELWATCH_NATS_TLS_CA) */
  natsTlsCa?: string;
  /** With `natsUrl`: client certificate (PEM) for a server that verifies clients; with `natsTlsKey`. (env MODELWATCH_NATS_TLS_CERT) */
  natsTlsCert?: string;
  /** With `natsUrl`: the client certificate's key (PEM). (env MODELWATCH_NATS_TLS_KEY) */
  natsTlsKey?: string;
  /** Port of the HTTP API. @default 7077 (env MODELWATCH_HTTP_PORT); 0 picks a free port */
  httpPort?: number;
  /** Address the HTTP API listens on. @default '127.0.0.1' (env MODELWATCH_HTTP_HOST) */
  httpHost?: string;
  /**
   * Listen on the HTTP port with `SO_REUSEPORT` (Linux, and some BSDs): several processes of the
   * API role on one machine bind the same port and the kernel spreads the connections among
   * them, each process a core's worth of HTTP (see ARCHITECTURE.md "Scale-out"). Every process on
   * the port needs it, under the same user. @default false (env MODELWATCH_HTTP_REUSE_PORT=1)
   */
  reusePort?: boolean;
  /**
   * How long an HTTP connection may stay idle: nothing received or sent while no request of it is
   * in progress (before its first request, between keep-alive requests), or its client reading
   * nothing of a reply. A route the host is still working on or streaming (`plugin logs --follow`,
   * the live feed) is not cut. 1s to 1d. @default '72s' (env MODELWATCH_HTTP_IDLE_TIMEOUT)
   */
  httpIdleTimeout?: string | number;
  /** The most time from a request's first byte to the end of its headers (slow-loris). 1s to 1d, at most the request timeout. @default '60s' (env MODELWATCH_HTTP_HEADERS_TIMEOUT) */
  httpHeadersTimeout?: string | number;
  /** The most time from a request's first byte to the end of its body (a body sent a byte at a time). 1s to 1d. @default '5m' (env MODELWATCH_HTTP_REQUEST_TIMEOUT) */
  httpRequestTimeout?: string | number;
  /**
   * HTTP connections open at once: past it a new connection is closed as soon as it is accepted
   * (counted in `modelwatch_http_connections_refused_total`), so sockets never take the file
   * handles NATS, LevelDB and the runners need. Below the open-file limit.
   * @default 4096, or half the process's open-file limit (`ulimit -n`) when that is lower (env MODELWATCH_HTTP_MAX_CONNECTIONS)
   */
  httpMaxConnections?: number;
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
  /**
   * How long analysed windows (results) and window profiles are kept in the writer's store, by
   * window start. @default '30d' (env MODELWATCH_RESULTS_RETENTION)
   */
  resultsRetention?: string | number;
  /** How long the hourly roll-ups of profiles and results are kept. @default '180d' (env MODELWATCH_HOURLY_RETENTION) */
  hourlyRetention?: string | number;
  /** How long the daily roll-ups of profiles and results are kept. @default '2y' (env MODELWATCH_DAILY_RETENTION) */
  dailyRetention?: string | number;
  /** How often the writer removes what is past its retention. @default '10m' */
  retentionCheckInterval?: string | number;
  /** Number of app-runner processes the host starts and supervises. 0 = none (runners run elsewhere). @default 1 (env MODELWATCH_RUNNERS) */
  runners?: number;
  /** Windows a runner works on at once. @default 2 */
  runnerConcurrency?: number;
  /**
   * Windows of one plugin a runner works on at once (of its `runnerConcurrency`): the rest of its
   * slots stay for other plugins, so one plugin never holds every slot. @default runnerConcurrency - 1, at least 1
   */
  runnerAppConcurrency?: number;
  /**
   * Windows of one plugin worked on at once across every runner of the deployment (its active
   * version; a shadow version has as many of its own): held by the server, as the slot consumer's
   * `max_ack_pending` (MW_SLOTS), set by the process that runs the controller. @default 16
   */
  pluginWindowsInFlight?: number;
  /** Ceiling on a plugin's `limits.timeoutMs`: a manifest above it is refused at publish. @default 60000 */
  maxTimeoutMs?: number;
  /** Ceiling on a plugin's `limits.memoryMb`: a manifest above it is refused at publish. @default 512 */
  maxMemoryMb?: number;
  /**
   * Memory bound of each runner process, in MiB: its own heap limit (`--max-old-space-size`), and
   * the resident size past which it stops, records the window it was running as failed and is
   * restarted. @default runnerConcurrency x 2 x maxMemoryMb + 512
   */
  runnerMemoryMb?: number;
  /** Tries of a window (app failures, runner crashes) before it is recorded as failed. @default 3 */
  windowAttempts?: number;
  /** A plugin that fails this many windows in a row is quarantined (disabled until re-enabled or republished). @default 5 */
  quarantineAfter?: number;
  /** InfluxDB for time series; absent = no time series. (env MODELWATCH_INFLUX_URL, _TOKEN, _ORG, _BUCKET) */
  influx?: InfluxOptions;
  /** pino level. @default 'info' (env MODELWATCH_LOG_LEVEL) */
  logLevel?: string;
  /** The most feature names, and the most output names, an endpoint may have (declared, inferred from its first event, or from a reference's columns). @default 10000 (env MODELWATCH_MAX_FEATURES) */
  maxFeatures?: number;
  /** Plugin folders (or folders of plugin folders) to rebuild and publish on every change: a development loop. */
  devPlugins?: readonly string[];
  /** A file of alert rules (YAML or JSON, `{ rules: [...] }`), loaded at start, read-only through the API (`--alerts FILE`). */
  alertsFile?: string;
  /**
   * Who is told of alerts (the evaluator and the API enqueue to it). @default a notifier that
   * only logs each notification
   */
  alertNotifier?: Notifier;
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
   * The roles this process runs, as `host start --roles` names them: `api`, `stream`,
   * `controller`, `writer`, `runner` (the same as `components`, with `runner` for `runners`).
   * Given with `components`, `components` wins. @default all (env MODELWATCH_ROLES, comma-separated)
   */
  roles?: ReadonlyArray<RoleName>;
  /**
   * This process's name among the processes of one deployment (letters, digits, `_` and `-`, at most
   * 64): the holder named in the controller lease, and, when given, the writer's own durable consumer
   * `writer-<node id>` (a complete results view of its own; see ARCHITECTURE.md "Scale-out").
   * Without it the process is the only one of its roles (one machine): the writer uses the shared
   * `writer` consumer, and the controller and serving aggregator run without an election. Every
   * process of a scale-out deployment needs one of its own. (env MODELWATCH_NODE_ID)
   */
  nodeId?: string;
  /**
   * Replicas of every stream, KV bucket and object store the host creates. @default 1 on a single
   * nats-server, 3 when the server reports a cluster (env MODELWATCH_REPLICAS)
   */
  replicas?: number;
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
  /** The dashboard's public base URL, for links in alert notifications (`${publicUrl}/ui/#/endpoints/E/windows/T`). (env MODELWATCH_PUBLIC_URL) */
  publicUrl?: string;
  /**
   * Hosts alert channels may deliver to (`name`, `*.example.com`, an IP). Without it, any host but
   * internal ones (loopback, private, link-local addresses); with it, only these (internal ones too
   * when listed). (env MODELWATCH_ALERT_ALLOWED_HOSTS, comma-separated)
   */
  alertAllowedHosts?: readonly string[];
  /** Delivery of alert notifications: timeouts, retries, storm grouping. */
  alertDelivery?: AlertDeliveryOptions;
  /** How often the system alert rules (dead letters, runners, writer, TSDB) and repeat notifications are checked. @default '10s' (env MODELWATCH_ALERT_CHECK_INTERVAL) */
  alertCheckInterval?: string | number;
}

export type ComponentName = 'stream' | 'controller' | 'writer' | 'api' | 'runners';

/** The roles of `host start --roles`: each names a component (`runner` = `runners`). */
export type RoleName = 'api' | 'stream' | 'controller' | 'writer' | 'runner';
export const ROLE_NAMES: readonly RoleName[] = ['api', 'stream', 'controller', 'writer', 'runner'];

/** The components of roles given as `--roles` names (comma-separated text or a list), each checked. */
export function componentsOfRoles(roles: string | readonly string[]): ComponentName[] {
  const list = (typeof roles === 'string' ? [roles] : roles).flatMap((r) => r.split(',')).map((r) => r.trim());
  if (list.length === 0 || list.every((r) => r === '')) throw new ModelwatchError('INVALID_OPTIONS', `roles: none given (known: ${ROLE_NAMES.join(', ')})`);
  return list
    .filter((r) => r !== '')
    .map((r) => {
      if (!(ROLE_NAMES as readonly string[]).includes(r))
        throw new ModelwatchError('INVALID_OPTIONS', `roles: unknown role '${r}' (known: ${ROLE_NAMES.join(', ')})`);
      return r === 'runner' ? 'runners' : (r as ComponentName);
    });
}

export interface ResolvedHostOptions {
  dataDir: string;
  natsUrl: string | undefined;
  /** How to connect to the external NATS (`natsUrl`): credentials and TLS files. Empty for the owned server. */
  natsSecurity: NatsSecurity;
  httpPort: number;
  httpHost: string;
  reusePort: boolean;
  basePeriodMs: number;
  basePeriodExplicit: boolean;
  allowedLatenessMs: number;
  maxFutureSkewMs: number;
  servingIntervalMs: number;
  retentionMs: number;
  /** Retention of windows and profiles, hourly and daily roll-ups, and how often it is applied. */
  resultsRetentionMs: number;
  hourlyRetentionMs: number;
  dailyRetentionMs: number;
  retentionCheckIntervalMs: number;
  runners: number;
  runnerConcurrency: number;
  runnerAppConcurrency: number;
  pluginWindowsInFlight: number;
  maxTimeoutMs: number;
  maxMemoryMb: number;
  runnerMemoryMb: number;
  windowAttempts: number;
  quarantineAfter: number;
  influx: Required<InfluxOptions> | undefined;
  logLevel: string;
  maxFeatures: number;
  components: ReadonlySet<ComponentName>;
  /** `nodeId` as given, or undefined (the shared `writer` consumer). */
  nodeId: string | undefined;
  /** Replicas as given, or undefined: 1 on a single server, 3 on a cluster (decided at start). */
  replicas: number | undefined;
  web: ResolvedWebOptions;
  devPlugins: readonly string[];
  alertsFile: string | undefined;
  alertNotifier: Notifier | undefined;
  clock: Clock;
  adminToken: string | undefined;
  insecureLocal: boolean;
  publicUrl: string | undefined;
  alertAllowedHosts: readonly string[] | undefined;
  alertDelivery: ResolvedAlertDeliveryOptions;
  alertCheckIntervalMs: number;
}

export const MIN_BASE_PERIOD_MS = 1000;
/** The longest base period: a day (a window's rows wait in `MW_ROWS` until it closes, kept for `--retention`, 7 days by default). */
export const MAX_BASE_PERIOD_MS = 86_400_000;

/** A base period's bounds (`what`: how the caller names it): 1 s to 1 day. */
export function checkBasePeriod(ms: number, what: string, code: DurationErrorCode = 'INVALID_OPTIONS'): number {
  return checkDurationBounds(ms, what, MIN_BASE_PERIOD_MS, MAX_BASE_PERIOD_MS, code);
}
/**
 * The shortest `--retention`: the longest duplicate window of the streams it ages (`MW_ROWS`,
 * `MW_TASKS`, `MW_DLQ` and `MW_SERVING` have 10 minutes: a publish retried within them is dropped,
 * not stored twice), which JetStream refuses to make longer than a stream's max age.
 */
export const MIN_RETENTION_MS = 600_000;
export const DEFAULT_HTTP_PORT = 7077;

/** Validate and default host options; environment variables fill what `options` leave out. */
export function resolveHostOptions(options: HostOptions = {}, rawEnv: NodeJS.ProcessEnv = process.env): ResolvedHostOptions {
  // an empty variable is an unset one
  const env = Object.fromEntries(Object.entries(rawEnv).filter(([, v]) => v !== undefined && v !== '')) as NodeJS.ProcessEnv;
  const basePeriodRaw = options.basePeriod ?? env.MODELWATCH_BASE_PERIOD;
  const basePeriodMs = checkBasePeriod(parseDuration(basePeriodRaw ?? '10m', 'base period'), 'base period');
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
  const runnerAppConcurrency = options.runnerAppConcurrency ?? Math.max(1, runnerConcurrency - 1);
  if (!Number.isInteger(runnerAppConcurrency) || runnerAppConcurrency < 1 || runnerAppConcurrency > runnerConcurrency) {
    throw new ModelwatchError(
      'INVALID_OPTIONS',
      `runner app concurrency: ${runnerAppConcurrency} must be a whole number from 1 to the runner concurrency (${runnerConcurrency})`,
    );
  }
  const pluginWindowsInFlight = options.pluginWindowsInFlight ?? 16;
  if (!Number.isInteger(pluginWindowsInFlight) || pluginWindowsInFlight < 1 || pluginWindowsInFlight > 10_000) {
    throw new ModelwatchError('INVALID_OPTIONS', `plugin windows in flight: ${pluginWindowsInFlight} must be a whole number from 1 to 10000`);
  }
  const maxTimeoutMs = options.maxTimeoutMs ?? 60_000;
  if (!Number.isInteger(maxTimeoutMs) || maxTimeoutMs < 10 || maxTimeoutMs > 600_000) {
    throw new ModelwatchError('INVALID_OPTIONS', `max timeout: ${maxTimeoutMs} ms must be a whole number of milliseconds from 10 to 600000`);
  }
  const maxMemoryMb = options.maxMemoryMb ?? 512;
  if (!Number.isInteger(maxMemoryMb) || maxMemoryMb < 8 || maxMemoryMb > 4096) {
    throw new ModelwatchError('INVALID_OPTIONS', `max memory: ${maxMemoryMb} MiB must be a whole number from 8 to 4096`);
  }
  const runnerMemoryMb = options.runnerMemoryMb ?? runnerConcurrency * 2 * maxMemoryMb + 512;
  if (!Number.isInteger(runnerMemoryMb) || runnerMemoryMb < 256) {
    throw new ModelwatchError('INVALID_OPTIONS', `runner memory: ${runnerMemoryMb} MiB must be a whole number of at least 256`);
  }
  const windowAttempts = options.windowAttempts ?? 3;
  if (!Number.isInteger(windowAttempts) || windowAttempts < 1 || windowAttempts > 20) {
    throw new ModelwatchError('INVALID_OPTIONS', `window attempts: ${windowAttempts} must be a whole number from 1 to 20`);
  }
  const quarantineAfter = options.quarantineAfter ?? 5;
  if (!Number.isInteger(quarantineAfter) || quarantineAfter < 1) {
    throw new ModelwatchError('INVALID_OPTIONS', `quarantine after: ${quarantineAfter} must be a positive whole number`);
  }
  const maxFeatures = options.maxFeatures ?? intEnv(env.MODELWATCH_MAX_FEATURES, 'MODELWATCH_MAX_FEATURES') ?? DEFAULT_MAX_FEATURES;
  if (!Number.isInteger(maxFeatures) || maxFeatures < 1) {
    throw new ModelwatchError('INVALID_OPTIONS', `max features: ${maxFeatures} must be a positive whole number`);
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
  const rolesRaw = options.roles ?? env.MODELWATCH_ROLES;
  const components = new Set(options.components ?? (rolesRaw !== undefined ? componentsOfRoles(rolesRaw) : all));
  for (const c of components) {
    if (!all.includes(c)) throw new ModelwatchError('INVALID_OPTIONS', `components: unknown component '${c}' (known: ${all.join(', ')})`);
  }
  const nodeId = options.nodeId ?? env.MODELWATCH_NODE_ID;
  if (nodeId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(nodeId)) {
    throw new ModelwatchError('INVALID_OPTIONS', `node id: '${nodeId}' must be 1 to 64 letters, digits, '_' or '-'`);
  }
  const replicas = options.replicas ?? intEnv(env.MODELWATCH_REPLICAS, 'MODELWATCH_REPLICAS');
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1 || replicas > 5)) {
    throw new ModelwatchError('INVALID_OPTIONS', `replicas: ${replicas} must be a whole number from 1 to 5 (JetStream's limit)`);
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
  const natsUrl = options.natsUrl ?? env.MODELWATCH_NATS_URL;
  const natsSecurity: NatsSecurity = {};
  const files: Array<[keyof NatsSecurity, string | undefined, string]> = [
    ['credsFile', options.natsCreds ?? env.MODELWATCH_NATS_CREDS, '--nats-creds'],
    ['tlsCaFile', options.natsTlsCa ?? env.MODELWATCH_NATS_TLS_CA, '--nats-tls-ca'],
    ['tlsCertFile', options.natsTlsCert ?? env.MODELWATCH_NATS_TLS_CERT, '--nats-tls-cert'],
    ['tlsKeyFile', options.natsTlsKey ?? env.MODELWATCH_NATS_TLS_KEY, '--nats-tls-key'],
  ];
  for (const [key, file, flag] of files) {
    if (file === undefined) continue;
    if (!natsUrl)
      throw new ModelwatchError('INVALID_OPTIONS', `${flag}: only with --nats URL (the host's own nats-server makes its credentials in the data folder)`);
    if (!existsSync(file)) throw new ModelwatchError('INVALID_OPTIONS', `${flag}: no file ${file}`);
    natsSecurity[key] = resolve(file);
  }
  if ((natsSecurity.tlsCertFile === undefined) !== (natsSecurity.tlsKeyFile === undefined)) {
    throw new ModelwatchError('INVALID_OPTIONS', '--nats-tls-cert and --nats-tls-key go together: give both or neither');
  }
  return {
    dataDir: resolve(options.dataDir ?? env.MODELWATCH_DATA_DIR ?? join(homedir(), '.modelwatch')),
    natsUrl,
    natsSecurity,
    httpPort,
    httpHost,
    reusePort: options.reusePort ?? boolEnv(env.MODELWATCH_HTTP_REUSE_PORT, 'MODELWATCH_HTTP_REUSE_PORT') ?? false,
    basePeriodMs,
    basePeriodExplicit: basePeriodRaw !== undefined,
    allowedLatenessMs: parseDuration(options.allowedLateness ?? env.MODELWATCH_ALLOWED_LATENESS ?? '30s', 'allowed lateness'),
    maxFutureSkewMs: parseDuration(options.maxFutureSkew ?? '5m', 'max future skew'),
    servingIntervalMs: parseDuration(options.servingInterval ?? env.MODELWATCH_SERVING_INTERVAL ?? '1m', 'serving interval'),
    retentionMs: retentionOf(options.retention ?? env.MODELWATCH_RETENTION ?? '7d'),
    resultsRetentionMs: positiveDuration(options.resultsRetention ?? env.MODELWATCH_RESULTS_RETENTION ?? '30d', 'results retention (--results-retention)'),
    hourlyRetentionMs: positiveDuration(options.hourlyRetention ?? env.MODELWATCH_HOURLY_RETENTION ?? '180d', 'hourly retention (--hourly-retention)'),
    dailyRetentionMs: positiveDuration(options.dailyRetention ?? env.MODELWATCH_DAILY_RETENTION ?? '2y', 'daily retention (--daily-retention)'),
    retentionCheckIntervalMs: positiveDuration(options.retentionCheckInterval ?? '10m', 'retention check interval (--retention-check-interval)'),
    runners,
    runnerConcurrency,
    runnerAppConcurrency,
    pluginWindowsInFlight,
    maxTimeoutMs,
    maxMemoryMb,
    runnerMemoryMb,
    windowAttempts,
    quarantineAfter,
    influx,
    logLevel: options.logLevel ?? env.MODELWATCH_LOG_LEVEL ?? 'info',
    maxFeatures,
    components,
    nodeId,
    replicas,
    web: resolveWebOptions(options, env),
    devPlugins: options.devPlugins ?? [],
    alertsFile: options.alertsFile === undefined ? undefined : resolve(options.alertsFile),
    alertNotifier: options.alertNotifier,
    clock: options.clock ?? systemClock,
    adminToken: adminToken === undefined ? undefined : checkTokenText(adminToken, 'admin token (MODELWATCH_ADMIN_TOKEN)'),
    insecureLocal,
    publicUrl: checkPublicUrl(options.publicUrl ?? env.MODELWATCH_PUBLIC_URL),
    alertAllowedHosts:
      options.alertAllowedHosts ??
      env.MODELWATCH_ALERT_ALLOWED_HOSTS?.split(',')
        .map((h) => h.trim())
        .filter(Boolean),
    alertDelivery: resolveAlertDelivery(options.alertDelivery ?? {}, env),
    alertCheckIntervalMs: alertCheckInterval(options.alertCheckInterval ?? env.MODELWATCH_ALERT_CHECK_INTERVAL ?? '10s'),
  };
}

function checkPublicUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ModelwatchError('INVALID_OPTIONS', `public url: '${url}' is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ModelwatchError('INVALID_OPTIONS', `public url: '${url}' is not an http(s) URL`);
  return url.replace(/\/+$/, '');
}

function resolveAlertDelivery(o: AlertDeliveryOptions, env: NodeJS.ProcessEnv): ResolvedAlertDeliveryOptions {
  const r: ResolvedAlertDeliveryOptions = {
    timeoutMs: parseDuration(o.timeout ?? env.MODELWATCH_ALERT_TIMEOUT ?? '10s', 'alert timeout'),
    maxAttempts: o.maxAttempts ?? intEnv(env.MODELWATCH_ALERT_MAX_ATTEMPTS, 'MODELWATCH_ALERT_MAX_ATTEMPTS') ?? 10,
    backoffMs: parseDuration(o.backoff ?? env.MODELWATCH_ALERT_BACKOFF ?? '1s', 'alert backoff'),
    backoffMaxMs: parseDuration(o.backoffMax ?? '5m', 'alert backoff max'),
    groupIntervalMs: parseDuration(o.groupInterval ?? env.MODELWATCH_ALERT_GROUP_INTERVAL ?? '10s', 'alert group interval'),
    groupThreshold: o.groupThreshold ?? intEnv(env.MODELWATCH_ALERT_GROUP_THRESHOLD, 'MODELWATCH_ALERT_GROUP_THRESHOLD') ?? 5,
  };
  if (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 1 || r.maxAttempts > 100)
    throw new ModelwatchError('INVALID_OPTIONS', `alert max attempts: ${r.maxAttempts} must be a whole number from 1 to 100`);
  if (!Number.isInteger(r.groupThreshold) || r.groupThreshold < 1)
    throw new ModelwatchError('INVALID_OPTIONS', `alert group threshold: ${r.groupThreshold} must be a positive whole number`);
  if (r.timeoutMs < 100) throw new ModelwatchError('INVALID_OPTIONS', `alert timeout: ${r.timeoutMs} ms is below the minimum of 100ms`);
  return r;
}

function alertCheckInterval(value: string | number): number {
  return durationAtLeast(value, 'alert check interval', 100, 'is below the minimum of 100ms');
}

function retentionOf(value: string | number): number {
  return durationAtLeast(
    value,
    'retention',
    MIN_RETENTION_MS,
    'is shorter than the minimum of 10m (the streams drop a publish retried within 10 minutes, and keep what they hold at least that long)',
  );
}

function positiveDuration(value: string | number, what: string): number {
  return durationAtLeast(value, what, Number.MIN_VALUE, 'is not longer than 0');
}

/** A duration of `what` of at least `minMs`; a shorter one is refused, `shorter` saying why after the value. */
function durationAtLeast(value: string | number, what: string, minMs: number, shorter: string): number {
  const ms = parseDuration(value, what);
  if (ms < minMs) throw new ModelwatchError('INVALID_OPTIONS', `${what}: '${value}' ${shorter}`);
  return ms;
}

/** Whether an address to listen on is a loopback one: only this machine reaches it. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
