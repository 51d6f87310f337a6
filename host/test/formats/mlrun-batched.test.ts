import { describe, expect, it } from 'vitest';
import { eventFormatOf, inferNamesFrom, messageFormatOf } from '../../src/stream/formats/index.js';
import { mlrunBatched } from '../../src/stream/formats/mlrun-batched.js';
import { mlrunEvent } from '../../src/stream/formats/mlrun-event.js';
import { endpointRecord } from '../helpers.js';

/** What MLRun pushes with `stream_batch > 1`: the fields of each event by header, the common ones beside. */
const body = {
  class: 'ClassifierModel',
  headers: ['request', 'resp', 'when', 'microsec'],
  values: [
    [{ id: '1', inputs: [[1, 2]] }, { outputs: [0] }, '2026-11-27 11:59:58', 10],
    [{ id: '2', inputs: [[3, 4]] }, { outputs: [1] }, '2026-11-27 11:59:59', 20],
    'not a row',
  ],
};

describe('MLRun batched format', () => {
  it('detects headers and values (and no native inputs)', () => {
    expect(mlrunBatched.detect(body)).toBe(true);
    expect(mlrunBatched.detect({ ...body, inputs: [[1, 2]] })).toBe(false);
    expect(mlrunBatched.detect({ headers: [] })).toBe(false);
    expect(messageFormatOf(body)).toBe(mlrunBatched);
  });

  it('unpacks one MLRun event per value row, with the common fields; a value that is no row stays as it is', () => {
    const units = mlrunBatched.unpack(body);
    expect(units).toHaveLength(3);
    expect(units[0]).toEqual({
      event: { class: 'ClassifierModel', request: { id: '1', inputs: [[1, 2]] }, resp: { outputs: [0] }, when: '2026-11-27 11:59:58', microsec: 10 },
      index: 0,
    });
    expect(units[2]).toEqual({ event: 'not a row', index: 2 });
    expect(eventFormatOf(units[1]!.event)).toBe(mlrunEvent);
  });

  it('gives the names its MLRun events give', () => {
    expect(inferNamesFrom(mlrunBatched.unpack(body), endpointRecord([], []))).toEqual({ featureNames: ['f0', 'f1'], labelNames: ['p0'] });
  });
});
