import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, constants, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { CommandModule } from 'yargs';
import type { NatsConnection } from '@nats-io/transport-node';
import { resolveHostOptions, type HostOptions, type InfluxOptions, type NatsSecurity } from '../../config/options.js';
import { NATS_SERVER_INSTALL_HINT } from '../../nats/server.js';
import type { GlobalArgs } from '../args.js';
import { printJson } from '../format.js';
import { hostOptionsOf, INFLUX_FLAGS, NATS_FLAGS, yargsOptions, type HostFlag } from '../host-flags.js';

/** What `doctor` checks of a host's options: how it reaches NATS, and its InfluxDB. */
const DOCTOR_FLAGS = {
  ...NATS_FLAGS,
  nats: { ...NATS_FLAGS.nats, option: { type: 'string', describe: 'a NATS URL to check instead of nats-server on PATH (env MODELWATCH_NATS_URL)' } },
  'nats-creds': {
    ...NATS_FLAGS['nats-creds'],
    option: { type: 'string', describe: 'with --nats: the credentials file to connect with, as host start takes it (env MODELWATCH_NATS_CREDS)' },
  },
  ...INFLUX_FLAGS,
  'influx-url': { ...INFLUX_FLAGS['influx-url'], option: { type: 'string', describe: 'InfluxDB URL to check (env MODELWATCH_INFLUX_URL)' } },
} satisfies Record<string, HostFlag>;

/** What `modelwatch doctor` checked: `ok`, or what is wrong and how to mend it. */
export interface DoctorCheck {
  name: 'node' | 'nats' | 'data-dir' | 'tsdb' | 'options';
  ok: boolean;
  message: string;
  /** What to do about it, when not ok. */
  hint?: string;
}

/** The oldest Node major the host runs on: the package's `engines.node` (`>=24`). */
const MIN_NODE_MAJOR = Number(
  /(\d+)/.exec(
    (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { engines?: { node?: string } }).engines?.node ?? '',
  )?.[1] ?? 24,
);

const TIMEOUT_MS = 5_000;
const INFLUX_HINT = 'check --influx-url, --influx-token, --influx-org and --influx-bucket (or MODELWATCH_INFLUX_URL, _TOKEN, _ORG, _BUCKET)';

export function checkNode(version = process.versions.node): DoctorCheck {
  const major = Number(version.split('.')[0]);
  return major >= MIN_NODE_MAJOR
    ? { name: 'node', ok: true, message: `Node ${version} (the host needs ${MIN_NODE_MAJOR} or newer)` }
    : {
        name: 'node',
        ok: false,
        message: `Node ${version} is too old: the host needs ${MIN_NODE_MAJOR} or newer`,
        hint: `install Node ${MIN_NODE_MAJOR} (https://nodejs.org, or your system's packages), or run \`make node\` in a checkout`,
      };
}

/** With a URL: the NATS server answers and has JetStream. Without: a nats-server the host can start is on PATH. */
async function checkNats(url: string | undefined, security: NatsSecurity = {}): Promise<DoctorCheck> {
  if (url) {
    let nc: NatsConnection | undefined;
    try {
      // the NATS client loads here, not with the CLI: every other command starts without it
      const [{ connect }, { jetstreamManager }, { natsConnectOptions }] = await Promise.all([
        import('@nats-io/transport-node'),
        import('@nats-io/jetstream'),
        import('../../nats/auth.js'),
      ]);
      // as the host connects: its credentials and TLS files, if given
      nc = await connect({ ...(await natsConnectOptions(security, 'host')), servers: url, timeout: TIMEOUT_MS, maxReconnectAttempts: 0 });
      const info = await (await jetstreamManager(nc, { timeout: TIMEOUT_MS })).getAccountInfo();
      return { name: 'nats', ok: true, message: `NATS at ${url} answers, with JetStream (${info.streams} streams)` };
    } catch (err) {
      return {
        name: 'nats',
        ok: false,
        message: `NATS at ${url}: ${(err as Error).message}`,
        hint: 'start a nats-server with JetStream (-js) there, or leave out --nats (and MODELWATCH_NATS_URL) to let the host start its own',
      };
    } finally {
      await nc?.close().catch(() => undefined);
    }
  }
  try {
    const { stdout } = await promisify(execFile)('nats-server', ['--version'], { timeout: TIMEOUT_MS });
    return {
      name: 'nats',
      ok: true,
      message: `${stdout.trim().replace(/^nats-server:?\s*/, 'nats-server ')} is on PATH: the host starts its own (no --nats given)`,
    };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return {
      name: 'nats',
      ok: false,
      message: e.code === 'ENOENT' ? 'nats-server is not on PATH, and no --nats URL is given' : `nats-server --version failed: ${e.message}`,
      hint: NATS_SERVER_INSTALL_HINT,
    };
  }
}

