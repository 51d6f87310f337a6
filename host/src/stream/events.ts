/**
 * The event formats as the rest of the host uses them (each format is a module of `formats/`),
 * and events appended as rows.
 */
import type { EndpointRecord, Rows } from '@modelwatch/protocol';
import { parseEvent } from './formats/index.js';

export {
  MAX_ROWS_PER_EVENT,
  eventFormatOf,
  eventFormats,
  eventKind,
  eventsOf,
  inferNames,
  inferNamesFrom,
  isObject,
  isRequestBatch,
  messageFormatOf,
  messageFormats,
  parseEvent,
  parseRequestBatch,
  parseWhen,
} from './formats/index.js';
export type { BatchServing, EventFormat, EventKind, InferredNames, MessageFormat, ParsedEvent } from './formats/index.js';

/**
 * Validate one event against its endpoint and append its rows to `into` (row-major).
 * @throws {InvalidEventError} saying what is wrong
 */
export function appendEventRows(event: unknown, endpoint: EndpointRecord, arrivalMs: number, into: Rows): void {
  const p = parseEvent(event, endpoint, arrivalMs);
  for (let i = 0; i < p.n; i++) {
    into.ts.push(p.ts[i]!);
    into.x.push(p.x.map((col) => col[i]!));
    into.y.push(p.y.map((col) => col[i]!));
    into.rid.push(p.rid ? p.rid[i]! : null);
    into.lat.push(p.lat ? p.lat[i]! : null);
  }
}

export function emptyRows(): Rows {
  return { ts: [], x: [], y: [], rid: [], lat: [] };
}
