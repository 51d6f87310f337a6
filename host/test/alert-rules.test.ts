import { describe, expect, it } from 'vitest';
import { newSeries, step, type Observation } from '../src/alerts/evaluate.js';
import { RuleSet } from '../src/alerts/evaluator.js';
import { compileRule, parseRuleFile, validateRule, type AlertRule } from '../src/alerts/rules.js';

const compiled = (rule: Omit<AlertRule, 'name'>) => compileRule({ name: 'r', ...rule, source: 'api', createdAt: 0 });
const MIN = 60_000;
const obs = (w: number, breach: boolean): Observation => ({ windowStart: w * MIN, windowEnd: (w + 1) * MIN, breach });

/** Run a series through windows of breaches (1) and normal windows (0): the transitions, by window. */
function run(rule: ReturnType<typeof compiled>, pattern: string, opts: { silencedAt?: Set<number> } = {}): string {
  const s = newSeries();
  return [...pattern]
    .map((c, w) => {
      const t = step(rule, s, obs(w, c === '1'), opts.silencedAt?.has(w) ?? false, true);
      if (t === 'fire') s.alertId = `a${w}`;
      if (t === 'resolve') {
        s.alertId = undefined;
        s.resolvedAt = (w + 1) * MIN;
      }
      return t === 'fire' ? 'F' : t === 'resolve' ? 'R' : '.';
    })
    .join('');
}

describe('alert rules: when a series fires and resolves', () => {
  it('N consecutive windows fire once per episode; K normal windows resolve', () => {
    const r = compiled({ when: { status: 'detected' }, for: { consecutive: 2 }, reset: { auto: 2 } });
    expect(run(r, '1110011011')).toBe('.F..R.F...');
  });

  it('M of the last K windows', () => {
    const r = compiled({ when: { above: 1 }, for: { last: 4, atLeast: 3 } });
    expect(run(r, '1010100111')).toBe('.........F');
    expect(run(r, '1101')).toBe('...F');
  });

  it('manual reset never resolves by itself; a cooldown holds a new firing back', () => {
    expect(run(compiled({ when: { below: 0 }, reset: 'manual' }), '100001')).toBe('F.....');
    expect(run(compiled({ when: { below: 0 }, cooldown: '3m' }), '101001')).toBe('FR...F');
    expect(run(compiled({ when: { below: 0 } }), '101001')).toBe('FRFR.F');
  });

  it('a silenced window does not fire; the series still counts it', () => {
    const r = compiled({ when: { status: 'potential' }, for: { consecutive: 2 } });
    expect(run(r, '1111', { silencedAt: new Set([1, 2]) })).toBe('...F');
  });

  it('silences match a rule, an endpoint glob, both, until their end', () => {
    const set = new RuleSet();
    set.silences = [{ id: 's', rule: 'drift', endpoint: 'churn-*', endsAt: 1000, createdAt: 0 }];
    expect(set.silenced('drift', 'churn-eu', 999)).toBe(true);
    expect(set.silenced('drift', 'churn-eu', 1000)).toBe(false);
    expect(set.silenced('other', 'churn-eu', 0)).toBe(false);
    expect(set.silenced('drift', 'fraud', 0)).toBe(false);
  });

  it('globs that backtracked in matchesGlob answer: silences, endpoints and results', () => {
    const long = 'a'.repeat(128);
    const set = new RuleSet();
    set.silences = [{ id: 's', endpoint: '*a'.repeat(60) + 'b', endsAt: 1000, createdAt: 0 }];
    expect(set.silenced('drift', long, 0)).toBe(false);
    const r = compiled({ endpoints: { glob: '*a'.repeat(10) + 'b' }, results: { app: '*a*a*a*a*ab', name: '*a'.repeat(10) }, when: { status: 'detected' } });
    expect(r.matchesEndpoint(long, undefined)).toBe(false);
    expect(r.matchesApp(long)).toBe(false);
    expect(r.matchesResult(`${long}b`, long, 0)).toBe(true);
  });

  it('endpoints by names, glob and selector; results by app, name glob and kind', () => {
    const r = compiled({
      endpoints: { glob: 'churn-*', selector: 'team=risk' },
      results: { app: 'hist*', name: 'general_*', kind: 'data_drift' },
      when: { status: 'detected' },
    });
    expect(r.matchesEndpoint('churn-eu', { team: 'risk' })).toBe(true);
    expect(r.matchesEndpoint('churn-eu', { team: 'ops' })).toBe(false);
    expect(r.matchesEndpoint('fraud', { team: 'risk' })).toBe(false);
    expect(r.matchesResult('histogram-data-drift', 'general_drift', 0)).toBe(true);
    expect(r.matchesResult('histogram-data-drift', 'general_drift', 1)).toBe(false);
    expect(r.matchesResult('other', 'general_drift', 0)).toBe(false);
  });
});

