import { describe, expect, it } from 'vitest';
import { describeValue, readConfig } from '../src/index.js';

describe('readConfig', () => {
  it('gives the config back with a fail() that names the plugin', () => {
    const { cfg, fail } = readConfig('my-app', { threshold: 0.2 }, ['threshold', 'columns']);
    expect(cfg).toEqual({ threshold: 0.2 });
    expect(() => fail('config threshold is too high')).toThrow(new Error('my-app: config threshold is too high'));
  });

  it('takes a missing config as {}', () => {
    expect(readConfig('my-app', undefined, ['a']).cfg).toEqual({});
    expect(readConfig('my-app', null, ['a']).cfg).toEqual({});
  });

  it('refuses a config that is not an object, saying what it should be', () => {
    expect(() => readConfig('my-app', [1, 2], ['a'])).toThrow(new Error('my-app: config must be an object, got an array'));
    expect(() => readConfig('my-app', 'x', ['a'], 'an object with a and b')).toThrow(new Error('my-app: config must be an object with a and b, got "x"'));
  });

  it('refuses an unknown key, listing the known ones', () => {
    expect(() => readConfig('my-app', { thresold: 1 }, ['threshold', 'columns'])).toThrow(
      new Error("my-app: unknown config key 'thresold' (known keys: threshold, columns)"),
    );
  });
});

describe('describeValue', () => {
  it('quotes strings and names objects and arrays by kind', () => {
    expect([describeValue('a'), describeValue(1.5), describeValue(null), describeValue(undefined), describeValue([1]), describeValue({ a: 1 })]).toEqual([
      '"a"',
      '1.5',
      'null',
      'undefined',
      'an array',
      'an object',
    ]);
  });
});
