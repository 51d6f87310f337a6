/** Serving statistics over HTTP: an endpoint's totals (`stats`) and its closed intervals (`serving`). */
import type { FastifyPluginAsync } from 'fastify';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  Subjects,
  type EndpointRecord,
  type EndpointStatsRecord,
  type ServingLiveReply,
  type ServingRecord,
  type ServingReply,
  type ServingRequest,
} from '@modelwatch/protocol';
import { addCounts, emptyCounts } from '../../domain/counts.js';
import { endpointId } from '../../domain/names.js';
import { parseTime } from '../../domain/time.js';
import { isErrorCode, ModelwatchError } from '../../errors.js';
import { jsonCodec } from '../../nats/codec.js';
import type { WatchedKv } from '../../store/watched-kv.js';
import { deadLetterCounts } from '../../stream/dlq.js';
import { DataPlaneRoutes, type EndpointStats } from '../contract.js';
import { EndpointParamsSchema, ServingQuerySchema } from '../schemas.js';

const DAY = 86_400_000;

export interface ServingRoutesOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  endpoints: WatchedKv<EndpointRecord>;
}

export const servingRoutes: FastifyPluginAsync<ServingRoutesOptions> = async (app, { nc, jsm, endpoints }) => {
  // ---- serving statistics
  app.get<{ Params: { name: string } }>(DataPlaneRoutes.stats, { schema: { params: EndpointParamsSchema } }, async (req) => {
    const name = req.params.name;
    const ep = await endpoints.get(name);
    if (!ep) throw new ModelwatchError('NOT_FOUND', `no endpoint named '${name}'`);
    return (await endpointStats({ nc, jsm }, [ep])).get(name)!;
  });

  app.get<{ Params: { name: string }; Querystring: { since?: string; limit?: string } }>(
    DataPlaneRoutes.serving,
    { schema: { params: EndpointParamsSchema, querystring: ServingQuerySchema } },
    async (req) => {
      const name = req.params.name;
      const q: ServingRequest = {
        intervals: {
          endpointId: endpointId(name),
          ...(req.query.since ? { since: parseTime(req.query.since, 'since') } : {}),
          ...(req.query.limit ? { limit: Number(req.query.limit) } : {}),
        },
      };
      const reply = await askServing(nc, q);
      if (!('intervals' in reply)) throw new ModelwatchError('NOT_FOUND', 'the writer did not answer with intervals');
      return { intervals: reply.intervals satisfies ServingRecord[] };
    },
  );
};

async function askServing(nc: NatsConnection, q: ServingRequest, timeout = 5000): Promise<ServingReply> {
  let reply: ServingReply;
  try {
    const m = await nc.request(Subjects.servingQuery, jsonCodec.encode(q), { timeout });
    reply = jsonCodec.decode<ServingReply>(m.data);
  } catch (err) {
    throw new ModelwatchError('NOT_FOUND', `the writer did not answer (${(err as Error).message}); is it running?`);
  }
  if ('error' in reply) throw new ModelwatchError(isErrorCode(reply.code) ? reply.code : 'INTERNAL', reply.error);
  return reply;
}

/**
 * Serving statistics of endpoints, by name: totals of the closed intervals (from the writer)
 * plus the intervals still open (from the serving aggregator), the drift status, dead letters.
 * What cannot be reached is left out rather than failing the call.
 */
export async function endpointStats(deps: { nc: NatsConnection; jsm: JetStreamManager }, eps: EndpointRecord[]): Promise<Map<string, EndpointStats>> {
  const ids = eps.map((e) => e.id);
  const [stored, live, dlq] = await Promise.all([
    askServing(deps.nc, { stats: { endpointIds: ids } }, 3000)
      .then((r) => ('stats' in r ? r.stats : []))
      .catch(() => [] as EndpointStatsRecord[]),
    deps.nc
      .request(Subjects.servingLive, new Uint8Array(0), { timeout: 1500 })
      .then((m) => jsonCodec.decode<ServingLiveReply>(m.data).open)
      .catch(() => ({}) as ServingLiveReply['open']),
    deadLetterCounts(deps.jsm).catch(() => ({}) as Record<string, Record<string, number>>),
  ]);
  const byId = new Map(stored.map((s) => [s.endpointId, s]));
  const now = Date.now();
  const out = new Map<string, EndpointStats>();
  for (const ep of eps) {
    const s = byId.get(ep.id);
    const counts = emptyCounts();
    if (s) addCounts(counts, s);
    const open = live[ep.id];
    if (open) addCounts(counts, open);
    let drift: number | null = null;
    for (const [status, at] of Object.entries(s?.statusSeen ?? {})) {
      if (at >= now - DAY && (drift === null || Number(status) > drift)) drift = Number(status);
    }
    const byReason = dlq[ep.name] ?? {};
    out.set(ep.name, {
      ...counts,
      latencyAvg: counts.latencyCount ? Math.round((counts.latencySum / counts.latencyCount) * 1000) / 1000 : null,
      driftStatus: drift,
      deadLetters: { total: Object.values(byReason).reduce((a, b) => a + b, 0), byReason },
      lastInterval: s?.lastInterval ?? null,
      windowsAnalysed: s ? (s.windowsAnalysed ?? null) : 0,
      lastOutcomes: s?.lastOutcomes ?? {},
    });
  }
  return out;
}
