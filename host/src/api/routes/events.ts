/**
 * Event ingest over HTTP: live events and batches of historical events (published through the
 * stream's `IngestService`), and the batches' records. A Fastify plugin: its JSON bodies keep
 * their raw bytes (a clean body is forwarded as it came), in its own context.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { BATCH_ID, type BatchRecord } from '@modelwatch/protocol';
import { batchSeriesId } from '../../domain/keys.js';
import { endpointId } from '../../domain/names.js';
import { ModelwatchError, unknownBatchError } from '../../errors.js';
import type { Buckets } from '../../nats/topology.js';
import type { IngestBody, IngestOutcome, IngestService } from '../../stream/ingest.js';
import { utf8Only } from '../body-text.js';
import { BodyLimits, DataPlaneRoutes, type BatchDetail, type BatchIngestResult, type BatchQuery, type IngestResult } from '../contract.js';
import { BatchQuerySchema, EndpointParamsSchema } from '../schemas.js';

export interface EventRoutesOptions {
  ingest: IngestService;
  buckets: Pick<Buckets, 'batches'>;
}

/** A JSON body as the content-type parser of these routes leaves it: parsed when small, else its bytes alone (the ingest parses it on a worker thread). */
interface RawJson {
  raw: Buffer;
  value?: unknown;
  error?: Error;
}

/** A JSON body up to this size is parsed on the event loop (quicker than a trip to a worker). */
const PARSE_INLINE_BYTES = 256 * 1024;
const NDJSON_TYPES = ['application/x-ndjson', 'application/jsonl'];

/** The body of a request as the ingest takes it: NDJSON or JSON bytes (JSON parsed when small), or nothing it can read. */
function ingestBody(body: unknown, contentType: string): IngestBody | undefined {
  const type = contentType.split(';')[0]!.trim();
  if (NDJSON_TYPES.includes(type)) return { type: 'ndjson', raw: Buffer.isBuffer(body) ? body : Buffer.alloc(0) };
  if (!body || typeof body !== 'object' || !('raw' in body)) return undefined;
  return { type: 'json', ...(body as RawJson) };
}

function answer({ status: _s, ...result }: IngestOutcome): IngestResult {
  return result;
}

/**
 * A batch's record, or `NOT_FOUND` naming it: a batch has one once its events are ingested (its
 * end processed). An id no batch can have is `INVALID_ARGUMENT`, as `POST .../batches?id=` says.
 */
export async function requireBatch(batches: Buckets['batches'], name: string, id: string): Promise<BatchRecord> {
  if (!BATCH_ID.test(id)) throw new ModelwatchError('INVALID_ARGUMENT', `batch id '${id}' is not valid: use 1-64 letters, digits, '_' or '-'`);
  const e = await batches.get(`${name}.${id}`);
  if (!e || e.operation !== 'PUT') throw unknownBatchError(name, id);
  return e.json<BatchRecord>();
}

export const eventRoutes: FastifyPluginAsync<EventRoutesOptions> = async (app, { ingest, buckets }) => {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    utf8Only((_req, body, done) => {
      const raw = body as Buffer;
      if (raw.length > PARSE_INLINE_BYTES) return done(null, { raw } satisfies RawJson);
      try {
        done(null, { raw, value: raw.length ? JSON.parse(raw.toString('utf8')) : undefined } satisfies RawJson);
      } catch (err) {
        done(null, { raw, error: err as Error } satisfies RawJson);
      }
    }),
  );
  // NDJSON stays bytes here: the ingest decodes it (on a worker thread when big)
  app.removeContentTypeParser(NDJSON_TYPES);
  app.addContentTypeParser(
    NDJSON_TYPES,
    { parseAs: 'buffer' },
    utf8Only((_req, body, done) => done(null, body)),
  );

  // ---- live events
  app.post<{ Params: { name: string }; Body: unknown }>(DataPlaneRoutes.events, { bodyLimit: BodyLimits.events }, async (req, reply) => {
    const key = req.headers['idempotency-key'];
    const outcome = await ingest.ingest(req.params.name, ingestBody(req.body, String(req.headers['content-type'] ?? '')), {
      ...(typeof key === 'string' && key ? { key } : {}),
    });
    return reply.status(outcome.status).send(answer(outcome));
  });

  // ---- batches of historical events, analysed in their own windows once complete
  app.post<{ Params: { name: string }; Querystring: BatchQuery; Body: unknown }>(
    DataPlaneRoutes.batches,
    // the body is the ingest's to read (JSON, NDJSON, a columnar batch): no schema
    { schema: { params: EndpointParamsSchema, querystring: BatchQuerySchema }, bodyLimit: BodyLimits.events },
    async (req, reply) => {
      const name = req.params.name;
      const batchId =
        req.query.id ??
        `${new Date()
          .toISOString()
          .replace(/[-:.TZ]/g, '')
          .slice(0, 14)}-${randomBytes(3).toString('hex')}`;
      const existing = await buckets.batches.get(`${name}.${batchId}`);
      if (existing?.operation === 'PUT') {
        throw new ModelwatchError(
          'CONFLICT',
          `batch '${batchId}' of endpoint ${name} exists already (${existing.json<BatchRecord>().status}): send new data as a new batch`,
        );
      }
      const outcome = await ingest.ingest(name, ingestBody(req.body, String(req.headers['content-type'] ?? '')), { batchId, key: batchId });
      if (outcome.accepted > 0) await ingest.endBatch(name, batchId);
      return reply.status(outcome.status).send({ batchId, ...answer(outcome) } satisfies BatchIngestResult);
    },
  );

  app.get<{ Params: { name: string } }>(DataPlaneRoutes.batches, { schema: { params: EndpointParamsSchema } }, async (req) => {
    const name = req.params.name;
    const out: BatchRecord[] = [];
    for await (const k of await buckets.batches.keys(`${name}.>`)) {
      const e = await buckets.batches.get(k);
      if (e?.operation === 'PUT') out.push(e.json<BatchRecord>());
    }
    out.sort((a, b) => a.createdAt - b.createdAt);
    return { batches: out };
  });

  app.get<{ Params: { name: string; id: string } }>(DataPlaneRoutes.batch, { schema: { params: EndpointParamsSchema } }, async (req): Promise<BatchDetail> => {
    const name = req.params.name;
    const batch = await requireBatch(buckets.batches, name, req.params.id);
    return { ...batch, resultsEndpointId: batchSeriesId(endpointId(name), req.params.id) };
  });
};
