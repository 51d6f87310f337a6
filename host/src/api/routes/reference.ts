/**
 * An endpoint's reference uploaded as a file (`PUT /api/v1/endpoints/:name/reference`): CSV,
 * JSON Lines or a JSON array of rows, up to `BodyLimits.reference`. The body stays bytes here (its
 * own content-type parsers, in its own context) and is parsed, encoded and its statistics
 * computed on a worker thread (`BodyWorkers`), so a big file does not hold the event loop.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { EndpointRecord } from '@modelwatch/protocol';
import { checkEndpointName } from '../../domain/names.js';
import type { ReferenceFormat } from '../../domain/reference.js';
import { ModelwatchError } from '../../errors.js';
import type { EndpointStore } from '../../store/endpoints.js';
import { utf8Only } from '../body-text.js';
import type { BodyWorkers } from '../body-workers.js';
import { BodyLimits } from '../contract.js';

export interface ReferenceRoutesOptions {
  endpoints: EndpointStore;
  workers: BodyWorkers;
  maxFeatures?: number;
  summary: (e: EndpointRecord) => object;
}

const FORMATS: Record<string, ReferenceFormat> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
  'application/json': 'json',
};

export const referenceRoutes: FastifyPluginAsync<ReferenceRoutesOptions> = async (app, { endpoints, workers, maxFeatures, summary }) => {
  const types = Object.keys(FORMATS);
  app.removeContentTypeParser(types.filter((t) => app.hasContentTypeParser(t)));
  app.addContentTypeParser(
    types,
    { parseAs: 'buffer' },
    utf8Only((_req, body, done) => done(null, body)),
  );

  app.put<{ Params: { name: string }; Body: unknown }>('/api/v1/endpoints/:name/reference', { bodyLimit: BodyLimits.reference }, async (req) => {
    const name = checkEndpointName(req.params.name);
    const ep = await endpoints.require(name);
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    const format = Object.hasOwn(FORMATS, type) ? FORMATS[type]! : undefined;
    if (!format || !Buffer.isBuffer(req.body)) {
      throw new ModelwatchError('INVALID_REFERENCE', `reference: send text/csv, application/x-ndjson or application/json, not '${type}'`);
    }
    const prepared = await workers.reference(req.body, format, ep, maxFeatures);
    const rec = await endpoints.setReference(name, prepared, maxFeatures);
    return { ...summary(rec), referenceRows: prepared.rows };
  });
};
