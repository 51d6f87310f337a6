import yargs from 'yargs';
import { describe, expect, it } from 'vitest';
import { HOST_START_FLAGS, hostOptionsOf, yargsOptions } from '../src/cli/host-flags.js';
import { resolveHostOptions } from '../src/config/options.js';

/** `host start`'s flags parsed by yargs as the CLI parses them, then read into HostOptions. */
function optionsOf(argv: string[]) {
  const args = yargs(argv).options(yargsOptions(HOST_START_FLAGS)).option('data-dir', { type: 'string' }).strict().parseSync();
  return hostOptionsOf(args, HOST_START_FLAGS);
}

/** A value of a flag's type, as typed on a command line. */
const sample = (type: string) => (type === 'number' ? ['7'] : type === 'boolean' ? [] : ['a-value']);

describe('host start: flags into HostOptions', () => {
  it('a command line gives the options it names, the grouped flags as one option each', () => {
    expect(
      optionsOf([
        '--data-dir',
        '/d',
        '--nats',
        'nats://a:4222,nats://b:4222',
        '--roles',
        'api, writer',
        '--node-id',
        'n1',
        '--replicas',
        '3',
        '--runner-concurrency',
        '8',
        '--base-period',
        '5s',
        '--insecure-local',
        '--allowed-hosts',
        'a.example,b.example',
        '--alert-allowed-hosts',
        ' hooks.example , ,*.corp',
        '--dev-plugins',
        'p1',
        'p2',
        '--tls-key',
        'k.pem',
        '--influx-url',
        'http://i:8086',
        '--influx-bucket',
        'b',
      ]),
    ).toEqual({
      dataDir: '/d',
      natsUrl: 'nats://a:4222,nats://b:4222',
      roles: ['api', 'writer'],
      nodeId: 'n1',
      replicas: 3,
      runnerConcurrency: 8,
      basePeriod: '5s',
      insecureLocal: true,
      allowedHosts: ['a.example,b.example'],
      alertAllowedHosts: ['hooks.example', '*.corp'],
      devPlugins: ['p1', 'p2'],
      tls: { cert: '', key: 'k.pem' },
      influx: { url: 'http://i:8086', token: '', org: '', bucket: 'b' },
    });
  });

  it('no flag sets nothing: the environment and the defaults fill every option', () => {
    expect(optionsOf([])).toEqual({});
    expect(optionsOf(['--no-insecure-local'])).toEqual({});
  });

  it('a flag of one value given twice is the last one given; a list flag keeps every one', () => {
    expect(
      optionsOf([
        '--nats',
        'nats://a:4222',
        '--nats',
        'nats://b:4222',
        '--roles',
        'api',
        '--roles',
        'writer',
        '--http-port',
        '1',
        '--http-port',
        '2',
        '--tls-cert',
        'a.pem',
        '--tls-cert',
        'b.pem',
        '--tls-key',
        'k.pem',
        '--influx-url',
        'http://a',
        '--influx-url',
        'http://b',
        '--dev-plugins',
        'p1',
        '--dev-plugins',
        'p2',
      ]),
    ).toEqual({
      natsUrl: 'nats://b:4222',
      roles: ['writer'],
      httpPort: 2,
      tls: { cert: 'b.pem', key: 'k.pem' },
      influx: { url: 'http://b', token: '', org: '', bucket: '' },
      devPlugins: ['p1', 'p2'],
    });
  });

  it('every flag, given alone, sets an option (none is declared and left unread)', () => {
    const unread = Object.entries(HOST_START_FLAGS)
      // the InfluxDB flags other than its URL only complete it
      .filter(([name]) => !['influx-token', 'influx-org', 'influx-bucket'].includes(name))
      .filter(([name, flag]) => Object.keys(optionsOf([`--${name}`, ...sample(flag.option.type)])).length === 0);
    expect(unread.map(([name]) => name)).toEqual([]);
  });

  it('what the flags give, the host options take: each flag of a full command line is accepted by resolveHostOptions', () => {
    const o = resolveHostOptions(
      optionsOf([
        '--data-dir',
        '/d',
        '--http-port',
        '0',
        '--runners',
        '0',
        '--runner-concurrency',
        '8',
        '--retention',
        '2d',
        '--rate-limit',
        '10/s',
        '--http-idle-timeout',
        '30s',
        '--http-headers-timeout',
        '10s',
        '--http-request-timeout',
        '2m',
        '--http-max-connections',
        '100',
        '--influx-url',
        'http://i:8086',
        '--influx-org',
        'o',
        '--influx-bucket',
        'b',
      ]),
      {},
    );
    expect(o).toMatchObject({
      dataDir: '/d',
      httpPort: 0,
      runners: 0,
      runnerConcurrency: 8,
      retentionMs: 2 * 86_400_000,
      influx: { url: 'http://i:8086', org: 'o', bucket: 'b' },
      web: { connections: { idleTimeoutMs: 30_000, headersTimeoutMs: 10_000, requestTimeoutMs: 120_000, maxConnections: 100 } },
    });
  });
});