describe('alert rules: checked, with the line and the reason', () => {
  it.each([
    ['rules:\n  - name: a\n    when: { status: detected }\n    for: { last: 2, atLeast: 3 }\n', 'f.yaml:2: rules.0: for: atLeast (3) is more than last (2)'],
    ['rules:\n  - name: a\n    when: { status: detected }\n  - name: a\n    when: { above: 1 }\n', "f.yaml:4: rules.1: rule 'a' is declared twice"],
    [
      'rules:\n  - name: a\n    when: { status: detected, above: 1 }\n',
      'f.yaml:3: rules.0.when: when must give exactly one of status, above, below, event, noDataFor, deadLetterRate, runnersBelow',
    ],
    ['rules:\n  - name: a\n    when: { status: detected }\n    endpoints: { selector: "team in (a" }\n', 'f.yaml:2: rules.0:'],
    ['rules:\n  - name: a\n    when: [status\n', 'f.yaml:4: Flow sequence'],
    ['rules:\n  - name: a\n    colour: red\n    when: { above: 1 }\n', 'f.yaml:2: rules.0: a rule takes name, description'],
    ['{ "rules": [ { "name": "a b", "when": { "above": 1 } } ] }', 'f.yaml:1: rules.0.name: rule name must be'],
  ])('%j', (text, message) => {
    expect(() => parseRuleFile(text, 'f.yaml')).toThrow(message);
  });

  it.each([
    [{ name: 'a', when: { deadLetterRate: { over: '1m' } } }, 'when.deadLetterRate: deadLetterRate must be { above: N'],
    [{ name: 'a', when: { deadLetterRate: { above: -1 } } }, 'when.deadLetterRate: deadLetterRate must be { above: N'],
    [{ name: 'a', when: { deadLetterRate: { above: 1, over: '500ms' } } }, 'when.deadLetterRate.over: must be at least 1s'],
    [{ name: 'a', when: { runnersBelow: 0 } }, 'when.runnersBelow: runnersBelow must be a whole number from 1 to 10000'],
    [{ name: 'a', when: { runnersBelow: 2, event: 'tsdb_failing' } }, 'when: when must give exactly one of'],
    [{ name: 'a', when: { event: 'writer_failing' }, repeatInterval: 'often' }, 'repeatInterval: repeatInterval must be a duration such as 4h'],
    [{ name: 'a', when: { event: 'writer_failing' }, repeatInterval: '10ms' }, 'repeatInterval: must be at least 1s'],
  ])('system rules and repeats: %j is refused', (rule, message) => {
    expect(() => validateRule(rule)).toThrow(message);
  });

  it.each([
    [{ endpoints: { glob: 'churn.*' } }, 'endpoints.glob: "churn.*" is not a valid glob: "." at 6 is not allowed'],
    [{ results: { app: 'hist[' } }, `results.app: "hist[" is not a valid glob: '[' at 5 is never closed`],
    [{ results: { name: '@(a|b)' } }, 'results.name: "@(a|b)" is not a valid glob: "@" at 1 is not allowed'],
  ])('globs: %j is refused, naming the field', (part, message) => {
    expect(() => validateRule({ name: 'a', when: { status: 'detected' }, ...part })).toThrow(message);
    const file = JSON.stringify({ rules: [{ name: 'a', when: { status: 'detected' }, ...part }] }, null, 1);
    expect(() => parseRuleFile(file, 'f.json')).toThrow(`f.json:3: rules.0: ${message}`);
  });

  it('system rules compile to timed conditions', () => {
    const rec = (when: object, extra: object = {}) => compileRule({ name: 'a', when, ...extra, source: 'api', createdAt: 0 } as never);
    expect(rec({ deadLetterRate: { above: 5, over: '5m' } })).toMatchObject({ condition: 'dead_letter_rate', threshold: 5, overMs: 300_000 });
    expect(rec({ deadLetterRate: { above: 5 } })).toMatchObject({ overMs: 60_000 });
    expect(rec({ runnersBelow: 3 })).toMatchObject({ condition: 'runners_below', threshold: 3 });
    expect(rec({ event: 'tsdb_failing' }, { repeatInterval: '4h' })).toMatchObject({ condition: 'tsdb_failing', repeatMs: 4 * 3_600_000 });
    expect(rec({ event: 'writer_failing' })).toMatchObject({ condition: 'writer_failing', repeatMs: 0 });
  });

  it('a good file, and a rule of the API', () => {
    expect(parseRuleFile('rules:\n  - name: a\n    when: { noDataFor: 1h }\n', 'f.yaml')).toEqual([{ name: 'a', when: { noDataFor: '1h' } }]);
    expect(() => validateRule({ name: 'a', when: { event: 'exploded' } })).toThrow(
      'when.event: event must be one of window_failed, plugin_quarantined, writer_failing, tsdb_failing',
    );
  });
});
