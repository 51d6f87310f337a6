import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileGlob, globMatcher, globMatches, globProblem, MAX_GLOB_LENGTH } from '../src/domain/glob.js';

/** Whether the glob matches, and that the match stayed within its bound: each character moves at most every state once. */
function matchCounted(pattern: string, name: string): boolean {
  const glob = compileGlob(pattern, 'glob');
  const meter = { steps: 0 };
  const hit = glob.matches(name, meter);
  expect(meter.steps).toBeLessThanOrEqual((name.length + 1) * glob.size);
  expect(glob.size).toBeLessThanOrEqual(2 * pattern.length + 1);
  return hit;
}

describe('globs: the syntax of matchesGlob, on names', () => {
  // every answer is the one path.posix.matchesGlob gave
  it.each([
    ['churn', 'churn', true],
    ['churn', 'churn-2', false],
    ['churn', 'Churn', false],
    ['churn-*', 'churn-eu', true],
    ['churn-*', 'churn-', true],
    ['churn-*', 'churn', false],
    ['*-eu', '-eu', true],
    ['*', 'x_1', true],
    ['**', 'ab', true],
    ['a**b', 'axyb', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYbZc', true],
    ['a*b*c', 'acb', false],
    ['*a', 'ba', true],
    ['*a', 'ab', false],
    ['model-v?', 'model-v2', true],
    ['model-v?', 'model-v10', false],
    ['?', 'ab', false],
    ['*?', 'a', true],
    ['ep-[0-9]', 'ep-7', true],
    ['ep-[!0-9]', 'ep-7', false],
    ['ep-[!0-9]', 'ep-x', true],
    ['[^a-c]x', 'dx', true],
    ['[a-c]x', 'bx', true],
    ['[A-Z]x', 'bx', false],
    ['[-a]', '-', true],
    ['[a-]', '-', true],
    ['[a-]', 'b', false],
    ['[abc_]', '_', true],
    ['{churn,fraud}-eu', 'fraud-eu', true],
    ['{churn,fraud}-eu', 'other-eu', false],
    ['{a,b}', 'c', false],
    ['x{a,}', 'x', true],
    ['x{,a}', 'xa', true],
    ['a{,}', 'a', true],
    ['{,}', 'x', false],
    ['{a,{b,c}}d', 'cd', true],
    ['a{b,c{d,e}f}g', 'acefg', true],
    ['a{b,c{d,e}f}g', 'acfg', false],
    ['{*-eu,*-us}', 'fraud-us', true],
    ['hist*', 'histogram-data-drift', true],
    ['general_*', 'general_drift', true],
  ])('%s against %s: %s', (pattern, name, expected) => {
    expect(matchCounted(pattern, name)).toBe(expected);
    expect(globMatches(pattern, name)).toBe(expected);
    expect(globMatcher(pattern)(name)).toBe(expected);
  });

  it('gives the answers of matchesGlob on generated globs and names', () => {
    // a fixed pseudo-random sequence (a 32-bit LCG): the same globs every run
    let seed = 12345;
    const pick = <T>(xs: readonly T[]): T => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return xs[seed % xs.length]!;
    };
    const parts = ['a', 'b', '-', '*', '?', '[ab]', '[!a]', '[a-b]', '{a,b}', '{a,}', '{a*,b-}', '{a,{b,-}}'] as const;
    let compared = 0;
    for (let g = 0; g < 400; g++) {
      const pattern = Array.from({ length: 1 + (g % 5) }, () => pick(parts)).join('');
      for (let n = 0; n < 20; n++) {
        const name = Array.from({ length: 1 + (n % 6) }, () => pick(['a', 'b', '-'])).join('');
        expect([pattern, name, matchCounted(pattern, name)]).toEqual([pattern, name, posix.matchesGlob(name, pattern)]);
        compared++;
      }
    }
    expect(compared).toBe(8000);
  });

  it('an empty name matches nothing', () => {
    expect(globMatches('*', '')).toBe(false);
  });
});

