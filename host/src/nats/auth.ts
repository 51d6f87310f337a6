import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { Kvm } from '@nats-io/kv';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { ARTIFACT_STORE, Buckets, BUNDLE_STORE, Consumers, OUTPUT_BINDING_KEY, REFERENCE_STORE, Streams, Subjects } from '@modelwatch/protocol';
import type { NatsSecurity } from '../config/options.js';
import { newBindingKey } from '../domain/binding.js';
import { ModelwatchError } from '../errors.js';
import { NATS_ROLES, type NatsRole } from './roles.js';

export { NATS_ROLES, type NatsRole };

/**
 * Each role's reply subjects (`inboxPrefix`): a role may subscribe to its own alone, so no
 * runner hears the replies the host gets (KV reads of `mw_secrets` among them). Ingest keeps the
 * default `_INBOX`, so any NATS client (nats-py too) publishes events with its defaults.
 */
export const INBOX_PREFIX: Readonly<Record<NatsRole, string>> = { host: '_INBOX_host', runner: '_INBOX_runner', ingest: '_INBOX' };

/** Where a role's credentials (an nkey seed) are kept in the data folder. */
export function credentialsFile(dataDir: string, role: NatsRole): string {
  return join(dataDir, 'nats', `${role}.nk`);
}

/** A role's identity: its nkey seed (secret) and public key (in the server's config). */
export interface RoleIdentity {
  role: NatsRole;
  file: string;
  publicKey: string;
}

/**
 * Every role's credentials in `<dataDir>/nats/<role>.nk` (mode 0600): read when there, else made
 * (a new nkey user) and written. Kept across restarts, so trackers keep their credentials.
 */
