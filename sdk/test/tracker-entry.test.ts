import { describe, expect, it } from 'vitest';
import * as deprecated from '@modelwatch/sdk/tracker';
import * as tracker from '@modelwatch/tracker';

describe('@modelwatch/sdk/tracker', () => {
  it('re-exports @modelwatch/tracker for one release (deprecated)', () => {
    expect(deprecated.createTracker).toBe(tracker.createTracker);
  });
});
