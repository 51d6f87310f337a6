import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HTTP_PORT, MIN_BASE_PERIOD_MS, resolveHostOptions, type HostOptions } from '../src/config/options.js';
import { systemClock } from '../src/clock.js';
import { defaultMaxConnections, openFileLimit, parseHostPort } from '../src/config/web.js';
import { ModelwatchError } from '../src/errors.js';

/** Resolve with an empty environment unless one is given, so the test machine's env never leaks in. */
const resolveWith = (options: HostOptions = {}, env: NodeJS.ProcessEnv = {}) => resolveHostOptions(options, env);

describe('resolveHostOptions', () => {
  describe('defaults', () => {
    it('fills every option when nothing is given', () => {
      const o = resolveWith();
      expect(o).toEqual({
        dataDir: resolve(join(homedir(), '.modelwatch')),
        natsUrl: undefined,
        natsSecurity: {},
        httpPort: 7077,
        httpHost: '127.0.0.1',
        reusePort: false,
        basePeriodMs: 600_000,
        basePeriodExplicit: false,
        allowedLatenessMs: 30_000,
        maxFutureSkewMs: 300_000,
        servingIntervalMs: 60_000,
        retentionMs: 7 * 86_400_000,
        resultsRetentionMs: 30 * 86_400_000,
        hourlyRetentionMs: 180 * 86_400_000,
        dailyRetentionMs: 730 * 86_400_000,
        retentionCheckIntervalMs: 600_000,
        runners: 1,
        runnerConcurrency: 2,
        runnerAppConcurrency: 1,
        pluginWindowsInFlight: 16,
        maxTimeoutMs: 60_000,
        maxMemoryMb: 512,
        runnerMemoryMb: 2560,
        windowAttempts: 3,
        quarantineAfter: 5,
        influx: undefined,
        logLevel: 'info',
        maxFeatures: 10_000,
        components: new Set(['stream', 'controller', 'writer', 'api', 'runners']),
        web: {
          allowedHosts: [],
          corsOrigins: [],
          rateLimit: { max: 3000, windowMs: 60_000 },
          tls: undefined,
          connections: { idleTimeoutMs: 72_000, headersTimeoutMs: 60_000, requestTimeoutMs: 300_000, maxConnections: defaultMaxConnections() },
        },
        devPlugins: [],
        alertsFile: undefined,
        alertNotifier: undefined,
        clock: systemClock,
        adminToken: undefined,
        insecureLocal: false,
        publicUrl: undefined,
        alertAllowedHosts: undefined,
        alertCheckIntervalMs: 10_000,
        alertDelivery: { timeoutMs: 10_000, maxAttempts: 10, backoffMs: 1000, backoffMaxMs: 300_000, groupIntervalMs: 10_000, groupThreshold: 5 },
      });
      expect(DEFAULT_HTTP_PORT).toBe(7077);
      expect(MIN_BASE_PERIOD_MS).toBe(1000);
    });

    it('refuses --insecure-local on an address that is not loopback, takes it on loopback', () => {
      expect(() => resolveWith({ insecureLocal: true, httpHost: '0.0.0.0' })).toThrow(
        "insecure local: --insecure-local serves the API without authentication, so only on a loopback address (127.0.0.1, ::1, localhost), not on '0.0.0.0'",
      );
      expect(() => resolveWith({ insecureLocal: true, httpHost: '10.1.2.3' })).toThrow(/not on '10\.1\.2\.3'/);
      for (const httpHost of ['127.0.0.1', '127.0.0.2', '::1', '[::1]', 'localhost'])
        expect(resolveWith({ insecureLocal: true, httpHost }).insecureLocal).toBe(true);
    });

    it('takes the admin token from the option or MODELWATCH_ADMIN_TOKEN, and refuses a short one', () => {
      const token = 'x'.repeat(32);
      expect(resolveWith({ adminToken: token }).adminToken).toBe(token);
      expect(resolveHostOptions({}, { MODELWATCH_ADMIN_TOKEN: token }).adminToken).toBe(token);
      expect(() => resolveWith({ adminToken: 'short' })).toThrow('admin token (MODELWATCH_ADMIN_TOKEN): expected 32 to 512 visible ASCII characters');
    });

    it('rejects window attempts and quarantine thresholds out of range', () => {
      expect(() => resolveWith({ windowAttempts: 0 })).toThrow('window attempts: 0 must be a whole number from 1 to 20');
      expect(() => resolveWith({ quarantineAfter: 1.5 })).toThrow('quarantine after: 1.5 must be a positive whole number');
    });

    it('takes explicit options, parsing durations and resolving the data dir', () => {
      const o = resolveWith({
        dataDir: 'rel/data',
        natsUrl: 'nats://nats:4222',
        httpPort: 0,
        httpHost: '0.0.0.0',
        basePeriod: '1h',
        allowedLateness: 2_000,
        maxFutureSkew: '1m',
        servingInterval: '30s',
        retention: '1d12h',
        runners: 0,
        runnerConcurrency: 8,
        logLevel: 'debug',
        components: ['api', 'writer'],
      });
      expect(o).toMatchObject({
        dataDir: resolve('rel/data'),
        natsUrl: 'nats://nats:4222',
        httpPort: 0,
        httpHost: '0.0.0.0',
        basePeriodMs: 3_600_000,
        basePeriodExplicit: true,
        allowedLatenessMs: 2_000,
        maxFutureSkewMs: 60_000,
        servingIntervalMs: 30_000,
        retentionMs: 36 * 3_600_000,
        runners: 0,
        runnerConcurrency: 8,
        logLevel: 'debug',
      });
      expect([...o.components].sort()).toEqual(['api', 'writer']);
    });

    it('accepts a base period of exactly 1s', () => {
      expect(resolveWith({ basePeriod: '1s' }).basePeriodMs).toBe(1_000);
      expect(resolveWith({ basePeriod: 1_000 }).basePeriodMs).toBe(1_000);
    });
  });

  describe('environment variables', () => {
    const env = {
      MODELWATCH_DATA_DIR: '/var/lib/mw',
      MODELWATCH_NATS_URL: 'nats://env:4222',
      MODELWATCH_HTTP_PORT: '8080',
      MODELWATCH_HTTP_HOST: '::',
      MODELWATCH_BASE_PERIOD: '5m',
      MODELWATCH_ALLOWED_LATENESS: '10s',
      MODELWATCH_RETENTION: '2d',
      MODELWATCH_RUNNERS: '3',
      MODELWATCH_LOG_LEVEL: 'warn',
      MODELWATCH_INFLUX_URL: 'http://influx:8086',
      MODELWATCH_INFLUX_TOKEN: 'secret',
      MODELWATCH_INFLUX_ORG: 'acme',
      MODELWATCH_INFLUX_BUCKET: 'mw',
      MODELWATCH_MAX_FEATURES: '500',
    };

    it('fill what the options leave out', () => {
      expect(resolveWith({}, env)).toMatchObject({
        dataDir: '/var/lib/mw',
        natsUrl: 'nats://env:4222',
        httpPort: 8080,
        httpHost: '::',
        basePeriodMs: 300_000,
        basePeriodExplicit: true,
        allowedLatenessMs: 10_000,
        retentionMs: 2 * 86_400_000,
        runners: 3,
        logLevel: 'warn',
        maxFeatures: 500,
        influx: { url: 'http://influx:8086', token: 'secret', org: 'acme', bucket: 'mw' },
      });
    });

    it('max features: a positive whole number, from the option or MODELWATCH_MAX_FEATURES', () => {
      expect(resolveWith({ maxFeatures: 20 }, env).maxFeatures).toBe(20);
      expect(() => resolveWith({ maxFeatures: 0 })).toThrow('max features: 0 must be a positive whole number');
      expect(() => resolveWith({}, { MODELWATCH_MAX_FEATURES: 'many' })).toThrow("MODELWATCH_MAX_FEATURES: 'many' is not a whole number");
    });

    it('reuse port: off by default, from the option or MODELWATCH_HTTP_REUSE_PORT (1/true, 0/false)', () => {
      expect(resolveWith({}).reusePort).toBe(false);
      expect(resolveWith({}, { MODELWATCH_HTTP_REUSE_PORT: '1' }).reusePort).toBe(true);
      expect(resolveWith({}, { MODELWATCH_HTTP_REUSE_PORT: 'true' }).reusePort).toBe(true);
      expect(resolveWith({ reusePort: false }, { MODELWATCH_HTTP_REUSE_PORT: '1' }).reusePort).toBe(false);
      expect(() => resolveWith({}, { MODELWATCH_HTTP_REUSE_PORT: 'yes' })).toThrow("MODELWATCH_HTTP_REUSE_PORT: 'yes' is neither 1/true nor 0/false");
    });

    it('lose to explicit options', () => {
      const o = resolveWith(
        {
          dataDir: '/opt/mw',
          httpPort: 9000,
          basePeriod: '20m',
          runners: 2,
          logLevel: 'error',
          influx: { url: 'http://other:8086', org: 'o', bucket: 'b', token: 't' },
        },
        env,
      );
      expect(o).toMatchObject({
        dataDir: '/opt/mw',
        httpPort: 9000,
        basePeriodMs: 1_200_000,
        runners: 2,
        logLevel: 'error',
        influx: { url: 'http://other:8086', token: 't', org: 'o', bucket: 'b' },
      });
    });

    it('treat an empty MODELWATCH_HTTP_PORT / MODELWATCH_RUNNERS as unset', () => {
      const o = resolveWith({}, { MODELWATCH_HTTP_PORT: '', MODELWATCH_RUNNERS: '' });
      expect(o.httpPort).toBe(7077);
      expect(o.runners).toBe(1);
    });

    it('give influx an empty token when none is set', () => {
      const o = resolveWith({ influx: { url: 'http://influx:8086', org: 'acme', bucket: 'mw' } });
      expect(o.influx).toEqual({ url: 'http://influx:8086', token: '', org: 'acme', bucket: 'mw' });
    });

    it('complete partial influx options from the environment', () => {
      const o = resolveWith({ influx: { url: 'http://influx:8086' } as never }, { MODELWATCH_INFLUX_ORG: 'acme', MODELWATCH_INFLUX_BUCKET: 'mw' });
      expect(o.influx).toEqual({ url: 'http://influx:8086', token: '', org: 'acme', bucket: 'mw' });
    });

    it.each([
      ['MODELWATCH_HTTP_PORT', 'http'],
      ['MODELWATCH_HTTP_PORT', '80.5'],
      ['MODELWATCH_RUNNERS', 'two'],
    ])('reject %s=%j, naming the variable', (name, value) => {
      expect(() => resolveWith({}, { [name]: value })).toThrow(`${name}: '${value}' is not a whole number`);
    });
  });

  describe('validation', () => {
    const rejects = (options: HostOptions, message: string | RegExp, env: NodeJS.ProcessEnv = {}) => {
      let caught: unknown;
      try {
        resolveWith(options, env);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ModelwatchError);
      expect((caught as ModelwatchError).code).toBe('INVALID_OPTIONS');
      expect((caught as Error).message).toMatch(message);
    };

    it.each([
      ['999ms', 999],
      ['500ms', 500],
      [0, 0],
    ])('rejects a base period below 1s (%j)', (basePeriod, ms) => {
      rejects({ basePeriod }, `base period: ${ms} ms is below the minimum of 1s`);
    });

    it.each(['25h', '7d', '99999999999d'])('rejects a base period above a day (%s)', (basePeriod) => {
      rejects({ basePeriod }, /^base period: .*(is above the maximum of 1d|is longer than 100 years)$/);
    });

    it('takes a base period of a day', () => {
      expect(resolveWith({ basePeriod: '1d' }).basePeriodMs).toBe(86_400_000);
    });

    it('rejects a base period below 1s from MODELWATCH_BASE_PERIOD', () => {
      rejects({}, 'base period: 100 ms is below the minimum of 1s', { MODELWATCH_BASE_PERIOD: '100ms' });
    });

    it('rejects a base period that is not a duration', () => {
      rejects({ basePeriod: 'hourly' }, "base period: 'hourly' is not a duration");
    });

    it.each([
      ['allowedLateness', 'allowed lateness'],
      ['maxFutureSkew', 'max future skew'],
      ['retention', 'retention'],
      ['resultsRetention', 'results retention (--results-retention)'],
      ['hourlyRetention', 'hourly retention (--hourly-retention)'],
      ['dailyRetention', 'daily retention (--daily-retention)'],
      ['retentionCheckInterval', 'retention check interval (--retention-check-interval)'],
    ] as const)('rejects a bad %s, naming it', (key, what) => {
      rejects({ [key]: 'later' }, `${what}: 'later' is not a duration`);
    });

    it.each([['5m'], ['599999ms'], [0]])('rejects a retention of events and rows below 10 minutes (%j), from options or the environment', (retention) => {
      rejects({ retention }, `retention: '${retention}' is shorter than the minimum of 10m`);
      rejects({}, `retention: '${retention}' is shorter than the minimum of 10m`, { MODELWATCH_RETENTION: String(retention) });
      expect(resolveWith({ retention: '10m' }).retentionMs).toBe(600_000);
    });

    it('takes the retentions of results, profiles and roll-ups in days, weeks and years, from options or the environment', () => {
      expect(resolveWith({ resultsRetention: '2w', hourlyRetention: '90d' }, { MODELWATCH_DAILY_RETENTION: '3y' })).toMatchObject({
        resultsRetentionMs: 14 * 86_400_000,
        hourlyRetentionMs: 90 * 86_400_000,
        dailyRetentionMs: 3 * 365 * 86_400_000,
      });
      rejects({ resultsRetention: 0 }, "results retention (--results-retention): '0' is not longer than 0");
    });

    it.each([-1, 65536, 80.5, NaN])('rejects the http port %d', (httpPort) => {
      rejects({ httpPort }, `http port: ${httpPort} is not a port number`);
    });

    it('rejects a port out of range from MODELWATCH_HTTP_PORT', () => {
      rejects({}, 'http port: 70000 is not a port number', { MODELWATCH_HTTP_PORT: '70000' });
    });

    it.each([0, 65535])('accepts the http port %d', (httpPort) => {
      expect(resolveWith({ httpPort }).httpPort).toBe(httpPort);
    });

    it.each([-1, 65, 1.5])('rejects %d runners', (runners) => {
      rejects({ runners }, `runners: ${runners} must be a whole number from 0 to 64`);
    });

    it.each([0, -2, 1.5])('rejects a runner concurrency of %d', (runnerConcurrency) => {
      rejects({ runnerConcurrency }, `runner concurrency: ${runnerConcurrency} must be a positive whole number`);
    });

    it.each([
      ['without org', { url: 'http://influx:8086', bucket: 'mw' }],
      ['without bucket', { url: 'http://influx:8086', org: 'acme' }],
      ['without both', { url: 'http://influx:8086' }],
    ])('rejects an influx url %s', (_, influx) => {
      rejects({ influx: influx as never }, 'influx: --influx-url needs --influx-org and --influx-bucket (or MODELWATCH_INFLUX_ORG / _BUCKET)');
    });

    it('rejects MODELWATCH_INFLUX_URL without MODELWATCH_INFLUX_BUCKET', () => {
      rejects({}, /--influx-url needs --influx-org and --influx-bucket/, { MODELWATCH_INFLUX_URL: 'http://influx:8086', MODELWATCH_INFLUX_ORG: 'acme' });
    });

    it('rejects an influx url that is not a URL', () => {
      rejects({ influx: { url: 'influx 8086', org: 'acme', bucket: 'mw' } }, "influx url: 'influx 8086' is not a URL");
    });

    it('rejects an unknown component, listing the known ones', () => {
      rejects({ components: ['api', 'scheduler' as never] }, "components: unknown component 'scheduler' (known: stream, controller, writer, api, runners)");
    });
  });

  describe('web options', () => {
    it('take allowed hosts, CORS origins, a rate limit and TLS files from options or the environment', () => {
      expect(
        resolveWith({
          allowedHosts: ['Monitor.Example.com.', '10.0.0.5:7077,[::1]:80'],
          corsOrigins: ['https://dash.example.com'],
          rateLimit: '20/s',
          tls: { cert: 'c.pem', key: 'k.pem' },
        }).web,
      ).toEqual({
        allowedHosts: [
          { hostname: 'monitor.example.com', port: undefined },
          { hostname: '10.0.0.5', port: 7077 },
          { hostname: '[::1]', port: 80 },
        ],
        corsOrigins: ['https://dash.example.com'],
        rateLimit: { max: 20, windowMs: 1000 },
        tls: { cert: resolve('c.pem'), key: resolve('k.pem') },
        connections: resolveWith().web.connections,
      });
      expect(
        resolveWith({}, { MODELWATCH_ALLOWED_HOSTS: '*', MODELWATCH_CORS_ORIGINS: 'http://a.test:8080, http://b.test', MODELWATCH_RATE_LIMIT: 'off' }).web,
      ).toMatchObject({ allowedHosts: '*', corsOrigins: ['http://a.test:8080', 'http://b.test'], rateLimit: null });
      expect(resolveWith({ rateLimit: '100/h' }).web.rateLimit).toEqual({ max: 100, windowMs: 3_600_000 });
    });

    it('take the connection timeouts and cap from options or the environment; the cap defaults to 4096, or half the open-file limit when lower', () => {
      expect(resolveWith({ httpIdleTimeout: '5s', httpHeadersTimeout: 2000, httpRequestTimeout: '1m', httpMaxConnections: 100 }).web.connections).toEqual({
        idleTimeoutMs: 5000,
        headersTimeoutMs: 2000,
        requestTimeoutMs: 60_000,
        maxConnections: 100,
      });
      expect(
        resolveWith(
          {},
          {
            MODELWATCH_HTTP_IDLE_TIMEOUT: '10m',
            MODELWATCH_HTTP_HEADERS_TIMEOUT: '10s',
            MODELWATCH_HTTP_REQUEST_TIMEOUT: '1h',
            MODELWATCH_HTTP_MAX_CONNECTIONS: '8',
          },
        ).web.connections,
      ).toEqual({ idleTimeoutMs: 600_000, headersTimeoutMs: 10_000, requestTimeoutMs: 3_600_000, maxConnections: 8 });
      expect(defaultMaxConnections(undefined)).toBe(4096);
      expect(defaultMaxConnections(1_048_576)).toBe(4096);
      expect(defaultMaxConnections(1024)).toBe(512);
      // this process's limit, read from /proc on Linux
      expect(openFileLimit()).toBeGreaterThan(0);
    });

    it('reject connection timeouts out of 1s to 1d, headers longer than the request, and a cap that is no count or reaches the open-file limit', () => {
      expect(() => resolveWith({ httpIdleTimeout: '500ms' })).toThrow('http idle timeout (--http-idle-timeout): 500 ms is below the minimum of 1s');
      expect(() => resolveWith({ httpRequestTimeout: '2d' })).toThrow('http request timeout (--http-request-timeout): 2d is above the maximum of 1d');
      expect(() => resolveWith({}, { MODELWATCH_HTTP_HEADERS_TIMEOUT: 'soon' })).toThrow(
        "http headers timeout (--http-headers-timeout): 'soon' is not a duration",
      );
      expect(() => resolveWith({ httpHeadersTimeout: '2m', httpRequestTimeout: '1m' })).toThrow(
        'http headers timeout (--http-headers-timeout): 2m is longer than the request timeout (1m)',
      );
      expect(() => resolveWith({ httpMaxConnections: 0 })).toThrow('http max connections (--http-max-connections): 0 must be a positive whole number');
      expect(() => resolveWith({ httpMaxConnections: 2.5 })).toThrow('must be a positive whole number');
      expect(() => resolveWith({}, { MODELWATCH_HTTP_MAX_CONNECTIONS: 'many' })).toThrow("MODELWATCH_HTTP_MAX_CONNECTIONS: 'many' is not a whole number");
      const limit = openFileLimit();
      if (limit !== undefined) {
        expect(() => resolveWith({ httpMaxConnections: limit })).toThrow(`is not below this process's limit of ${limit} open files`);
      }
    });

    it('read a Host header or an allowed host as a name or address and an optional port', () => {
      expect(parseHostPort('LocalHost.:7077')).toEqual({ hostname: 'localhost', port: 7077 });
      expect(parseHostPort('[::1]:7077')).toEqual({ hostname: '[::1]', port: 7077 });
      expect(parseHostPort('10.0.0.5')).toEqual({ hostname: '10.0.0.5', port: undefined });
      for (const bad of ['', 'a@b', 'x/y', 'x:', 'x:70770', '::1', 'a b', 'evil.example#.localhost', '-x']) expect(parseHostPort(bad), bad).toBeUndefined();
    });

    it('reject what is no host, origin, rate or pair of TLS files, naming it', () => {
      expect(() => resolveWith({ allowedHosts: ['http://x.test'] })).toThrow("allowed hosts: 'http://x.test' is not a host name or address");
      expect(() => resolveWith({ allowedHosts: ['x.test:99999'] })).toThrow("allowed hosts: 'x.test:99999'");
      expect(() => resolveWith({ corsOrigins: ['https://x.test/path'] })).toThrow("cors origins: 'https://x.test/path' is not an origin");
      expect(() => resolveWith({ corsOrigins: ['*'] })).toThrow("cors origins: '*' is not an origin");
      expect(() => resolveWith({ rateLimit: '10 per minute' })).toThrow("rate limit: '10 per minute' is not a rate");
      expect(() => resolveWith({ rateLimit: '0/min' })).toThrow("rate limit: '0/min' is not a rate");
      expect(() => resolveWith({}, { MODELWATCH_TLS_CERT: 'c.pem' })).toThrow('tls: --tls-cert needs --tls-key');
    });
  });
});
