/**
 * The identities of the owned nats-server. `host`: the host process (API, stream processor,
 * controller, writer); `runner`: app runners, which run plugin code; `ingest`: model servers and
 * labelling systems (the tracker), which only publish events and labels. In a module of their own,
 * without the NATS client, for the CLI's `nats creds` to check `--role` with.
 */
export type NatsRole = 'host' | 'runner' | 'ingest';
export const NATS_ROLES: readonly NatsRole[] = ['host', 'runner', 'ingest'];
