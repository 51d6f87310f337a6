import type { CommandModule } from 'yargs';
import type { RoleName } from '../../config/options.js';
import { createHost } from '../../host.js';
import type { GlobalArgs } from '../args.js';

interface HostStartArgs extends GlobalArgs {
  'data-dir'?: string;
  nats?: string;
  'nats-creds'?: string;
  'nats-tls-ca'?: string;
  'nats-tls-cert'?: string;
  'nats-tls-key'?: string;
  'http-port'?: number;
  'http-host'?: string;
  'reuse-port'?: boolean;
  'base-period'?: string;
  'allowed-lateness'?: string;
  'serving-interval'?: string;
  retention?: string;
  'results-retention'?: string;
  'hourly-retention'?: string;
  'daily-retention'?: string;
  'retention-check-interval'?: string;
  runners?: number;
  'runner-concurrency'?: number;
  'runner-app-concurrency'?: number;
  'plugin-windows-in-flight'?: number;
  'runner-memory-mb'?: number;
  'max-timeout-ms'?: number;
  'max-memory-mb'?: number;
  'influx-url'?: string;
  'influx-token'?: string;
  'influx-org'?: string;
  'influx-bucket'?: string;
  'log-level'?: string;
  'dev-plugins'?: string[];
  alerts?: string;
  'window-attempts'?: number;
  'quarantine-after'?: number;
  'insecure-local'?: boolean;
  'allowed-hosts'?: string;
  'cors-origins'?: string;
  'rate-limit'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'public-url'?: string;
  'alert-allowed-hosts'?: string;
  roles?: string;
  'node-id'?: string;
  replicas?: number;
}

