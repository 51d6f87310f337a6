import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { ajvOnUse, checkOnUse, compilerOnUse } from '../src/schema-check.js';

const schema = { type: 'object', required: ['n'], properties: { n: { type: 'integer' } }, errorMessage: { required: 'n is needed' } };

describe('schema checks compiled on first use', () => {
  it('makes no Ajv and compiles nothing until the first check, then compiles once', () => {
    let made = 0;
    let compiled = 0;
    const ajv = () => {
      made++;
      const a = new Ajv({ strict: false });
      const compile = a.compile.bind(a);
      a.compile = ((s: object) => (compiled++, compile(s))) as typeof a.compile;
      return a;
    };
    const check = checkOnUse<{ n: number }>(ajv, { type: 'object', properties: { n: { type: 'integer' } } });
    expect([made, compiled]).toEqual([0, 0]);
    expect(check({ n: 1 })).toBe(true);
    expect(check({ n: 2 })).toBe(true);
    expect([made, compiled]).toEqual([1, 1]);
  });

  it("carries the last call's errors, as Ajv's own check does", () => {
    const check = checkOnUse(ajvOnUse({ allErrors: true, strict: false }, true), schema);
    expect(check.errors).toBeNull();
    expect(check({})).toBe(false);
    expect(check.errors?.[0]?.message).toBe('n is needed');
    expect(check({ n: 1.5 })).toBe(false);
    expect(check.errors?.[0]?.instancePath).toBe('/n');
    expect(check({ n: 1 })).toBe(true);
    expect(check.errors).toBeNull();
  });

  it('shares one Ajv among the checks made with it, made on the first', () => {
    let made = 0;
    const shared = ajvOnUse({ strict: false });
    const counted = () => (made++, shared());
    const a = checkOnUse(counted, { type: 'string' });
    const b = checkOnUse(counted, { type: 'number' });
    expect(a('x') && b(1)).toBe(true);
    expect(shared()).toBe(shared());
    expect(made).toBe(2);
  });

  it("reports a schema Ajv cannot compile when first used, with Ajv's message", () => {
    const check = checkOnUse(ajvOnUse({}), { type: 'no-such-type' });
    expect(() => check(1)).toThrow(/no-such-type|type must be/);
  });

  it('compiles a schema given at run time once while it lives, each schema apart', () => {
    const compile = compilerOnUse(ajvOnUse({ strict: false }));
    const a = { type: 'string' };
    expect(compile(a)).toBe(compile(a));
    expect(compile({ type: 'string' })).not.toBe(compile(a));
    expect(compile(a)('x') && !compile(a)(1)).toBe(true);
  });
});
