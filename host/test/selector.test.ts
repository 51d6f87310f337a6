import { describe, expect, it } from 'vitest';
import { checkTags, matchesSelector, parseSelector, parseTagAssignments } from '../src/domain/selector.js';
import { ModelwatchError } from '../src/errors.js';

const tags = { team: 'fraud', env: 'prod', tier: 'gold' };
const picks = (s: string, t: Record<string, string> | undefined = tags) => matchesSelector(parseSelector(s), t);
const picksUntagged = (s: string) => matchesSelector(parseSelector(s), undefined);

describe('parseSelector', () => {
  it('reads every requirement of the Kubernetes syntax', () => {
    expect(parseSelector('team=fraud, env!=dev,tier in (gold, silver),zone notin (eu),owner,!legacy, a==b').requirements).toEqual([
      { key: 'team', op: 'in', values: ['fraud'] },
      { key: 'env', op: 'notin', values: ['dev'] },
      { key: 'tier', op: 'in', values: ['gold', 'silver'] },
      { key: 'zone', op: 'notin', values: ['eu'] },
      { key: 'owner', op: 'exists' },
      { key: 'legacy', op: 'absent' },
      { key: 'a', op: 'in', values: ['b'] },
    ]);
  });

  it('an empty selector selects everything', () => {
    expect(picks('')).toBe(true);
    expect(picksUntagged('  ')).toBe(true);
  });

  it.each([
    ['team=fraud', true],
    ['team=risk', false],
    ['team!=risk', true],
    ['missing!=x', true],
    ['env in (prod,staging)', true],
    ['env in (staging)', false],
    ['env notin (prod)', false],
    ['missing notin (prod)', true],
    ['missing in (prod)', false],
    ['team', true],
    ['!team', false],
    ['!missing', true],
    ['team=fraud,env in (prod,staging),!legacy', true],
    ['team=fraud,env=dev', false],
    ['example.com/owner=x', false],
  ])('%s selects {team: fraud, env: prod, tier: gold}: %s', (s, yes) => {
    expect(picks(s)).toBe(yes);
  });

  it('an endpoint without tags matches only absences and inequalities', () => {
    expect(picksUntagged('team=fraud')).toBe(false);
    expect(picksUntagged('team!=fraud,!team')).toBe(true);
  });

  it.each([
    ['team=fraud,,env=prod', 'an empty requirement'],
    ['team=fraud,', 'an empty requirement'],
    ['=fraud', 'a requirement has no key'],
    ['env in (prod', "'(' is never closed"],
    ['env in prod)', "')' without its '('"],
    ['env in ((a))', 'sets do not nest'],
    ['env in ()', "the set of 'env in' is empty"],
    ['env in (a b)', "'a b' (of 'env') is not a valid tag value"],
    ['env in prod', "write a set as 'key in (a,b)'"],
    ['env=a=b', 'one operator per requirement'],
    ['-team=fraud', "'-team' is not a valid tag key"],
    ['team=fr aud', "'fr aud' (of 'team') is not a valid tag value"],
    ['team fraud', "expected 'key', '!key', 'key=value'"],
    ['env=' + 'x'.repeat(64), 'is not a valid tag value'],
  ])('refuses %j, naming the problem', (s, problem) => {
    let err: unknown;
    try {
      parseSelector(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelwatchError);
    expect((err as ModelwatchError).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toContain(`selector '${s}'`);
    expect((err as Error).message).toContain(problem);
  });
});

describe('tags', () => {
  it('reads key=value items and checks keys and values', () => {
    expect(parseTagAssignments(['team=fraud', 'env = prod', 'empty='])).toEqual({ team: 'fraud', env: 'prod', empty: '' });
    expect(() => parseTagAssignments(['team'])).toThrow("tag 'team': expected key=value");
    expect(() => checkTags({ 'bad key': 'x' })).toThrow("'bad key' is not a valid tag key");
    expect(() => checkTags({ team: 3 })).toThrow("the value of 'team' (3) is not a valid tag value");
    expect(() => checkTags(['a'])).toThrow('expected an object');
  });
});