/** `modelwatch host start`: run a host until Ctrl-C. */
export const hostCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'host <command>',
  describe: 'run a modelwatch host',
  builder: (y) =>
    y
      .command<HostStartArgs>(
        'start',
        'start a host (stream processor, controller, app runners, writer, HTTP API); Ctrl-C stops it cleanly',
        (b) =>
          b
            .option('nats', { type: 'string', describe: 'NATS URL; without it the host starts and owns a local nats-server (env MODELWATCH_NATS_URL)' })
            .option('roles', {
              type: 'string',
              describe: 'roles this process runs, comma-separated: api, stream, controller, writer, runner (default all; env MODELWATCH_ROLES)',
            })
            .option('node-id', {
              type: 'string',
              describe: "this process's name in a deployment: its writer gets a consumer of its own, writer-<node id> (env MODELWATCH_NODE_ID)",
            })
            .option('replicas', {
              type: 'number',
              describe: 'replicas of the streams and buckets (default 1 on a single nats-server, 3 on a cluster; env MODELWATCH_REPLICAS)',
            })
            .option('nats-creds', {
              type: 'string',
              describe: 'with --nats: credentials file (.creds or nkey seed) for the host and its runners (env MODELWATCH_NATS_CREDS)',
            })
            .option('nats-tls-ca', {
              type: 'string',
              describe: "with --nats: CA certificate (PEM) to verify the server's TLS certificate (env MODELWATCH_NATS_TLS_CA)",
            })
            .option('nats-tls-cert', { type: 'string', describe: 'with --nats: client certificate (PEM), with --nats-tls-key (env MODELWATCH_NATS_TLS_CERT)' })
            .option('nats-tls-key', { type: 'string', describe: "with --nats: the client certificate's key (PEM) (env MODELWATCH_NATS_TLS_KEY)" })
            .option('http-port', { type: 'number', describe: 'HTTP API port (default 7077, 0 = any free port)' })
            .option('http-host', { type: 'string', describe: 'HTTP API address (default 127.0.0.1)' })
            .option('reuse-port', {
              type: 'boolean',
              describe:
                'share the HTTP port with the other processes started with it on this machine (SO_REUSEPORT, Linux): the kernel spreads connections among them (env MODELWATCH_HTTP_REUSE_PORT=1)',
            })
            .option('base-period', { type: 'string', describe: 'window length, e.g. 5s, 1m, 10m (default 10m)' })
            .option('allowed-lateness', { type: 'string', describe: 'how late rows may arrive for a window (default 30s)' })
            .option('serving-interval', { type: 'string', describe: 'length of the serving-metrics intervals: requests, errors, latency (default 1m)' })
            .option('retention', { type: 'string', describe: 'how long events and rows are kept (default 7d, at least 10m)' })
            .option('results-retention', { type: 'string', describe: 'how long analysed windows and window profiles are kept (default 30d)' })
            .option('hourly-retention', { type: 'string', describe: 'how long hourly roll-ups of profiles and results are kept (default 180d)' })
            .option('daily-retention', { type: 'string', describe: 'how long daily roll-ups of profiles and results are kept (default 2y)' })
            .option('retention-check-interval', { type: 'string', describe: 'how often what is past its retention is removed (default 10m)' })
            .option('runners', { type: 'number', describe: 'app-runner processes to start (default 1; 0 = runners run elsewhere)' })
            .option('runner-concurrency', { type: 'number', describe: 'windows each runner works on at once (default 2)' })
            .option('runner-app-concurrency', {
              type: 'number',
              describe: 'windows of one plugin each runner works on at once (default: runner concurrency - 1, at least 1)',
            })
            .option('plugin-windows-in-flight', {
              type: 'number',
              describe: 'windows of one plugin worked on at once across all runners (default 16)',
            })
            .option('runner-memory-mb', {
              type: 'number',
              describe: 'memory bound of each runner process in MiB (default runner concurrency x 2 x max memory + 512)',
            })
            .option('max-timeout-ms', { type: 'number', describe: "ceiling on a plugin's limits.timeoutMs, refused at publish above it (default 60000)" })
            .option('max-memory-mb', { type: 'number', describe: "ceiling on a plugin's limits.memoryMb, refused at publish above it (default 512)" })
            .option('influx-url', { type: 'string', describe: 'InfluxDB URL for time series (env MODELWATCH_INFLUX_URL)' })
            .option('influx-token', { type: 'string', describe: 'InfluxDB token (env MODELWATCH_INFLUX_TOKEN)' })
            .option('influx-org', { type: 'string', describe: 'InfluxDB organisation (env MODELWATCH_INFLUX_ORG)' })
            .option('influx-bucket', { type: 'string', describe: 'InfluxDB bucket (env MODELWATCH_INFLUX_BUCKET)' })
            .option('log-level', { type: 'string', describe: 'trace, debug, info, warn, error (default info)' })
            .option('window-attempts', { type: 'number', describe: 'tries of a window before it is recorded as failed (default 3)' })
            .option('quarantine-after', { type: 'number', describe: 'failed windows in a row that quarantine a plugin (default 5)' })
            .option('insecure-local', {
              type: 'boolean',
              describe: 'serve the HTTP API without authentication (every request may do everything); refused unless --http-host is a loopback address',
            })
            .option('allowed-hosts', {
              type: 'string',
              describe:
                'host names the API answers for besides its address and localhost, comma-separated: name, name:port, * = any (env MODELWATCH_ALLOWED_HOSTS)',
            })
            .option('cors-origins', {
              type: 'string',
              describe: 'origins allowed by CORS, comma-separated (default none: CORS off; env MODELWATCH_CORS_ORIGINS)',
            })
            .option('rate-limit', {
              type: 'string',
              describe: 'requests per client outside ingest: N/s, N/min, N/h or off (default 3000/min; env MODELWATCH_RATE_LIMIT)',
            })
            .option('tls-cert', { type: 'string', describe: 'certificate (PEM) to serve the API over HTTPS, with --tls-key (env MODELWATCH_TLS_CERT)' })
            .option('tls-key', { type: 'string', describe: 'private key (PEM) of --tls-cert (env MODELWATCH_TLS_KEY)' })
            .option('public-url', {
              type: 'string',
              describe: "the dashboard's public base URL, for links in alert notifications (env MODELWATCH_PUBLIC_URL)",
            })
            .option('alert-allowed-hosts', {
              type: 'string',
              describe:
                'hosts alert channels may deliver to, comma-separated: name, *.domain, IP, * = any (default: any but internal addresses; env MODELWATCH_ALERT_ALLOWED_HOSTS)',
            })
            .option('dev-plugins', { type: 'string', array: true, describe: 'plugin folders to rebuild and publish on every save (development)' })
            .option('alerts', {
              type: 'string',
              describe: 'a file of alert rules (YAML or JSON, { rules: [...] }), checked at start, read-only through the API',
            })
            .example('$0 host start --base-period 5s', 'windows of five seconds, local nats-server in ~/.modelwatch')
            .example(
              '$0 host start --nats nats://n1:4222,nats://n2:4222 --roles api,writer --node-id api-1',
              'one process of a deployment on a NATS cluster: the API and a writer with a complete view',
            ),
        async (args) => {
          const host = createHost({
            ...(args['data-dir'] !== undefined && { dataDir: args['data-dir'] }),
            ...(args.nats !== undefined && { natsUrl: args.nats }),
            ...(args.roles !== undefined && { roles: componentsOfRolesText(args.roles) }),
            ...(args['node-id'] !== undefined && { nodeId: args['node-id'] }),
            ...(args.replicas !== undefined && { replicas: args.replicas }),
            ...(args['nats-creds'] !== undefined && { natsCreds: args['nats-creds'] }),
            ...(args['nats-tls-ca'] !== undefined && { natsTlsCa: args['nats-tls-ca'] }),
            ...(args['nats-tls-cert'] !== undefined && { natsTlsCert: args['nats-tls-cert'] }),
            ...(args['nats-tls-key'] !== undefined && { natsTlsKey: args['nats-tls-key'] }),
            ...(args['http-port'] !== undefined && { httpPort: args['http-port'] }),
            ...(args['http-host'] !== undefined && { httpHost: args['http-host'] }),
            ...(args['reuse-port'] !== undefined && { reusePort: args['reuse-port'] }),
            ...(args['base-period'] !== undefined && { basePeriod: args['base-period'] }),
            ...(args['allowed-lateness'] !== undefined && { allowedLateness: args['allowed-lateness'] }),
            ...(args['serving-interval'] !== undefined && { servingInterval: args['serving-interval'] }),
            ...(args.retention !== undefined && { retention: args.retention }),
            ...(args['results-retention'] !== undefined && { resultsRetention: args['results-retention'] }),
            ...(args['hourly-retention'] !== undefined && { hourlyRetention: args['hourly-retention'] }),
            ...(args['daily-retention'] !== undefined && { dailyRetention: args['daily-retention'] }),
            ...(args['retention-check-interval'] !== undefined && { retentionCheckInterval: args['retention-check-interval'] }),
            ...(args.runners !== undefined && { runners: args.runners }),
            ...(args['runner-concurrency'] !== undefined && { runnerConcurrency: args['runner-concurrency'] }),
            ...(args['runner-app-concurrency'] !== undefined && { runnerAppConcurrency: args['runner-app-concurrency'] }),
            ...(args['plugin-windows-in-flight'] !== undefined && { pluginWindowsInFlight: args['plugin-windows-in-flight'] }),
            ...(args['runner-memory-mb'] !== undefined && { runnerMemoryMb: args['runner-memory-mb'] }),
            ...(args['max-timeout-ms'] !== undefined && { maxTimeoutMs: args['max-timeout-ms'] }),
            ...(args['max-memory-mb'] !== undefined && { maxMemoryMb: args['max-memory-mb'] }),
            ...(args['log-level'] !== undefined && { logLevel: args['log-level'] }),
            ...(args['window-attempts'] !== undefined && { windowAttempts: args['window-attempts'] }),
            ...(args['quarantine-after'] !== undefined && { quarantineAfter: args['quarantine-after'] }),
            ...(args['dev-plugins'] !== undefined && { devPlugins: args['dev-plugins'] }),
            ...(args.alerts !== undefined && { alertsFile: args.alerts }),
            ...(args['insecure-local'] === true && { insecureLocal: true }),
            ...(args['allowed-hosts'] !== undefined && { allowedHosts: [args['allowed-hosts']] }),
            ...(args['cors-origins'] !== undefined && { corsOrigins: [args['cors-origins']] }),
            ...(args['rate-limit'] !== undefined && { rateLimit: args['rate-limit'] }),
            ...(args['public-url'] !== undefined && { publicUrl: args['public-url'] }),
            ...(args['alert-allowed-hosts'] !== undefined && {
              alertAllowedHosts: args['alert-allowed-hosts']
                .split(',')
                .map((h) => h.trim())
                .filter(Boolean),
            }),
            ...((args['tls-cert'] !== undefined || args['tls-key'] !== undefined) && { tls: { cert: args['tls-cert'] ?? '', key: args['tls-key'] ?? '' } }),
            ...(args['influx-url'] !== undefined && {
              influx: { url: args['influx-url'], token: args['influx-token'] ?? '', org: args['influx-org'] ?? '', bucket: args['influx-bucket'] ?? '' },
            }),
          });
          await host.start();
          process.stderr.write(`modelwatch host running: API ${host.apiUrl}, NATS ${host.natsUrl}, data in ${host.options.dataDir}\n`);
          await new Promise<void>((resolve) => {
            let stopping = false;
            const stop = (signal: string) => {
              if (stopping) {
                process.stderr.write('forced exit\n');
                process.exit(130);
              }
              stopping = true;
              process.stderr.write(`${signal}: stopping (again to force)...\n`);
              void host.stop().then(resolve);
            };
            process.once('SIGINT', () => stop('SIGINT'));
            process.once('SIGTERM', () => stop('SIGTERM'));
          });
          process.exit(0);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};

/** `--roles a,b`: the names as given (checked by the host options, which name the unknown ones). */
function componentsOfRolesText(text: string): RoleName[] {
  return text.split(',').map((r) => r.trim()) as RoleName[];
}
