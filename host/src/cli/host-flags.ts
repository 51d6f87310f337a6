/**
 * The flags that become `HostOptions`: each one's yargs option and the option it sets, in one
 * table, so `host start` and `doctor` (which checks a host's options before a start) declare a
 * flag once and read it the same way.
 */
import type { Options } from 'yargs';
import type { HostOptions, RoleName } from '../config/options.js';

/** One flag: its yargs option and what it makes of its value (none: read with its group, see {@link hostOptionsOf}). */
export interface HostFlag {
  option: Options & { type: 'string' | 'number' | 'boolean'; describe: string };
  to?: (value: never) => HostOptions;
}

/** The HostOptions fields a value of type `V` can be put in as it is. */
type FieldsTaking<V> = { [K in keyof HostOptions]-?: V extends NonNullable<HostOptions[K]> ? K : never }[keyof HostOptions];

const text = (field: FieldsTaking<string>, describe: string): HostFlag => ({
  option: { type: 'string', describe },
  to: (v: string) => ({ [field]: v }),
});
const count = (field: FieldsTaking<number>, describe: string): HostFlag => ({
  option: { type: 'number', describe },
  to: (v: number) => ({ [field]: v }),
});
/** A comma-separated list given as one text (the options split it, as they split the environment's). */
const listText = (field: FieldsTaking<readonly string[]>, describe: string): HostFlag => ({
  option: { type: 'string', describe },
  to: (v: string) => ({ [field]: [v] }),
});
/** Read with the other flags of its group (the TLS pair, the InfluxDB four). */
const grouped = (describe: string): HostFlag => ({ option: { type: 'string', describe } });

/** How the host connects to a NATS of its own choosing. */
export const NATS_FLAGS = {
  nats: text('natsUrl', 'NATS URL; without it the host starts and owns a local nats-server (env MODELWATCH_NATS_URL)'),
  'nats-creds': text('natsCreds', 'with --nats: credentials file (.creds or nkey seed) for the host and its runners (env MODELWATCH_NATS_CREDS)'),
  'nats-tls-ca': text('natsTlsCa', "with --nats: CA certificate (PEM) to verify the server's TLS certificate (env MODELWATCH_NATS_TLS_CA)"),
  'nats-tls-cert': text('natsTlsCert', 'with --nats: client certificate (PEM), with --nats-tls-key (env MODELWATCH_NATS_TLS_CERT)'),
  'nats-tls-key': text('natsTlsKey', "with --nats: the client certificate's key (PEM) (env MODELWATCH_NATS_TLS_KEY)"),
} satisfies Record<string, HostFlag>;

/** The InfluxDB the writer sends time series to (read together: `influx`). */
export const INFLUX_FLAGS = {
  'influx-url': grouped('InfluxDB URL for time series (env MODELWATCH_INFLUX_URL)'),
  'influx-token': grouped('InfluxDB token (env MODELWATCH_INFLUX_TOKEN)'),
  'influx-org': grouped('InfluxDB organisation (env MODELWATCH_INFLUX_ORG)'),
  'influx-bucket': grouped('InfluxDB bucket (env MODELWATCH_INFLUX_BUCKET)'),
} satisfies Record<string, HostFlag>;