/** The data folder is a folder the host can write in, or can be created. */
async function checkDataDir(dir: string): Promise<DoctorCheck> {
  const fail = (message: string): DoctorCheck => ({
    name: 'data-dir',
    ok: false,
    message,
    hint: 'give a folder this user can write in: --data-dir DIR (or MODELWATCH_DATA_DIR)',
  });
  const info = await stat(dir).catch(() => undefined);
  if (info) {
    if (!info.isDirectory()) return fail(`${dir} is not a folder`);
    const probe = join(dir, `.modelwatch-doctor-${process.pid}`);
    try {
      await writeFile(probe, '');
      await rm(probe, { force: true });
    } catch (err) {
      return fail(`${dir} is not writable: ${(err as Error).message}`);
    }
    return { name: 'data-dir', ok: true, message: `${dir} is a writable folder` };
  }
  // it does not exist: the host creates it, so its nearest existing ancestor must be a writable folder
  let parent = dirname(dir);
  let parentInfo = await stat(parent).catch(() => undefined);
  while (!parentInfo && dirname(parent) !== parent) {
    parent = dirname(parent);
    parentInfo = await stat(parent).catch(() => undefined);
  }
  if (!parentInfo?.isDirectory()) return fail(`${dir} cannot be created: ${parent} is not a folder`);
  try {
    await access(parent, constants.W_OK);
  } catch {
    return fail(`${dir} cannot be created: ${parent} is not writable`);
  }
  return { name: 'data-dir', ok: true, message: `${dir} does not exist yet; the host will create it (in ${parent}, writable)` };
}

/** InfluxDB (or what speaks its v2 write API) accepts a write, empty, to the bucket with the token. */
async function checkTsdb(influx: Required<InfluxOptions> | undefined): Promise<DoctorCheck> {
  if (!influx) return { name: 'tsdb', ok: true, message: 'no InfluxDB configured: results are kept in LevelDB only (--influx-url to add one)' };
  const hint = INFLUX_HINT;
  const url = new URL('api/v2/write', influx.url.endsWith('/') ? influx.url : `${influx.url}/`);
  url.search = new URLSearchParams({ org: influx.org, bucket: influx.bucket, precision: 'ms' }).toString();
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      body: '',
      headers: { 'content-type': 'text/plain; charset=utf-8', ...(influx.token && { authorization: `Token ${influx.token}` }) },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause;
    return { name: 'tsdb', ok: false, message: `InfluxDB at ${influx.url} does not answer: ${cause?.message ?? (err as Error).message}`, hint };
  }
  if (res.ok) return { name: 'tsdb', ok: true, message: `InfluxDB at ${influx.url} accepts writes to bucket '${influx.bucket}' of org '${influx.org}'` };
  const body = (await res.text().catch(() => '')).trim().slice(0, 300);
  const why = res.status === 401 || res.status === 403 ? 'the token is refused' : res.status === 404 ? 'no such org or bucket' : `HTTP ${res.status}`;
  return {
    name: 'tsdb',
    ok: false,
    message: `InfluxDB at ${influx.url} refuses a write to bucket '${influx.bucket}' of org '${influx.org}': ${why}${body ? ` (${body})` : ''}`,
    hint,
  };
}

/** Run every check on these options (environment variables fill what they leave out, as for `host start`). */
export async function runDoctor(options: HostOptions, env: NodeJS.ProcessEnv = process.env): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [checkNode()];
  let resolved: ReturnType<typeof resolveHostOptions> | undefined;
  let optionsError: DoctorCheck | undefined;
  try {
    resolved = resolveHostOptions(options, env);
  } catch (err) {
    const message = (err as Error).message;
    const tsdb = /^influx/.test(message);
    optionsError = { name: tsdb ? 'tsdb' : 'options', ok: false, message, hint: tsdb ? INFLUX_HINT : 'see modelwatch host start --help' };
    // what does not depend on the option that is wrong is still checked
    resolved = resolveHostOptions(
      { dataDir: options.dataDir, natsUrl: options.natsUrl },
      { MODELWATCH_DATA_DIR: env.MODELWATCH_DATA_DIR, MODELWATCH_NATS_URL: env.MODELWATCH_NATS_URL },
    );
  }
  checks.push(await checkNats(resolved.natsUrl, resolved.natsSecurity), await checkDataDir(resolved.dataDir));
  checks.push(optionsError ?? (await checkTsdb(resolved.influx)));
  return checks;
}

/** `modelwatch doctor`: what a host needs on this machine, checked, and what is wrong said. */
export const doctorCommand: CommandModule<GlobalArgs, GlobalArgs & Record<string, unknown>> = {
  command: 'doctor',
  describe: 'check what a host needs here (Node, nats-server or NATS, the data folder, the TSDB) and say what is wrong; exit 1 if anything is',
  builder: (y) => y.options(yargsOptions(DOCTOR_FLAGS)) as never,
  handler: async (args) => {
    const checks = await runDoctor(hostOptionsOf(args, DOCTOR_FLAGS));
    const ok = checks.every((c) => c.ok);
    if (args.json) printJson({ ok, checks });
    else {
      for (const c of checks) {
        process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(8)}  ${c.message}\n`);
        if (c.hint) process.stdout.write(`${c.hint.replace(/^/gm, '                ')}\n`);
      }
      const failed = checks.filter((c) => !c.ok).length;
      process.stdout.write(ok ? 'everything a host needs is here\n' : `${failed} problem${failed > 1 ? 's' : ''}: see FAIL above\n`);
    }
    if (!ok) process.exitCode = 1;
  },
};
