/**
 * `POST /api/v1/endpoints/bulk`: many endpoints created in one request (`modelwatch endpoint
 * create --from FILE`). Each item is checked as `POST /api/v1/endpoints` checks its body; an item
 * that is wrong (or conflicts with an existing endpoint) fails alone, with its code and message,
 * and every other item is created. A Fastify plugin.
 */
import type { FastifyPluginAsync } from 'fastify';
import { isModelwatchError, ModelwatchError } from '../../errors.js';
import type { EndpointStore, NewEndpoint } from '../../store/endpoints.js';
import { BULK_ENDPOINTS_MAX, BodyLimits, type BulkCreateEndpointsReply, type BulkEndpointOutcome } from '../contract.js';
import { newEndpointOf } from '../endpoint-spec.js';

export interface BulkEndpointRoutesOptions {
  endpoints: EndpointStore;
  maxFeatures?: number;
}

/** The items of a bulk body: a JSON array, or `{ endpoints: [...] }`. */
function itemsOf(body: unknown): unknown[] {
  const items = Array.isArray(body) ? body : body && typeof body === 'object' ? (body as { endpoints?: unknown }).endpoints : undefined;
  if (!Array.isArray(items))
    throw new ModelwatchError('INVALID_ARGUMENT', 'body: expected { endpoints: [ { name, featureNames?, ... }, ... ] } or a JSON array of endpoints');
  if (items.length > BULK_ENDPOINTS_MAX) {
    throw new ModelwatchError(
      'INVALID_ARGUMENT',
      `endpoints: ${items.length} items, over the limit of ${BULK_ENDPOINTS_MAX} per request: send them in several requests`,
    );
  }
  return items;
}

/** One item's failure as the reply says it. */
function failure(index: number, name: string | undefined, err: unknown): BulkEndpointOutcome {
  const error = isModelwatchError(err) ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: (err as Error)?.message ?? String(err) };
  return { index, ...(name !== undefined && { name }), status: 'failed', error };
}

export const bulkEndpointRoutes: FastifyPluginAsync<BulkEndpointRoutesOptions> = async (app, { endpoints, maxFeatures }) => {
  app.post<{ Body: unknown }>('/api/v1/endpoints/bulk', { bodyLimit: BodyLimits.bulkEndpoints }, async (req): Promise<BulkCreateEndpointsReply> => {
    const items = itemsOf(req.body);
    const outcomes: BulkEndpointOutcome[] = new Array(items.length);
    const specs: Array<{ index: number; spec: NewEndpoint }> = [];
    const firstAt = new Map<string, number>();
    items.forEach((item, index) => {
      const name = item && typeof item === 'object' && typeof (item as { name?: unknown }).name === 'string' ? (item as { name: string }).name : undefined;
      try {
        if (!item || typeof item !== 'object' || Array.isArray(item))
          throw new ModelwatchError('INVALID_ARGUMENT', 'expected an object { name, featureNames?, labelNames?, ... }');
        if ('reference' in item) {
          throw new ModelwatchError('INVALID_ARGUMENT', `reference: not taken in bulk; set it after with PUT /api/v1/endpoints/${name ?? '{name}'}/reference`);
        }
        const spec = newEndpointOf(item, maxFeatures);
        const first = firstAt.get(spec.name);
        if (first !== undefined) throw new ModelwatchError('INVALID_ARGUMENT', `name '${spec.name}' is given twice in this request (first at item ${first})`);
        firstAt.set(spec.name, index);
        specs.push({ index, spec });
      } catch (err) {
        outcomes[index] = failure(index, name, err);
      }
    });
    const made = await endpoints.createMany(specs.map((s) => s.spec));
    made.forEach((m, j) => {
      const { index, spec } = specs[j]!;
      outcomes[index] =
        'error' in m ? failure(index, spec.name, m.error) : { index, name: spec.name, id: m.record.id, status: m.created ? 'created' : 'exists' };
    });
    const count = (s: BulkEndpointOutcome['status']) => outcomes.filter((o) => o.status === s).length;
    return { created: count('created'), existing: count('exists'), failed: count('failed'), items: outcomes };
  });
};
