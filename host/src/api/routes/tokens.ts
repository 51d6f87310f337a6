/** API tokens (`modelwatch token create/list/revoke`) and the audit log (`modelwatch audit`): admin routes. */
import type { FastifyInstance } from 'fastify';
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Streams, type AuditEntry, type TokenRecord } from '@modelwatch/protocol';
import { timeOrAgo } from '../../config/duration.js';
import { READ_ONCE_CONSUMER_IDLE_MS } from '../../nats/topology.js';
import type { TokenCache, TokenStore } from '../../store/tokens.js';
import { AuthRoutes, type AuditList, type AuditQuery, type CreateTokenBody, type CreateTokenReply, type TokenInfo } from '../contract.js';
import { AuditQuerySchema, CreateTokenBodySchema, TokenParamsSchema } from '../schemas.js';

/** A token as listed: never its text or its hash. */
export function tokenInfo(t: TokenRecord): TokenInfo {
  const { hash: _hash, v: _v, ...info } = t;
  return info;
}

export interface TokenRoutesDeps {
  auth: { store: TokenStore; tokens: TokenCache };
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export function tokenRoutes(app: FastifyInstance, deps: TokenRoutesDeps): void {
  const { store, tokens } = deps.auth;

  app.get(AuthRoutes.tokens, async () => ({ tokens: (await store.list()).map(tokenInfo) }));

  app.post<{ Body: CreateTokenBody }>(AuthRoutes.tokens, { schema: { body: CreateTokenBodySchema } }, async (req, reply): Promise<CreateTokenReply> => {
    const { name, scopes, endpoints } = req.body;
    const { token, record } = await store.create({ name, scopes, endpoints, createdBy: req.mwToken });
    tokens.remember(record); // usable at once on this host
    void reply.status(201);
    return { ...tokenInfo(record), token };
  });

  app.delete<{ Params: { name: string } }>(AuthRoutes.token, { schema: { params: TokenParamsSchema } }, async (req) => {
    const gone = await store.revoke(req.params.name);
    tokens.forget(gone.name); // refused at once on this host
    return { revoked: gone.name };
  });

  app.get<{ Querystring: AuditQuery }>(AuthRoutes.audit, { schema: { querystring: AuditQuerySchema } }, async (req): Promise<AuditList> => {
    const limit = req.query.limit ?? 100;
    const since = req.query.since === undefined ? undefined : timeOrAgo(req.query.since, 'since', Date.now());
    // nothing is stamped after now (nats-server would read a start time past its last message as none)
    if (since !== undefined && since > Date.now()) return { entries: [] };
    const info = await deps.jsm.streams.info(Streams.audit);
    if (info.state.messages === 0) return { entries: [] };
    const consumer = await deps.js.consumers.get(
      Streams.audit,
      since !== undefined
        ? {
            deliver_policy: DeliverPolicy.StartTime,
            // (not before 1970: nats-server reads no such start time)
            opt_start_time: new Date(Math.max(0, since)).toISOString(),
            inactive_threshold: READ_ONCE_CONSUMER_IDLE_MS,
          }
        : {
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: Math.max(info.state.first_seq, info.state.last_seq - limit + 1),
            inactive_threshold: READ_ONCE_CONSUMER_IDLE_MS,
          },
    );
    const pending = (await consumer.info()).num_pending;
    const entries: AuditEntry[] = [];
    if (pending === 0) return { entries };
    const want = Math.min(limit, pending);
    for await (const m of await consumer.fetch({ max_messages: want, expires: 5000 })) {
      entries.push(m.json<AuditEntry>());
      if (entries.length >= want) break;
    }
    return { entries };
  });
}
