/**
 * The event formats, in the order they are tried. A message body is unpacked by the first
 * message format that detects it (else it is one event); each event is parsed by the first event
 * format that detects it (`native` takes the rest). Adding a format: one module here, in one of
 * the two lists, and its test in `host/test/formats/`.
 */
import type { EndpointRecord } from '@modelwatch/protocol';
import { DEFAULT_MAX_FEATURES, namesProblem } from '../../domain/names.js';
import { InvalidEventError } from '../../errors.js';
import { beginEvent, checkNesting, type EventFormat, type EventKind, type InferredNames, type MessageFormat, type ParsedEvent } from './common.js';
import { eventList } from './event-list.js';
import { microBatch } from './micro-batch.js';
import { mlrunBatched } from './mlrun-batched.js';
import { mlrunEvent } from './mlrun-event.js';
import { native } from './native.js';
import { requestBatch } from './request-batch.js';

export { MAX_NESTING, MAX_ROWS_PER_EVENT, isObject, jsonText, parseWhen } from './common.js';
export type { BatchServing, EventFormat, EventKind, InferredNames, MessageFormat, ParsedEvent } from './common.js';
export { isRequestBatch, parseRequestBatch } from './request-batch.js';

/** Formats of one event, in detect order: the last is the fallback. */
export const eventFormats: readonly EventFormat[] = [microBatch, mlrunEvent, native];

/** Formats of a body holding several events, in detect order. */
export const messageFormats: readonly MessageFormat[] = [eventList, requestBatch, mlrunBatched];

/** The format of a (JSON-decoded) event. */
export function eventFormatOf(event: unknown): EventFormat {
  for (const f of eventFormats) if (f.detect(event)) return f;
  return native;
}

/** The format of a (JSON-decoded) message body that holds several events, or undefined for one event. */
export function messageFormatOf(body: unknown): MessageFormat | undefined {
  for (const f of messageFormats) if (f.detect(body)) return f;
  return undefined;
}

/** Which format a (JSON-decoded) event is in. */
export function eventKind(event: unknown): EventKind {
  return eventFormatOf(event).kind;
}

/**
 * The events of one message body: an array is one event per element; MLRun's batched form
 * (`{headers, values}`, what its serving functions push when `stream_batch > 1`) is one MLRun
 * event per value row; a request batch its events; anything else is one event. `index` is the
 * position in the body.
 */
export function eventsOf(body: unknown): Array<{ event: unknown; index?: number }> {
  const f = messageFormatOf(body);
  return f ? f.unpack(body) : [{ event: body }];
}

/**
 * Validate one event of any format against its endpoint (its lists and objects nested at most
 * `MAX_NESTING` deep, whatever its format: what the format ignores is re-encoded too).
 * @throws {InvalidEventError} saying what is wrong
 */
export function parseEvent(event: unknown, endpoint: EndpointRecord, arrivalMs: number): ParsedEvent {
  checkNesting(event);
  beginEvent();
  return eventFormatOf(event).parse(event, endpoint, arrivalMs);
}

/** What names an event would give an endpoint that has none. */
export function inferNames(event: unknown, endpoint: EndpointRecord): InferredNames {
  return eventFormatOf(event).inferNames(event, endpoint);
}

/**
 * What names the events of a message give an endpoint that has none: features from the first
 * event that has inputs, outputs from the first that has outputs (an error event or one
 * without outputs may come first). They are checked as declared names are (`namesProblem`:
 * valid names, at most `maxNames` of each).
 * @throws {InvalidEventError} when the names an event gives are not valid or too many
 */
export function inferNamesFrom(events: ReadonlyArray<{ event: unknown }>, endpoint: EndpointRecord, maxNames: number = DEFAULT_MAX_FEATURES): InferredNames {
  const out = inferFrom(events, endpoint);
  for (const [names, what] of [
    [out.featureNames, 'feature names inferred from the first event'],
    [out.labelNames, 'output names inferred from the first event'],
  ] as const) {
    const problem = names && namesProblem(names, what, maxNames);
    if (problem) throw new InvalidEventError(`${problem}; declare the endpoint's names instead (modelwatch endpoint create --features ...)`);
  }
  return out;
}

function inferFrom(events: ReadonlyArray<{ event: unknown }>, endpoint: EndpointRecord): InferredNames {
  const out: InferredNames = {};
  for (const { event } of events.slice(0, 1000)) {
    const n = inferNames(event, { ...endpoint, featureNames: out.featureNames ?? endpoint.featureNames, labelNames: out.labelNames ?? endpoint.labelNames });
    if (n.featureNames) out.featureNames = n.featureNames;
    if (n.labelNames) out.labelNames = n.labelNames;
    if ((out.featureNames || endpoint.featureNames.length) && (out.labelNames || endpoint.labelNames.length)) break;
  }
  return out;
}
