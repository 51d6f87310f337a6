/** What the tests of the event formats share. */
import { expect } from 'vitest';
import { InvalidEventError } from '../../src/errors.js';
import { beginEvent } from '../../src/stream/formats/common.js';

export const ARRIVAL = Date.UTC(2026, 10, 27, 12);

/** The message of the InvalidEventError `fn` throws (fails the test when it throws none or another). */
export function invalid(fn: () => unknown): string {
  try {
    beginEvent();
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidEventError);
    return (err as Error).message;
  }
  throw new Error('expected an InvalidEventError');
}