/** Every flag of `host start` (the global `--data-dir` is read too), in the order its `--help` lists them. */
export const HOST_START_FLAGS = {
  nats: NATS_FLAGS.nats,
  roles: {
    option: {
      type: 'string',
      describe: 'roles this process runs, comma-separated: api, stream, controller, writer, runner (default all; env MODELWATCH_ROLES)',
    },
    // the names as given: the host's options check them, and name the unknown ones
    to: (v: string) => ({ roles: v.split(',').map((r) => r.trim()) as RoleName[] }),
  },
  'node-id': text('nodeId', "this process's name in a deployment: its writer gets a consumer of its own, writer-<node id> (env MODELWATCH_NODE_ID)"),
  replicas: count('replicas', 'replicas of the streams and buckets (default 1 on a single nats-server, 3 on a cluster; env MODELWATCH_REPLICAS)'),
  'nats-creds': NATS_FLAGS['nats-creds'],
  'nats-tls-ca': NATS_FLAGS['nats-tls-ca'],
  'nats-tls-cert': NATS_FLAGS['nats-tls-cert'],
  'nats-tls-key': NATS_FLAGS['nats-tls-key'],
  'http-port': count('httpPort', 'HTTP API port (default 7077, 0 = any free port)'),
  'http-host': text('httpHost', 'HTTP API address (default 127.0.0.1)'),
  'reuse-port': {
    option: {
      type: 'boolean',
      describe:
        'share the HTTP port with the other processes started with it on this machine (SO_REUSEPORT, Linux): the kernel spreads connections among them (env MODELWATCH_HTTP_REUSE_PORT=1)',
    },
    to: (v: boolean) => ({ reusePort: v }),
  },
  'http-idle-timeout': text(
    'httpIdleTimeout',
    'close an HTTP connection idle this long: no request in progress, or its client reading nothing (default 72s; env MODELWATCH_HTTP_IDLE_TIMEOUT)',
  ),
  'http-headers-timeout': text('httpHeadersTimeout', "the most time a request's headers may take (default 60s; env MODELWATCH_HTTP_HEADERS_TIMEOUT)"),
  'http-request-timeout': text(
    'httpRequestTimeout',
    'the most time a request, headers and body, may take to arrive (default 5m; env MODELWATCH_HTTP_REQUEST_TIMEOUT)',
  ),
  'http-max-connections': count(
    'httpMaxConnections',
    'HTTP connections open at once, more are refused (default 4096, or half the open-file limit when lower; env MODELWATCH_HTTP_MAX_CONNECTIONS)',
  ),
  'base-period': text('basePeriod', 'window length, e.g. 5s, 1m, 10m (default 10m)'),
  'allowed-lateness': text('allowedLateness', 'how late rows may arrive for a window (default 30s)'),
  'serving-interval': text('servingInterval', 'length of the serving-metrics intervals: requests, errors, latency (default 1m)'),
  retention: text('retention', 'how long events and rows are kept (default 7d, at least 10m)'),
  'results-retention': text('resultsRetention', 'how long analysed windows and window profiles are kept (default 30d)'),
  'hourly-retention': text('hourlyRetention', 'how long hourly roll-ups of profiles and results are kept (default 180d)'),
  'daily-retention': text('dailyRetention', 'how long daily roll-ups of profiles and results are kept (default 2y)'),
  'retention-check-interval': text('retentionCheckInterval', 'how often what is past its retention is removed (default 10m)'),
  runners: count('runners', 'app-runner processes to start (default 1; 0 = runners run elsewhere)'),
  'runner-concurrency': count('runnerConcurrency', 'windows each runner works on at once (default 2)'),
  'runner-app-concurrency': count('runnerAppConcurrency', 'windows of one plugin each runner works on at once (default: runner concurrency - 1, at least 1)'),
  'plugin-windows-in-flight': count('pluginWindowsInFlight', 'windows of one plugin worked on at once across all runners (default 16)'),
  'runner-memory-mb': count('runnerMemoryMb', 'memory bound of each runner process in MiB (default runner concurrency x 2 x max memory + 512)'),
  'max-timeout-ms': count('maxTimeoutMs', "ceiling on a plugin's limits.timeoutMs, refused at publish above it (default 60000)"),
  'max-memory-mb': count('maxMemoryMb', "ceiling on a plugin's limits.memoryMb, refused at publish above it (default 512)"),
  ...INFLUX_FLAGS,
  'log-level': text('logLevel', 'trace, debug, info, warn, error (default info)'),
  'window-attempts': count('windowAttempts', 'tries of a window before it is recorded as failed (default 3)'),
  'quarantine-after': count('quarantineAfter', 'failed windows in a row that quarantine a plugin (default 5)'),
  'insecure-local': {
    option: {
      type: 'boolean',
      describe: 'serve the HTTP API without authentication (every request may do everything); refused unless --http-host is a loopback address',
    },
    // only ever switched on by the flag (`--no-insecure-local` is the default, not a setting)
    to: (v: boolean) => (v ? { insecureLocal: true } : {}),
  },
  'allowed-hosts': listText(
    'allowedHosts',
    'host names the API answers for besides its address and localhost, comma-separated: name, name:port, * = any (env MODELWATCH_ALLOWED_HOSTS)',
  ),
  'cors-origins': listText('corsOrigins', 'origins allowed by CORS, comma-separated (default none: CORS off; env MODELWATCH_CORS_ORIGINS)'),
  'rate-limit': text('rateLimit', 'requests per client outside ingest: N/s, N/min, N/h or off (default 3000/min; env MODELWATCH_RATE_LIMIT)'),
  'tls-cert': grouped('certificate (PEM) to serve the API over HTTPS, with --tls-key (env MODELWATCH_TLS_CERT)'),
  'tls-key': grouped('private key (PEM) of --tls-cert (env MODELWATCH_TLS_KEY)'),
  'public-url': text('publicUrl', "the dashboard's public base URL, for links in alert notifications (env MODELWATCH_PUBLIC_URL)"),
  'alert-allowed-hosts': {
    option: {
      type: 'string',
      describe:
        'hosts alert channels may deliver to, comma-separated: name, *.domain, IP, * = any (default: any but internal addresses; env MODELWATCH_ALERT_ALLOWED_HOSTS)',
    },
    to: (v: string) => ({
      alertAllowedHosts: v
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean),
    }),
  },
  'dev-plugins': {
    option: { type: 'string', array: true, describe: 'plugin folders to rebuild and publish on every save (development)' },
    to: (v: string[]) => ({ devPlugins: v }),
  },
  alerts: text('alertsFile', 'a file of alert rules (YAML or JSON, { rules: [...] }), checked at start, read-only through the API'),
} satisfies Record<string, HostFlag>;

