import { describe, expect, it } from 'vitest';
import { eventList } from '../../src/stream/formats/event-list.js';
import { eventsOf, messageFormatOf } from '../../src/stream/formats/index.js';

describe('list of events', () => {
  it('detects a JSON list, first of the message formats', () => {
    expect(eventList.detect([])).toBe(true);
    expect(eventList.detect({ format: 'batch', events: [] })).toBe(false);
    expect(messageFormatOf([{ format: 'batch' }])).toBe(eventList);
    expect(messageFormatOf({ inputs: [[1]] })).toBeUndefined();
  });

  it('unpacks one event per element, with its position; a body of one event has none', () => {
    expect(eventList.unpack([{ a: 1 }, 'x'])).toEqual([
      { event: { a: 1 }, index: 0 },
      { event: 'x', index: 1 },
    ]);
    expect(eventsOf({ inputs: [[1]] })).toEqual([{ event: { inputs: [[1]] } }]);
  });

  it('has no envelope and no way of its own to write a part', () => {
    expect(eventList.envelope).toBeUndefined();
    expect(eventList.rewrap).toBeUndefined();
  });
});
