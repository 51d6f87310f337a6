/**
 * The request batch, `{ format: "batch", events, requests: { count, errors?, latencyMicros?,
 * dropped?, firstWhen?, lastWhen? }, samplingPercentage? }` (the protocol's `RequestBatch`, what
 * the tracker sends): its events are a sample of the requests its envelope counts.
 */
import type { RequestBatch } from '@modelwatch/protocol';
import { InvalidEventError } from '../../errors.js';
import { checkNesting, countOf, isObject, kind, latencyOf, MAX_NESTING, parseWhen, samplingOf, type BatchServing, type MessageFormat } from './common.js';

/** Whether a body is a request batch (`format: "batch"`). */
export function isRequestBatch(body: unknown): body is RequestBatch {
  return isObject(body) && body.format === 'batch';
}

/**
 * Validate the envelope of a request batch (not its events): its times, like an event's, at most
 * `maxFutureSkewMs` after `arrivalMs`.
 * @throws {InvalidEventError} saying what is wrong
 */
export function parseRequestBatch(body: Record<string, unknown>, arrivalMs: number, maxFutureSkewMs = Infinity): BatchServing {
  if (!Array.isArray(body.events)) throw new InvalidEventError(`events: expected a list of events, got ${kind(body.events)}`);
  // the envelope is written again around each part of its events (`rewrap`): bounded like an event
  checkNesting(body, 'request batch', MAX_NESTING, 'events');
  const samplingPercentage = samplingOf(body.samplingPercentage, 'samplingPercentage');
  const R = body.requests;
  if (!isObject(R)) throw new InvalidEventError(`requests: expected an object { count, errors?, latencyMicros?, dropped? }, got ${kind(R)}`);
  const requests = countOf(R.count, 'requests.count');
  const errors = R.errors === undefined ? 0 : countOf(R.errors, 'requests.errors');
  const dropped = R.dropped === undefined ? 0 : countOf(R.dropped, 'requests.dropped');
  if (errors > requests) throw new InvalidEventError(`requests.errors: ${errors} errors for ${requests} requests`);
  let latencies: number[] = [];
  if (R.latencyMicros !== undefined && R.latencyMicros !== null) {
    if (!Array.isArray(R.latencyMicros)) throw new InvalidEventError(`requests.latencyMicros: expected a list, got ${kind(R.latencyMicros)}`);
    if (R.latencyMicros.length > requests) throw new InvalidEventError(`requests.latencyMicros: ${R.latencyMicros.length} latencies for ${requests} requests`);
    latencies = R.latencyMicros.map((v, i) => latencyOf(v, `requests.latencyMicros[${i}]`) ?? 0);
  }
  const time = (v: unknown, path: string): number | null => {
    if (v === undefined || v === null) return null;
    // at most as far ahead as an event may be: the endpoint's last request is never put past that,
    // and the batch stays (the trackers put every request's time here, a future one too, whose
    // event alone is refused, FUTURE_EVENT)
    return Math.min(parseWhen(v, arrivalMs, path), arrivalMs + maxFutureSkewMs);
  };
  const tMin = time(R.firstWhen, 'requests.firstWhen');
  const tMax = time(R.lastWhen, 'requests.lastWhen');
  return { requests, errors, latencies, dropped, samplingPercentage, tMin, tMax };
}

export const requestBatch: MessageFormat = {
  name: 'request-batch',
  detect: isRequestBatch,
  unpack: (body) => {
    const events = (body as Record<string, unknown>).events;
    return Array.isArray(events) ? events.map((event, index) => ({ event, index })) : [];
  },
  envelope: (body, arrivalMs, maxFutureSkewMs) => parseRequestBatch(body as Record<string, unknown>, arrivalMs, maxFutureSkewMs),
  // a request batch stays one: its request counts go with the first part, the others count none
  rewrap(body, events, first) {
    const { events: _e, requests, ...rest } = body as RequestBatch;
    const head = first ? { ...rest, requests } : { ...rest, requests: { count: 0 } };
    return `${JSON.stringify(head).slice(0, -1)},"events":[${events.join(',')}]}`;
  },
};
