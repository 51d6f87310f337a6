/** The dead letters over HTTP (`modelwatch dlq list/show/replay`): thin routes over the stream's `dlq.ts`. */
import type { FastifyPluginAsync } from 'fastify';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { StoredDeadLetter } from '@modelwatch/protocol';
import { ModelwatchError } from '../../errors.js';
import { deadLetterReport, getDeadLetter, replayDeadLetters } from '../../stream/dlq.js';
import { DataPlaneRoutes, type DeadLetterList, type DeadLetterQuery, type ReplayReply, type ReplayRequest } from '../contract.js';
import { DeadLetterParamsSchema, DeadLetterQuerySchema, ReplayBodySchema } from '../schemas.js';

export interface DeadLetterRoutesOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export const deadLetterRoutes: FastifyPluginAsync<DeadLetterRoutesOptions> = async (app, { js, jsm }) => {
  app.get<{ Querystring: DeadLetterQuery & { limit?: number | '' } }>(
    DataPlaneRoutes.deadLetters,
    { schema: { querystring: DeadLetterQuerySchema } },
    async (req): Promise<DeadLetterList> => {
      const { endpoint, reason, limit } = req.query;
      return await deadLetterReport(js, jsm, { ...(endpoint ? { endpoint } : {}), ...(reason ? { reason } : {}), limit: limit || 100 });
    },
  );

  app.get<{ Params: { seq: number } }>(DataPlaneRoutes.deadLetter, { schema: { params: DeadLetterParamsSchema } }, async (req): Promise<StoredDeadLetter> => {
    const letter = await getDeadLetter(jsm, req.params.seq);
    if (!letter) throw new ModelwatchError('NOT_FOUND', `no dead letter ${req.params.seq} (replayed, expired, or never there)`);
    return letter;
  });

  app.post<{ Body: ReplayRequest | undefined }>(DataPlaneRoutes.replay, { schema: { body: ReplayBodySchema } }, async (req): Promise<ReplayReply> => {
    const { endpoint, seqs, includeLate } = req.body ?? {};
    return await replayDeadLetters(js, jsm, { ...(endpoint ? { endpoint } : {}), ...(seqs ? { seqs } : {}), includeLate: includeLate === true });
  });
};
