import { describe, expect, it } from 'vitest';
import type { Alert } from '../src/alerts/contract.js';
import { Repeats, type RepeatContext } from '../src/alerts/repeat.js';
import { compileRule } from '../src/alerts/rules.js';

const rule = compileRule({ name: 'r', when: { runnersBelow: 1 }, repeatInterval: '1m', source: 'api', createdAt: 0 });
const alert = (state: Alert['state'] = 'firing'): Alert => ({
  id: 'a1',
  rule: 'r',
  severity: 'medium',
  state,
  summary: 's',
  windows: [],
  labels: {},
  startsAt: 0,
});

function context(open: Alert[], muted = false): RepeatContext & { keys: string[] } {
  const keys: string[] = [];
  return {
    keys,
    open: () => open,
    rule: (name) => (name === 'r' ? rule : undefined),
    silenced: () => muted,
    notify: (kind, a, _rule, _at, n) => {
      keys.push(`${a.id}:${kind}:${n}`);
      return Promise.resolve();
    },
  };
}

describe('repeat notifications', () => {
  it('one per interval, numbered from the alert start, never twice; a new evaluator starts from the current number', async () => {
    const ctx = context([alert()]);
    const r = new Repeats();
    await r.check(ctx, 10_000); // first sight: no repeat
    await r.check(ctx, 59_000);
    await r.check(ctx, 60_000);
    await r.check(ctx, 61_000);
    await r.check(ctx, 180_500); // two intervals missed: one repeat, the current number
    expect(ctx.keys).toEqual(['a1:repeat:1', 'a1:repeat:3']);
    const restarted = new Repeats();
    const after = context([alert()]);
    await restarted.check(after, 190_000);
    await restarted.check(after, 200_000);
    expect(after.keys).toEqual([]);
    await restarted.check(after, 240_000);
    expect(after.keys).toEqual(['a1:repeat:4']);
  });

  it('not for an acknowledged or silenced alert', async () => {
    const acked = context([alert('acknowledged')]);
    const r = new Repeats();
    await r.check(acked, 0);
    await r.check(acked, 120_000);
    expect(acked.keys).toEqual([]);
    const muted = context([alert()], true);
    const m = new Repeats();
    await m.check(muted, 0);
    await m.check(muted, 120_000);
    expect(muted.keys).toEqual([]);
  });
});