/** The yargs options of a table of flags (`y.options(...)`). */
export function yargsOptions(flags: Readonly<Record<string, HostFlag>>): Record<string, Options> {
  return Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, f.option]));
}

/**
 * The HostOptions that parsed arguments give, reading the flags of `flags` (and the global
 * `--data-dir`); a flag not given sets nothing, so the environment and the defaults fill it.
 */
export function hostOptionsOf(args: Readonly<Record<string, unknown>>, flags: Readonly<Record<string, HostFlag>>): HostOptions {
  /** A flag's value; a flag of one value given twice is the last one given (as the global flags are). */
  const value = (name: string): unknown => {
    const v = name in flags ? args[name] : undefined;
    return Array.isArray(v) && !flags[name]!.option.array ? v[v.length - 1] : v;
  };
  const str = (name: string): string | undefined => {
    const v = value(name);
    return v === undefined ? undefined : String(v);
  };
  let options: HostOptions = typeof args['data-dir'] === 'string' ? { dataDir: args['data-dir'] } : {};
  for (const [name, flag] of Object.entries(flags)) {
    const v = value(name);
    if (flag.to && v !== undefined) options = { ...options, ...flag.to(v as never) };
  }
  if (str('tls-cert') !== undefined || str('tls-key') !== undefined) options.tls = { cert: str('tls-cert') ?? '', key: str('tls-key') ?? '' };
  const influxUrl = str('influx-url');
  if (influxUrl !== undefined) {
    options.influx = { url: influxUrl, token: str('influx-token') ?? '', org: str('influx-org') ?? '', bucket: str('influx-bucket') ?? '' };
  }
  return options;
}
