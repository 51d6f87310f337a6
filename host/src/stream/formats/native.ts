/** The native event: `{ when?, inputs, outputs?, requestId?, latencyMicros?, error?, labels? }` (the protocol's `InferenceEvent`). */
import { isFlatRow, type EndpointRecord } from '@modelwatch/protocol';
import { checkRequestId } from '../../domain/names.js';
import { InvalidEventError } from '../../errors.js';
import {
  MAX_ROWS_PER_EVENT,
  errorEvent,
  inferRowNames,
  isObject,
  kind,
  latencyOf,
  parseWhen,
  rowsEvent,
  samplingOf,
  type EventFormat,
  type InferredNames,
  type ParsedEvent,
} from './common.js';

function parse(event: unknown, endpoint: EndpointRecord, arrivalMs: number): ParsedEvent {
  if (!isObject(event)) throw new InvalidEventError(`an event must be a JSON object, got ${kind(event)}`);
  const { inputs, outputs } = event;
  const sampling = samplingOf(event.samplingPercentage, 'samplingPercentage');
  if (event.error !== undefined && event.error !== null && event.error !== false) {
    return errorEvent('native', event.when, event.latencyMicros, 'latencyMicros', arrivalMs, sampling);
  }
  if (inputs === undefined) throw new InvalidEventError('inputs: missing (a list of rows)');
  if (!Array.isArray(inputs)) throw new InvalidEventError(`inputs: expected a list of rows, got ${kind(inputs)}`);
  if (inputs.length === 0) throw new InvalidEventError('inputs: no rows');
  if (inputs.length > MAX_ROWS_PER_EVENT && !isFlatRow(inputs))
    throw new InvalidEventError(`inputs: ${inputs.length} rows, over the limit of ${MAX_ROWS_PER_EVENT} per event`);
  const t = parseWhen(event.when, arrivalMs);
  const requestId = event.requestId;
  if (requestId !== undefined && requestId !== null && typeof requestId !== 'string') {
    throw new InvalidEventError(`requestId: expected a string, got ${kind(requestId)}`);
  }
  if (typeof requestId === 'string') checkRequestId(requestId, 'requestId');
  const latency = latencyOf(event.latencyMicros, 'latencyMicros');
  if (event.labels !== undefined && !isObject(event.labels)) throw new InvalidEventError(`labels: expected an object, got ${kind(event.labels)}`);
  return rowsEvent('native', inputs, outputs, 'inputs', 'outputs', endpoint, t, typeof requestId === 'string' ? requestId : null, latency, sampling);
}

export const native: EventFormat = {
  kind: 'native',
  /** Anything the other formats do not take (what is not an object fails to parse). */
  detect: () => true,
  parse,
  inferNames(event: unknown, endpoint: EndpointRecord): InferredNames {
    if (!isObject(event)) return {};
    return inferRowNames(event.inputs, event.outputs, endpoint);
  },
};