describe('globs: patterns that backtrack in matchesGlob run in bounded steps', () => {
  const long = 'a'.repeat(128);
  it.each([
    ['*a*a*a*a*ab', long, false],
    ['*a'.repeat(10), long, true],
    ['*a'.repeat(10), 'a'.repeat(127) + 'b', false],
    ['*a'.repeat(60) + 'b', long, false],
    ['*a'.repeat(127) + '*', long, true],
    ['?*'.repeat(128), long, true],
    ['*' + 'a'.repeat(64) + 'b*', long, false],
    // brace expansion would make 2^50 globs of these
    ['{a,b}'.repeat(50), 'a'.repeat(50), true],
    ['{a,b}'.repeat(50), 'a'.repeat(49) + 'c', false],
    ['{*a,*c}'.repeat(35) + 'b', long, false],
    ['{*a,*c}'.repeat(35), long, true],
    // nested 60 deep
    ['{a,'.repeat(60) + 'b' + '}'.repeat(60), long, false],
    ['{a,'.repeat(60) + 'b' + '}'.repeat(60), 'b', true],
    ['{*a,'.repeat(50) + '*b' + '}'.repeat(50), long, true],
  ])('%s against %s: %s', (pattern, name, expected) => {
    expect(pattern.length).toBeLessThanOrEqual(MAX_GLOB_LENGTH);
    expect(matchCounted(pattern, name)).toBe(expected);
  });

  it('a glob that has seen names like one takes one step a character', () => {
    const glob = compileGlob('*a'.repeat(60) + 'b', 'name');
    const first = { steps: 0 };
    expect(glob.matches('a'.repeat(128), first)).toBe(false);
    expect(first.steps).toBeGreaterThan(128);
    for (const name of ['a'.repeat(128), 'a'.repeat(100)]) {
      const again = { steps: 0 };
      expect(glob.matches(name, again)).toBe(false);
      expect(again.steps).toBe(name.length + 1);
    }
  });

  it('a glob whose steps outgrow what it keeps still answers within its bound', () => {
    // names of a and b whose last 13 letters differ lead to states of their own: more than a glob keeps
    const glob = compileGlob('*a' + '?'.repeat(12), 'name');
    let seed = 7;
    for (let n = 0; n < 3000; n++) {
      const name = Array.from({ length: 40 }, () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) & 0x10000 ? 'a' : 'b')).join('');
      const meter = { steps: 0 };
      expect(glob.matches(name, meter)).toBe(name.at(-13) === 'a');
      expect(meter.steps).toBeLessThanOrEqual((name.length + 1) * glob.size);
    }
  });
});

describe('globs: refused where they enter, naming the field', () => {
  it.each([
    ['', 'name: expected a glob of names, e.g. fraud-*'],
    ['fraud.*', `name: "fraud.*" is not a valid glob: "." at 6 is not allowed (a glob takes letters, digits, '_', '-', and * ? [...] [!...] {a,b})`],
    ['a/b', 'name: "a/b" is not a valid glob: "/" at 2 is not allowed'],
    ['!churn', 'name: "!churn" is not a valid glob: "!" at 1 is not allowed'],
    ['\\*', 'name: "\\\\*" is not a valid glob: "\\\\" at 1 is not allowed'],
    ['@(a|b)', 'name: "@(a|b)" is not a valid glob: "@" at 1 is not allowed'],
    ['*(a)', 'name: "*(a)" is not a valid glob: "(" at 2 is not allowed'],
    ['ep-{1..3}', 'name: "ep-{1..3}" is not a valid glob: "." at 6 is not allowed'],
    ['ep-[0-9', `name: "ep-[0-9" is not a valid glob: '[' at 4 is never closed`],
    ['ep-[]', `name: "ep-[]" is not a valid glob: '[' at 4 opens an empty set`],
    ['ep-[!]', `name: "ep-[!]" is not a valid glob: '[' at 4 opens an empty set`],
    ['[z-a]', 'name: "[z-a]" is not a valid glob: the range z-a at 2 is reversed'],
    ['[[:digit:]]', `name: "[[:digit:]]" is not a valid glob: "[" at 2 is not allowed in a set`],
    ['ep]', `name: "ep]" is not a valid glob: ']' at 3 closes no '['`],
    ['{a,b', `name: "{a,b" is not a valid glob: '{' at 1 is never closed`],
    ['{a}', `name: "{a}" is not a valid glob: '{' at 1 has one alternative: separate two or more with ','`],
    ['a,b', 'name: "a,b" is not a valid glob: "," at 2 is outside a {a,b} group'],
    ['a}', 'name: "a}" is not a valid glob: "}" at 2 is outside a {a,b} group'],
    ['x'.repeat(MAX_GLOB_LENGTH + 1), 'name: a glob is at most 256 characters, this one has 257'],
  ])('%j', (pattern, message) => {
    expect(() => compileGlob(pattern, 'name')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(message) }));
    expect(`name: ${globProblem(pattern)}`).toContain(message);
    // stored before patterns were checked: it matches nothing
    expect(globMatches(pattern, 'a')).toBe(false);
    expect(globMatcher(pattern)('a')).toBe(false);
  });

  it('takes a glob of the longest length', () => {
    expect(globProblem('*'.repeat(MAX_GLOB_LENGTH))).toBeUndefined();
    expect(() => compileGlob(42, 'endpoints')).toThrow('endpoints: expected a glob of names, e.g. fraud-*');
  });
});