export async function ensureCredentials(dataDir: string): Promise<Record<NatsRole, RoleIdentity>> {
  await mkdir(join(dataDir, 'nats'), { recursive: true, mode: 0o700 });
  const out = {} as Record<NatsRole, RoleIdentity>;
  for (const role of NATS_ROLES) {
    const file = credentialsFile(dataDir, role);
    let seed: string | undefined;
    try {
      seed = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (seed === undefined) {
      const kp = createUser();
      seed = new TextDecoder().decode(kp.getSeed());
      try {
        await writeFile(file, `${seed}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        // another process made it first: take theirs
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        seed = (await readFile(file, 'utf8')).trim();
      }
    }
    await chmod(file, 0o600);
    let publicKey: string;
    try {
      publicKey = fromSeed(new TextEncoder().encode(seed)).getPublicKey();
    } catch (err) {
      throw new ModelwatchError('INVALID_OPTIONS', `${file}: not an nkey user seed (remove it to have a new one made)`, { cause: err });
    }
    out[role] = { role, file, publicKey };
  }
  return out;
}

/** The JetStream API subjects of reading a stream through ephemeral consumers and direct gets (what KV gets, watches and object reads do). */
function readStream(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.ACK.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

export interface RolePermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
  allow_responses?: boolean;
}

/**
 * What each role may publish and subscribe to. The host may do anything. A runner consumes
 * tasks through the `runners` consumer only, reads rows, labels, plugin and endpoint records,
 * poison marks, bundles and references, writes artifacts and its deferrals, publishes outputs and plugin logs,
 * takes and hands back plugins' slot tokens (MW_SLOTS), and answers the runner services; it cannot read events, outputs or `mw_secrets`, nor consume
 * the writer's consumer. Ingest publishes events and labels, and hears its own publish acks.
 */
export function rolePermissions(role: NatsRole): RolePermissions {
  if (role === 'host') return { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } };
  if (role === 'ingest') return { publish: { allow: [Subjects.eventsAll, Subjects.labelsAll] }, subscribe: { allow: [`${INBOX_PREFIX.ingest}.>`] } };
  // the buckets a runner opens (openBuckets): their stream info; reads of those it uses
  const info = [
    ...Object.values(Buckets)
      .filter((b) => b !== Buckets.secrets && b !== Buckets.leases)
      .map((b) => `$JS.API.STREAM.INFO.KV_${b}`),
    ...[BUNDLE_STORE, REFERENCE_STORE, ARTIFACT_STORE].map((o) => `$JS.API.STREAM.INFO.OBJ_${o}`),
    `$JS.API.STREAM.INFO.${Streams.tasks}`,
  ];
  const reads = [
    Streams.rows,
    Streams.labels,
    `KV_${Buckets.endpoints}`,
    `KV_${Buckets.plugins}`,
    `KV_${Buckets.poison}`,
    `KV_${Buckets.deferrals}`,
    `OBJ_${BUNDLE_STORE}`,
    `OBJ_${REFERENCE_STORE}`,
    `OBJ_${ARTIFACT_STORE}`,
  ].flatMap(readStream);
  return {
    publish: {
      allow: [
        Subjects.outputsAll,
        Subjects.logsAll,
        '$JS.API.INFO',
        ...info,
        ...reads,
        `$JS.API.CONSUMER.INFO.${Streams.tasks}.${Consumers.runners}`,
        `$JS.API.CONSUMER.MSG.NEXT.${Streams.tasks}.${Consumers.runners}`,
        `$JS.ACK.${Streams.tasks}.${Consumers.runners}.>`,
        // each plugin's slots across all runners: a token taken per window, handed back after it
        `$JS.API.CONSUMER.INFO.${Streams.slots}.*`,
        `$JS.API.CONSUMER.MSG.NEXT.${Streams.slots}.*`,
        `$JS.ACK.${Streams.slots}.>`,
        // tasks handed back unrun (a plugin at its share of the runner's slots) are counted
        `$KV.${Buckets.deferrals}.>`,
        // artifacts: chunks and metadata, and the purge of a replaced object's chunks
        `$O.${ARTIFACT_STORE}.>`,
        `$JS.API.STREAM.PURGE.OBJ_${ARTIFACT_STORE}`,
      ],
    },
    subscribe: {
      allow: [
        Subjects.runnerCheck,
        Subjects.runnerDryRun,
        Subjects.runnerEvaluate,
        Subjects.runnerPing('*'),
        Subjects.runnerRollCall,
        `${INBOX_PREFIX.runner}.>`,
      ],
    },
    // replies to the runner services' requests
    allow_responses: true,
  };
}

/** The `accounts` block of the owned nats-server: one account with JetStream, a user per role with its permissions. */
export function accountsConfig(identities: Record<NatsRole, RoleIdentity>): string {
  const accounts = {
    MODELWATCH: {
      jetstream: 'enabled',
      users: NATS_ROLES.map((role) => ({ nkey: identities[role].publicKey, permissions: rolePermissions(role) })),
    },
  };
  return `accounts: ${JSON.stringify(accounts, null, 2)}`;
}

/** The connection options (authenticator, TLS, reply subjects) of a role given its security settings. */
export async function natsConnectOptions(sec: NatsSecurity, role: NatsRole): Promise<Partial<ConnectionOptions>> {
  const opts: Partial<ConnectionOptions> = { inboxPrefix: INBOX_PREFIX[role] };
  if (sec.credsFile) opts.authenticator = await authenticatorFromFile(sec.credsFile);
  if (sec.tlsCaFile || sec.tlsCertFile || sec.tlsKeyFile) {
    opts.tls = {
      ...(sec.tlsCaFile ? { caFile: sec.tlsCaFile } : {}),
      ...(sec.tlsCertFile ? { certFile: sec.tlsCertFile } : {}),
      ...(sec.tlsKeyFile ? { keyFile: sec.tlsKeyFile } : {}),
    };
  }
  return opts;
}

/** An authenticator from a `.creds` file (JWT and seed) or a file holding an nkey user seed. */
export async function authenticatorFromFile(file: string): Promise<NonNullable<ConnectionOptions['authenticator']>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ModelwatchError('INVALID_OPTIONS', `NATS credentials: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (text.includes('BEGIN NATS USER JWT')) return credsAuthenticator(new TextEncoder().encode(text));
  const seed = text.trim();
  if (/^SU[A-Z2-7]{50,}$/.test(seed)) return nkeyAuthenticator(new TextEncoder().encode(seed));
  throw new ModelwatchError('INVALID_OPTIONS', `NATS credentials: ${file} holds neither a .creds file (user JWT and seed) nor an nkey user seed (SU...)`);
}

/**
 * The key of the output binding (`domain/binding.ts`), from KV `mw_secrets` (readable by host
 * roles only): made by the first host process that asks, the same for every later one.
 */
export async function outputBindingKey(nc: NatsConnection): Promise<Buffer> {
  const kv = await new Kvm(nc).open(Buckets.secrets);
  const read = async () => {
    const e = await kv.get(OUTPUT_BINDING_KEY);
    return e && e.operation === 'PUT' && e.length > 0 ? Buffer.from(e.string(), 'base64') : undefined;
  };
  const found = await read();
  if (found) return found;
  try {
    await kv.create(OUTPUT_BINDING_KEY, newBindingKey().toString('base64'));
  } catch (err) {
    // another host process made it first: theirs is read below
    if (!(await read())) throw err;
  }
  const key = await read();
  if (!key) throw new ModelwatchError('INTERNAL', `no output binding key in ${Buckets.secrets} after making one`);
  return key;
}
