/** MLRun's event: what its serving functions push (`{ request: { id, inputs }, resp: { outputs }, when, microsec, ... }`). */
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

function parse(event: Record<string, unknown>, endpoint: EndpointRecord, arrivalMs: number): ParsedEvent {
  const request = isObject(event.request) ? event.request : undefined;
  const resp = isObject(event.resp) ? event.resp : undefined;
  const sampling = samplingOf(event.sampling_percentage, 'sampling_percentage');
  if (event.error !== undefined && event.error !== null && event.error !== false && event.error !== '') {
    return errorEvent('mlrun', event.when, event.microsec, 'microsec', arrivalMs, sampling);
  }
  if (event.when === undefined || event.when === null) throw new InvalidEventError('when: missing (MLRun\'s request time, e.g. "2024-01-01 10:00:00.123456")');
  const t = parseWhen(event.when, arrivalMs);
  const id = request?.id ?? resp?.id;
  if (id === undefined || id === null || id === '') throw new InvalidEventError('request.id: missing (MLRun events carry request.id or resp.id)');
  if (typeof id !== 'string' && typeof id !== 'number') throw new InvalidEventError(`request.id: expected a string, got ${kind(id)}`);
  checkRequestId(String(id), request?.id !== undefined && request.id !== null ? 'request.id' : 'resp.id');
  if (event.microsec === undefined || event.microsec === null) throw new InvalidEventError('microsec: missing (the request latency in microseconds)');
  const latency = latencyOf(event.microsec, 'microsec');
  if (!request || request.inputs === undefined || request.inputs === null) throw new InvalidEventError('request.inputs: missing (a list of rows)');
  const inputs = request.inputs;
  if (!Array.isArray(inputs)) throw new InvalidEventError(`request.inputs: expected a list of rows, got ${kind(inputs)}`);
  if (inputs.length === 0) throw new InvalidEventError('request.inputs: no rows');
  if (inputs.length > MAX_ROWS_PER_EVENT && !isFlatRow(inputs))
    throw new InvalidEventError(`request.inputs: ${inputs.length} rows, over the limit of ${MAX_ROWS_PER_EVENT} per event`);
  if (!resp || resp.outputs === undefined || resp.outputs === null) throw new InvalidEventError('resp.outputs: missing (one prediction per row)');
  const effective = event.effective_sample_count;
  if (effective !== undefined && effective !== null && (typeof effective !== 'number' || !Number.isFinite(effective) || effective < 0)) {
    throw new InvalidEventError(`effective_sample_count: expected a non-negative number, got ${kind(effective)}`);
  }
  return rowsEvent('mlrun', inputs, resp.outputs, 'request.inputs', 'resp.outputs', endpoint, t, String(id), latency, sampling);
}

export const mlrunEvent: EventFormat = {
  kind: 'mlrun',
  detect: (event) => isObject(event) && (isObject(event.request) || (isObject(event.resp) && event.inputs === undefined)),
  parse: (event, endpoint, arrivalMs) => parse(event as Record<string, unknown>, endpoint, arrivalMs),
  inferNames(event: unknown, endpoint: EndpointRecord): InferredNames {
    if (!isObject(event)) return {};
    const inputs = isObject(event.request) ? event.request.inputs : undefined;
    const outputs = isObject(event.resp) ? event.resp.outputs : undefined;
    return inferRowNames(inputs, outputs, endpoint);
  },
};
