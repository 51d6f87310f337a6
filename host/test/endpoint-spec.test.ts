import { describe, expect, it } from 'vitest';
import { newEndpointOf } from '../src/api/endpoint-spec.js';

describe('an endpoint to create, as a request gives it', () => {
  it('takes monitoring as a JSON boolean, true when absent, and refuses anything else (the string "false" is not false)', () => {
    expect(newEndpointOf({ name: 'mf' }).monitoring).toBe(true);
    expect(newEndpointOf({ name: 'mf', monitoring: false }).monitoring).toBe(false);
    expect(newEndpointOf({ name: 'mf', monitoring: true }).monitoring).toBe(true);
    for (const monitoring of ['false', 'true', 0, 1, null, {}])
      expect(() => newEndpointOf({ name: 'mf', monitoring })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'monitoring: expected true or false' }),
      );
  });
});
