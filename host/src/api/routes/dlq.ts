/** The dead letters over HTTP (`modelwatch dlq list/show/replay`): thin routes over the stream's `dlq.ts`. */
import type { FastifyPluginAsync } from 'fastify';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { StoredDeadLetter } from '@modelwatch/protocol';
import { checkEndpointName } from '../../domain/names.js';
import { ModelwatchError } from '../../errors.js';
import { deadLetterReport, getDeadLetter, replayDeadLetters } from '../../stream/dlq.js';
import { DataPlaneRoutes, type DeadLetterList, type ReplayReply } from '../contract.js';

export interface DeadLetterRoutesOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export const deadLetterRoutes: FastifyPluginAsync<DeadLetterRoutesOptions> = async (app, { js, jsm }) => {
  app.get<{ Querystring: { endpoint?: string; reason?: string; limit?: string } }>(DataPlaneRoutes.deadLetters, async (req): Promise<DeadLetterList> => {
    const endpoint = req.query.endpoint ? checkEndpointName(req.query.endpoint) : undefined;
    const limit = req.query.limit ? Number(req.query.limit) : 100;
    if (!Number.isInteger(limit) || limit <= 0)
      throw new ModelwatchError('INVALID_ARGUMENT', `limit: expected a positive whole number, got '${req.query.limit}'`);
    return await deadLetterReport(js, jsm, { ...(endpoint ? { endpoint } : {}), ...(req.query.reason ? { reason: req.query.reason } : {}), limit });
  });

  app.get<{ Params: { seq: string } }>(DataPlaneRoutes.deadLetter, async (req): Promise<StoredDeadLetter> => {
    const seq = Number(req.params.seq);
    if (!Number.isInteger(seq) || seq <= 0) throw new ModelwatchError('INVALID_ARGUMENT', `'${req.params.seq}' is not a dead-letter sequence`);
    const letter = await getDeadLetter(jsm, seq);
    if (!letter) throw new ModelwatchError('NOT_FOUND', `no dead letter ${seq} (replayed, expired, or never there)`);
    return letter;
  });

  app.post<{ Body: { endpoint?: unknown; seqs?: unknown; includeLate?: unknown } }>(DataPlaneRoutes.replay, async (req): Promise<ReplayReply> => {
    const body = req.body ?? {};
    const endpoint = body.endpoint === undefined ? undefined : checkEndpointName(body.endpoint);
    let seqs: number[] | undefined;
    if (body.seqs !== undefined) {
      if (!Array.isArray(body.seqs) || !body.seqs.every((s) => Number.isInteger(s) && (s as number) > 0)) {
        throw new ModelwatchError('INVALID_ARGUMENT', 'seqs: expected a list of dead-letter sequences');
      }
      seqs = body.seqs as number[];
    }
    return await replayDeadLetters(js, jsm, { ...(endpoint ? { endpoint } : {}), ...(seqs ? { seqs } : {}), includeLate: body.includeLate === true });
  });
};
